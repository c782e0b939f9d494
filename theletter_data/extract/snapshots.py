"""One app table extracted into a day's snapshot in the lake, incrementally.

A run for day D, inside one consistent snapshot of the database (app_database.py):
1. reads the rows changed since the cursor of the snapshot it builds on (`updated_at`, then the
   key as tie-breaker), in batches ordered by that pair (keyset pagination: each batch is an
   index range read), saving each batch and the cursor after it in the run's work folder;
2. reads every key of the table, in batches: a key that is gone was deleted;
3. writes D's snapshot where the table's raw source declares it (raw/sources.py:
   `appdb/<table>/dt=D/part-00000.parquet`, the nightly export's layout): the base snapshot
   less the deleted keys, the changed rows replacing or adding theirs;
4. records D's cursor and removes the work folder.

The base is the newest earlier snapshot this extraction wrote (its cursor is recorded in
`appdb/_extract/<table>/state.json`, the lake area `EXTRACTION_WORK`); with none, or
`full_refresh`, every row is read. A run that dies during step 1 resumes from its last saved
batch: rows changed in between carry a later `updated_at` and are read later (no gap), and a row
read twice keeps its newest version (no duplicate). Rows committed with an `updated_at` older
than the cursor (a long transaction) are caught by starting each run LOOKBACK before the cursor.
Re-running D gives D's snapshot again from the same base.
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from theletter_data.extract.app_database import AppDatabase
from theletter_data.raw.sources import EXTRACTION_WORK, app_snapshots
from theletter_data.resources.lake import Lake

LOOKBACK = timedelta(minutes=10)
_TIMESTAMP = pa.timestamp("ms", tz="UTC")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class SourceTable:
    """An app table and the columns of its export, with their Arrow types."""

    name: str
    """The table's name in the lake's layout (`appdb/<name>/`): a source's `app_table`."""
    key: str
    schema: pa.Schema
    cursor: str = "updated_at"
    source: str | None = None
    """Its name in the database when it differs."""

    @property
    def source_name(self) -> str:
        return self.source or self.name

    @property
    def columns(self) -> list[str]:
        return self.schema.names


def _schema(*columns: tuple[str, pa.DataType]) -> pa.Schema:
    return pa.schema(list(columns))


S, T, B = pa.string(), _TIMESTAMP, pa.bool_()  # the exports' three column types
SOURCE_TABLES = {
    t.name: t
    for t in (
        SourceTable("newsletters", "newsletter_id", _schema(
            ("newsletter_id", S), ("slug", S), ("name", S), ("category", S), ("author_id", S),
            ("created_at", T), ("updated_at", T),
        )),
        SourceTable("posts", "post_id", _schema(
            ("post_id", S), ("newsletter_id", S), ("title", S), ("status", S),
            ("published_at", T), ("emailed", B), ("created_at", T), ("updated_at", T),
        )),
        SourceTable("subscriptions", "subscription_id", _schema(
            ("subscription_id", S), ("newsletter_id", S), ("reader_id", S), ("email", S),
            ("plan", S), ("subscribed_at", T), ("unsubscribed_at", T), ("updated_at", T),
            ("signup_source", S), ("signup_post_id", S), ("signup_referrer", S),
        )),
    )
}  # fmt: skip


@dataclass
class Extracted:
    table: str
    day: date
    base_day: date | None
    changed_rows: int = 0
    deleted_rows: int = 0
    snapshot_rows: int = 0
    batches: int = 0
    resumed_after_batches: int = 0


def extract_snapshot(
    database: AppDatabase, lake: Lake, table: SourceTable, day: date, *, full_refresh: bool = False
) -> Extracted:
    state = _read_json(lake, _state_key(table)) or {"snapshots": {}}
    base_day = None if full_refresh else _base_day(state, day)
    base_cursor = _cursor(state["snapshots"][base_day.isoformat()]) if base_day else None
    snapshots = app_snapshots(table.name)
    work = f"{EXTRACTION_WORK.prefix}/{table.name}/dt={day.isoformat()}/"
    progress = _read_json(lake, work + "progress.json")
    plan = {"base_day": base_day.isoformat() if base_day else None, "full": full_refresh}
    if not progress or progress["plan"] != plan:
        for obj in lake.list(work):
            lake.delete(obj.key)
        start = (base_cursor[0] - LOOKBACK, "") if base_cursor else (_EPOCH, "")
        progress = {"plan": plan, "batches": 0, "next": _cursor_json(start), "newest": None}
    result = Extracted(table.name, day, base_day, resumed_after_batches=progress["batches"])

    with database.snapshot() as cursor:
        after = _cursor(progress["next"])
        while True:
            rows = _changed(cursor, table, after, database.batch_rows)
            if not rows:
                break
            batch = pa.Table.from_pylist([_typed(table, r) for r in rows], schema=table.schema)
            progress["batches"] += 1
            _write_parquet(lake, f"{work}changes-{progress['batches']:05d}.parquet", batch)
            last = rows[-1]
            after = (_utc(last[table.cursor]), last[table.key])
            progress["next"] = _cursor_json(after)
            newest = _cursor(progress["newest"]) if progress["newest"] else None
            progress["newest"] = _cursor_json(max(after, newest) if newest else after)
            lake.write_bytes(work + "progress.json", json.dumps(progress).encode())
            if len(rows) < database.batch_rows:
                break
        keys = _all_keys(cursor, table, database.batch_rows)

    changes = [o.key for o in lake.list(work) if o.key.endswith(".parquet")]
    base = snapshots.listing_folder(base_day) if base_day else None
    snapshot, result.changed_rows, result.deleted_rows = _merge(lake, table, base, changes, keys)
    _write_parquet(lake, snapshots.snapshot_key(day), snapshot)
    result.snapshot_rows = snapshot.num_rows
    result.batches = progress["batches"]

    newest = progress["newest"] or (_cursor_json(base_cursor) if base_cursor else None)
    state["snapshots"][day.isoformat()] = newest or _cursor_json((_EPOCH, ""))
    lake.write_bytes(_state_key(table), json.dumps(state, sort_keys=True, indent=1).encode())
    for obj in lake.list(work):
        lake.delete(obj.key)
    return result


