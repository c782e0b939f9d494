"""An export staged as changes (stg_subscriptions), in the manner of an SCD2 table: the
partition of day D holds only the rows of D's snapshot that are new or differ in a staged value
from the previous snapshot's, and a `deleted` row for each key the previous snapshot had and D's
lacks. A version is valid from its `valid_from` to the key's next row (exclusive); a `deleted`
row ends the interval and opens none. Reading "as of day D" (the metrics' one definition,
metrics/sql/shared/subscriptions_as_of.sql) gives exactly the rows the whole snapshot of D
would have staged.

Why re-runs and backfills give the same table: D's changes are derived from two snapshots
both re-read from the raw lake, the previous export (normally D-1) and D, each projected,
judged and deduplicated by the very rules that stage a whole snapshot; the table itself is
never read. Every partition is therefore a function of the lake alone: re-running a day
rewrites the same rows, and a backfill (consecutive days in one engine session, where the
snapshot projected for D serves as D+1's previous one) equals staging the days one by one in
any order. One dependency remains: D+1's changes are relative to D, so when D's export was
re-delivered with other rows, the staging of D also re-derives the changes of the next export
day if that day is already staged (`snapshot_asset.app_export_asset`), and the table again equals
a fresh staging of every day (test_staging_subscription_changes.py).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import date
from typing import TYPE_CHECKING

import duckdb
import pyarrow as pa

from theletter_data.resources.ingest_engine import IngestEngine
from theletter_data.resources.lake import Lake
from theletter_data.resources.pseudonymizer import Pseudonymizer
from theletter_data.staging.export_snapshot import ExportSnapshot
from theletter_data.staging.known_newsletters import known_newsletters
from theletter_data.staging.snapshot_projection import (
    carried_columns,
    first_copies_sql,
    project,
)
from theletter_data.tables import Table

if TYPE_CHECKING:
    from theletter_data.staging.snapshot_staging import AppExport

CHANGES = ("new", "changed", "deleted")
CHANGE_COLUMN = "change"


def keep_version(con: duckdb.DuckDBPyConnection, into: str, select_first_copies: str) -> None:
    """Keep one projected snapshot's first copies (one row per key) as the engine table `into`."""
    con.execute(f"DROP TABLE IF EXISTS {into}")
    con.execute(f"CREATE TEMP TABLE {into} AS {select_first_copies}")


def count_changes(con: duckdb.DuckDBPyConnection, table: Table) -> dict[str, int]:
    """How `current` differs from `before`: unchanged, new, changed and deleted keys. The keys
    that are not unchanged are kept, with their change, as the engine table `changes` (one
    comparison of the two snapshots serves the counts and `change_rows`)."""
    key = table.key[1]
    con.execute("DROP TABLE IF EXISTS changes")
    con.execute(
        f"""
        CREATE TEMP TABLE changes AS
        SELECT coalesce(c.{key}, b.{key}) AS {key},
            CASE WHEN b.{key} IS NULL THEN 'new' WHEN c.{key} IS NULL THEN 'deleted'
                ELSE 'changed' END AS {CHANGE_COLUMN}
        FROM current AS c FULL OUTER JOIN before AS b ON b.{key} = c.{key}
        WHERE b.{key} IS NULL OR c.{key} IS NULL OR {_differs(carried_columns(table))}
        """
    )
    found = dict(
        con.execute(f"SELECT {CHANGE_COLUMN}, COUNT(*) FROM changes GROUP BY ALL").fetchall()
    )
    counts = {change: int(found.get(change, 0)) for change in CHANGES}
    (in_current,) = con.execute("SELECT COUNT(*) FROM current").fetchall()[0]
    return {"unchanged": int(in_current) - counts["new"] - counts["changed"], **counts}


def change_rows(
    con: duckdb.DuckDBPyConnection, table: Table, day: date
) -> Iterator[pa.RecordBatch]:
    """The day's rows of the table (after `count_changes`): the new and changed versions of
    `current`, and the last version of every key of `before` that `current` lacks, marked
    deleted."""
    key = table.key[1]
    cols = ", ".join(carried_columns(table))
    yield from con.sql(
        f"""
        SELECT CAST($day AS DATE) AS {table.partition_by}, {cols}, {CHANGE_COLUMN}
        FROM current JOIN changes USING ({key})
        UNION ALL
        SELECT CAST($day AS DATE) AS {table.partition_by}, {cols}, 'deleted' AS {CHANGE_COLUMN}
        FROM before SEMI JOIN (SELECT {key} FROM changes WHERE {CHANGE_COLUMN} = 'deleted')
            USING ({key})
        """,
        params={"day": day},
    ).to_arrow_reader()


def _differs(columns: Sequence[str]) -> str:
    """A staged value differs between `c` and `b` (NULL equals NULL)."""
    return " OR ".join(f"c.{c} IS DISTINCT FROM b.{c}" for c in columns)


def previous_versions(
    con: duckdb.DuckDBPyConnection,
    export: AppExport,
    previous: ExportSnapshot | None,
    kept: date | None,
    lake: Lake,
    engine: IngestEngine,
    pseudonymizer: Pseudonymizer,
) -> None:
    """The previous snapshot's versions as the engine table `before`, staged by the rules that
    staged it (its own day's newsletters and end): kept from the session's previous day when
    that is it, else projected from the lake; before the first export, an empty one is made
    beside `current`."""
    if previous is not None and previous.day == kept:
        con.execute("DROP TABLE IF EXISTS before")
        con.execute("ALTER TABLE current RENAME TO before")
        return
    con.execute("DROP TABLE IF EXISTS before")
    if previous is None:
        return  # the staging loop makes an empty `before` beside `current`
    known = known_newsletters(lake, previous.day, engine)
    project(con, export, previous, lake, known, pseudonymizer)
    keep_version(con, "before", first_copies_sql(export))
    con.execute("DROP TABLE projected")
