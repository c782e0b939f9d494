"""The ways of turning one day of SES gzip JSON lines into a table that the benchmark compares.

Each runs in its own process (`python -m theletter_data_dev.benchmark.contenders NAME LAKE DB TEMP`)
so that its peak RSS is its own, and prints `{"rows": ..., "seconds": ..., "cpu_seconds": ...}`:
the wall and CPU time (all threads) of the work alone, after imports. All write a DuckDB file, as
staging does.

- `staging`: the platform's own `stage_day`: every line typed and judged, recipients
  pseudonymised by HMAC, duplicates dropped, bad lines quarantined, the partition replaced.
- `bare_read_json`: DuckDB's `read_json` with an automatic schema into a table, nothing else.
- `typed_projection`: a hand-written `read_json` of the same fields with declared types, a
  hashed recipient and a dedupe, in the same engine: about the least any staging can do.
- `pandas`: `pandas.read_json(lines=True)` and `json_normalize` per object, then to DuckDB.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from pathlib import Path

import duckdb

from theletter_data.raw.sources import SES_EVENTS
from theletter_data.sql import duckdb_string
from theletter_data_dev.benchmark.lakes import DAY

BENCHMARK_KEY = "benchmark-pseudonym-key-not-a-secret"
ENGINE_MEMORY = "1GB"


def staging(lake_dir: str, db: str, temp: str) -> int:
    from theletter_data.resources.duckdb_warehouse import DuckDBWarehouse
    from theletter_data.resources.ingest_engine import IngestEngine
    from theletter_data.resources.lake import Lake
    from theletter_data.resources.pseudonymizer import Pseudonymizer
    from theletter_data.staging.email_events import EMAIL_EVENTS
    from theletter_data.staging.lines.stage import stage_day

    result = stage_day(
        EMAIL_EVENTS,
        DAY,
        lake=Lake(url=lake_dir),
        engine=IngestEngine(memory_limit=ENGINE_MEMORY, temp_directory=temp),
        pseudonymizer=Pseudonymizer(key=BENCHMARK_KEY),
        warehouse=DuckDBWarehouse(path=db),
    )
    assert result.reconciles, result
    return result.staged


def _files(lake_dir: str) -> str:
    paths = sorted(str(p) for p in (Path(lake_dir) / SES_EVENTS.prefix).rglob("*.gz"))
    return "[" + ", ".join(duckdb_string(p) for p in paths) + "]"


def _engine(db: str, temp: str) -> duckdb.DuckDBPyConnection:
    """The engine configured as staging configures its own (memory, spill, unordered sets)."""
    config = {"memory_limit": ENGINE_MEMORY, "temp_directory": temp}
    return duckdb.connect(db, config={**config, "preserve_insertion_order": False})


def bare_read_json(lake_dir: str, db: str, temp: str) -> int:
    con = _engine(db, temp)
    con.execute(
        "CREATE TABLE raw AS SELECT * FROM read_json("
        f"{_files(lake_dir)}, format = 'newline_delimited', ignore_errors = true)"
    )
    return int(con.execute("SELECT COUNT(*) FROM raw").fetchall()[0][0])


_TYPED = """
CREATE TABLE staged AS
WITH records AS (
    SELECT * FROM read_json({files}, format = 'newline_delimited', ignore_errors = true,
        columns = {{
            eventType: 'VARCHAR',
            mail: 'STRUCT(messageId VARCHAR, "timestamp" TIMESTAMPTZ, destination VARCHAR[],
                tags STRUCT(newsletter_id VARCHAR[], post_id VARCHAR[]))',
            delivery: 'STRUCT("timestamp" TIMESTAMPTZ, recipients VARCHAR[])',
            bounce: 'STRUCT("timestamp" TIMESTAMPTZ, bounceType VARCHAR, bounceSubType VARCHAR,
                bouncedRecipients STRUCT(emailAddress VARCHAR)[])',
            complaint: 'STRUCT("timestamp" TIMESTAMPTZ, complaintFeedbackType VARCHAR,
                complainedRecipients STRUCT(emailAddress VARCHAR)[])',
            open: 'STRUCT("timestamp" TIMESTAMPTZ, userAgent VARCHAR, ipAddress VARCHAR)',
            click: 'STRUCT("timestamp" TIMESTAMPTZ, link VARCHAR, userAgent VARCHAR)'
        }})
),
events AS (
    SELECT
        eventType AS event_type,
        mail.messageId AS message_id,
        mail."timestamp" AS sent_at,
        coalesce(delivery."timestamp", bounce."timestamp", complaint."timestamp",
            open."timestamp", click."timestamp", mail."timestamp") AS event_at,
        mail.tags.newsletter_id[1] AS newsletter_id,
        mail.tags.post_id[1] AS post_id,
        sha256(lower(unnest(coalesce(delivery.recipients,
            list_transform(bounce.bouncedRecipients, lambda r: r.emailAddress),
            list_transform(complaint.complainedRecipients, lambda r: r.emailAddress),
            mail.destination)))) AS recipient_hash,
        bounce.bounceType AS bounce_type,
        bounce.bounceSubType AS bounce_sub_type,
        complaint.complaintFeedbackType AS complaint_type,
        regexp_replace(click.link, '[?#].*$', '') AS link_url,
        coalesce(open.userAgent, click.userAgent) AS user_agent
    FROM records
)
SELECT * FROM events
QUALIFY row_number() OVER (
    PARTITION BY message_id, event_type, event_at, recipient_hash, link_url) = 1
"""


def typed_projection(lake_dir: str, db: str, temp: str) -> int:
    con = _engine(db, temp)
    con.execute(_TYPED.format(files=_files(lake_dir)))
    return int(con.execute("SELECT COUNT(*) FROM staged").fetchall()[0][0])


_PANDAS_COLUMNS = [
    "eventType", "mail.messageId", "mail.timestamp", "mail.destination", "mail.tags.newsletter_id",
    "mail.tags.post_id", "delivery.timestamp", "open.timestamp", "open.userAgent",
    "click.timestamp", "click.link", "bounce.bounceType", "complaint.complaintFeedbackType",
]  # fmt: skip


def pandas(lake_dir: str, db: str, temp: str) -> int:
    import pandas as pd

    frames = []
    for path in sorted((Path(lake_dir) / SES_EVENTS.prefix).rglob("*.gz")):
        records = pd.read_json(path, lines=True, compression="gzip", dtype=False)
        flat = pd.json_normalize(records.to_dict("records"))
        frames.append(flat.reindex(columns=_PANDAS_COLUMNS).astype("string"))
    day = pd.concat(frames, ignore_index=True).drop_duplicates()
    con = _engine(db, temp)
    con.register("day_frame", day)
    con.execute("CREATE TABLE staged AS SELECT * FROM day_frame")
    return int(con.execute("SELECT COUNT(*) FROM staged").fetchall()[0][0])


CONTENDERS: dict[str, Callable[[str, str, str], int]] = {
    "staging": staging,
    "bare_read_json": bare_read_json,
    "typed_projection": typed_projection,
    "pandas": pandas,
}


if __name__ == "__main__":
    name, lake_dir, db, temp = sys.argv[1:5]
    if name == "staging":  # its imports are not part of its time
        import theletter_data.staging.email_events  # noqa: F401
    started, cpu = time.perf_counter(), time.process_time()
    rows = CONTENDERS[name](lake_dir, db, temp)
    seconds = time.perf_counter() - started
    print(json.dumps({"rows": rows, "seconds": seconds, "cpu_seconds": time.process_time() - cpu}))