def _changed(cursor: Any, table: SourceTable, after: tuple[datetime, str], limit: int) -> list:
    columns = ", ".join(f"`{c}`" for c in table.columns)
    moment, key = after
    cursor.execute(
        f"SELECT {columns} FROM `{table.source_name}` "
        f"WHERE `{table.cursor}` > %s OR (`{table.cursor}` = %s AND `{table.key}` > %s) "
        f"ORDER BY `{table.cursor}`, `{table.key}` LIMIT %s",
        (_naive(moment), _naive(moment), key, limit),
    )
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def _all_keys(cursor: Any, table: SourceTable, limit: int) -> list[str]:
    keys: list[str] = []
    while True:
        cursor.execute(
            f"SELECT `{table.key}` FROM `{table.source_name}` WHERE `{table.key}` > %s "
            f"ORDER BY `{table.key}` LIMIT %s",
            (keys[-1] if keys else "", limit),
        )
        batch = [row[0] for row in cursor.fetchall()]
        keys += batch
        if len(batch) < limit:
            return keys


def _merge(
    lake: Lake, table: SourceTable, base: str | None, changes: list[str], keys: list[str]
) -> tuple[pa.Table, int, int]:
    """The base snapshot less deleted keys, changed rows (their newest version) replacing."""
    con = duckdb.connect()
    con.register("live_keys", pa.table({"k": pa.array(keys, pa.string())}))
    empty = table.schema.empty_table()
    previous = _read_parquet(lake, base, table) if base else empty
    changed = pa.concat_tables([_read_parquet(lake, k, table) for k in changes] or [empty])
    con.register("previous", previous)
    con.register("changed", changed)
    k, columns = table.key, ", ".join(f'"{c}"' for c in table.columns)
    newest = (
        f"SELECT {columns} FROM changed QUALIFY row_number() OVER "
        f'(PARTITION BY "{k}" ORDER BY "{table.cursor}" DESC) = 1'
    )
    merged = con.sql(
        f"WITH newest AS ({newest}) "
        f'SELECT {columns} FROM previous WHERE "{k}" NOT IN (SELECT "{k}" FROM newest) '
        f"UNION ALL SELECT {columns} FROM newest"
    ).to_arrow_table()
    con.register("merged", merged)
    snapshot = con.sql(
        f'SELECT {columns} FROM merged WHERE "{k}" IN (SELECT k FROM live_keys) ORDER BY "{k}"'
    ).to_arrow_table()
    deleted = merged.num_rows - snapshot.num_rows
    return snapshot.cast(table.schema), changed.num_rows, deleted


def _read_parquet(lake: Lake, key_or_prefix: str, table: SourceTable) -> pa.Table:
    keys = (
        [o.key for o in lake.list(key_or_prefix) if o.key.endswith(".parquet")]
        if key_or_prefix.endswith("/")
        else [key_or_prefix]
    )
    parts = [pq.read_table(io.BytesIO(lake.read_bytes(k))) for k in keys]
    return pa.concat_tables(
        [p.select(table.columns).cast(table.schema) for p in parts] or [table.schema.empty_table()]
    )


def _write_parquet(lake: Lake, key: str, rows: pa.Table) -> None:
    with lake.open_output(key) as out:
        pq.write_table(rows, out, compression="zstd")


def _typed(table: SourceTable, row: dict[str, Any]) -> dict[str, Any]:
    typed = {}
    for field in table.schema:
        value = row[field.name]
        if field.type == _TIMESTAMP and value is not None:
            value = _utc(value)
        elif field.type == pa.bool_() and value is not None:
            value = bool(value)
        typed[field.name] = value
    return typed


def _base_day(state: dict[str, Any], day: date) -> date | None:
    earlier = [date.fromisoformat(d) for d in state["snapshots"] if date.fromisoformat(d) < day]
    return max(earlier) if earlier else None


def _state_key(table: SourceTable) -> str:
    return f"{EXTRACTION_WORK.prefix}/{table.name}/state.json"


def _read_json(lake: Lake, key: str) -> Any:
    return json.loads(lake.read_bytes(key)) if lake.exists(key) else None


def _utc(value: datetime) -> datetime:
    """DATETIME columns hold UTC without a zone (the app writes UTC)."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _naive(value: datetime) -> datetime:
    return value.astimezone(UTC).replace(tzinfo=None)


def _cursor(saved: list[str]) -> tuple[datetime, str]:
    return datetime.fromisoformat(saved[0]), saved[1]


def _cursor_json(cursor: tuple[datetime, str]) -> list[str]:
    return [cursor[0].isoformat(), cursor[1]]
