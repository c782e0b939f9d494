"""Staging one app export snapshot: judge the export, read and type its rows, quarantine the bad
ones, keep one copy per key, replace the day's partition. The rules are those of
staging/app_exports.py, which declares the exports.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import ClassVar

import dagster as dg
import duckdb
import pyarrow as pa

from theletter_data.ids import ID_PATTERN
from theletter_data.partitions import day_bounds_utc
from theletter_data.raw.sources import appdb_export_prefix
from theletter_data.resources.ingest_engine import IngestEngine
from theletter_data.resources.lake import Lake
from theletter_data.resources.pseudonymizer import Pseudonymizer
from theletter_data.resources.warehouse import PartitionWrite, Warehouse
from theletter_data.sql import duckdb_params, duckdb_string, read_sql
from theletter_data.staging.export_snapshot import (
    ExportSnapshot,
    check_size,
    dropped_optional_columns,
    previous_snapshot,
    read_snapshot,
)
from theletter_data.staging.known_newsletters import KnownNewsletters, known_newsletters
from theletter_data.staging.lake_listing import listed_once
from theletter_data.staging.lines.planning import grouped
from theletter_data.staging.quarantine import QUARANTINE, masked_excerpt_sql
from theletter_data.staging.reconciliation import PartitionAccount
from theletter_data.staging.referrers import sql_params as referrer_params
from theletter_data.staging.streamed_write import WriteGuard, streamed
from theletter_data.tables import Table


@dataclass(frozen=True)
class AppExport:
    """How one exported app table becomes one staged snapshot table."""

    source_table: str
    table: Table
    required: tuple[str, ...]
    """Export columns without which the snapshot cannot be staged."""
    optional: tuple[str, ...]
    description: str

    @property
    def stream(self) -> str:
        return f"appdb_{self.source_table}"

    @property
    def projection_sql(self) -> str:
        return read_sql(__file__, self.stream)


@dataclass
class StagedSnapshot(PartitionAccount):
    """What one snapshot's staging read and where every row went."""

    rows_read: int = 0
    conflicting_duplicates: int = 0
    """Keys whose copies differ in a staged value (one is kept by the documented rule)."""
    extra_columns: list[str] = field(default_factory=list)
    missing_optional_columns: list[str] = field(default_factory=list)

    READ: ClassVar[str] = "rows_read"


def stage_snapshot(
    export: AppExport,
    day: date,
    *,
    lake: Lake,
    engine: IngestEngine,
    pseudonymizer: Pseudonymizer,
    warehouse: Warehouse,
) -> StagedSnapshot:
    """Replace `day`'s snapshot partition of the staged table from the lake's export."""
    (result,) = stage_snapshots(
        export, [day], lake=lake, engine=engine, pseudonymizer=pseudonymizer, warehouse=warehouse
    )
    return result


def stage_snapshots(
    export: AppExport,
    days: Sequence[date],
    *,
    lake: Lake,
    engine: IngestEngine,
    pseudonymizer: Pseudonymizer,
    warehouse: Warehouse,
) -> list[StagedSnapshot]:
    """Replace the snapshot partitions of consecutive `days` from the lake's exports. The
    exports' folders are listed once; up to `engine.max_days_per_write` consecutive snapshots
    share one engine session and one warehouse write (on BigQuery one load job and one MERGE),
    each still judged, deduplicated and reconciled on its own."""
    listed = listed_once(lake)
    staged: list[StagedSnapshot] = []
    for group in grouped(days, [1] * len(days), engine.max_days_per_write):  # a day counts 1
        staged += _stage_group(
            export, group, lake=listed, engine=engine, pseudonymizer=pseudonymizer,
            warehouse=warehouse,
        )  # fmt: skip
    return staged


def _stage_group(
    export: AppExport,
    days: Sequence[date],
    *,
    lake: Lake,
    engine: IngestEngine,
    pseudonymizer: Pseudonymizer,
    warehouse: Warehouse,
) -> list[StagedSnapshot]:
    # Every export is judged from its footers first: a missing or broken one fails the group
    # before a row is read.
    judged = [_judged_export(export, day, lake, engine) for day in days]
    known = {day: known_newsletters(lake, day, engine) for day in days}
    table = export.table
    guard = WriteGuard()
    quarantines: list[pa.Table] = []

    def staged_batches() -> Iterator[pa.RecordBatch]:
        with engine.session() as con:
            for snapshot, result in judged:
                _project(con, export, snapshot, lake, known[result.day], pseudonymizer)
                _count(con, export, result, engine)
                quarantines.append(_quarantine_rows(con, export, result.day))
                yield from _first_copies(con, export, result.day)
                con.execute("DROP TABLE projected")

    def quarantine_batches() -> Iterator[pa.RecordBatch]:
        for rows in quarantines:
            yield from rows.to_batches()

    first, end = days[0], days[-1] + timedelta(days=1)
    scope = {"stream": export.stream}
    with guard.reraised():
        written = warehouse.replace(
            [
                PartitionWrite(table, first, end, rows=streamed(guard, table, staged_batches())),
                PartitionWrite(
                    QUARANTINE, first, end, rows=streamed(guard, QUARANTINE, quarantine_batches()),
                    scope=scope,
                ),
            ]
        )  # fmt: skip
    results = [result for _, result in judged]
    if len(results) == 1:
        results[0].rows_in_table = written[table.qualified_name]
    else:
        in_table = warehouse.rows_per_day(table, first, end)
        for result in results:
            result.rows_in_table = in_table.get(result.day, 0)
    return results


def _judged_export(
    export: AppExport, day: date, lake: Lake, engine: IngestEngine
) -> tuple[ExportSnapshot, StagedSnapshot]:
    """The day's export, judged from its footers (staging/export_snapshot.py)."""
    prefix = appdb_export_prefix(export.source_table, day)
    snapshot = read_snapshot(lake, export.source_table, day)
    if snapshot is None:
        raise dg.Failure(
            f"No export of `{export.source_table}` for {day} under `{prefix}` in the lake: "
            "the app's nightly export has not delivered it (yet).",
            allow_retries=True,
        )
    snapshot.require_columns(export.required)
    previous = previous_snapshot(lake, export.source_table, day)
    check_size(snapshot, previous, engine)
    result = StagedSnapshot(day=day, objects=len(snapshot.files))
    result.missing_optional_columns = dropped_optional_columns(
        snapshot, previous, export.optional, engine
    )
    present = snapshot.columns_anywhere
    result.extra_columns = sorted(present - set(export.required) - set(export.optional))
    return snapshot, result


def _project(
    con: duckdb.DuckDBPyConnection,
    export: AppExport,
    snapshot: ExportSnapshot,
    lake: Lake,
    known: KnownNewsletters,
    pseudonymizer: Pseudonymizer,
) -> None:
    """The export's rows, typed and judged, into the engine table `projected`."""
    present = snapshot.columns_anywhere
    keys = snapshot.keys
    with lake.local_files(keys) as paths:
        con.register(
            "export_files",
            pa.table({"source_object": keys, "path": [str(p) for p in paths]}),
        )
        files = "[" + ", ".join(duckdb_string(str(p)) for p in paths) + "]"
        con.execute(
            f"CREATE OR REPLACE TEMP VIEW export_file_rows AS SELECT * FROM read_parquet({files}, "
            "union_by_name = true, filename = true, hive_partitioning = false)"
        )
        columns = [*export.required, *export.optional]
        select = ", ".join(c if c in present else f"NULL AS {c}" for c in columns)
        con.execute(
            f"CREATE OR REPLACE TEMP VIEW export_rows AS SELECT f.source_object, {select} "
            "FROM export_file_rows AS r JOIN export_files AS f ON r.filename = f.path"
        )
        con.register("known_newsletters", known.ids)
        params = {
            **pseudonymizer.sql_params(),
            **referrer_params(),  # a signup's referrer is categorised as a page view's
            "id_pattern": ID_PATTERN,
            "snapshot_end": day_bounds_utc(snapshot.day)[1],
            "check_newsletters": known.checked,
        }
        sql = export.projection_sql
        con.execute(f"CREATE TEMP TABLE projected AS {sql}", duckdb_params(sql, params))


def _count(
    con: duckdb.DuckDBPyConnection, export: AppExport, result: StagedSnapshot, engine: IngestEngine
) -> None:
    """The snapshot's figures; above the quarantine limit it fails (nothing is written)."""
    table = export.table
    key = table.key[1]
    carried = [c for c in table.column_names if c != table.partition_by]
    counts = con.execute(
        "SELECT COUNT(*), COUNT(*) FILTER (reject_reason IS NOT NULL), "
        f"COUNT(DISTINCT {key}) FILTER (reject_reason IS NULL) FROM projected"
    ).fetchall()[0]
    result.rows_read, result.quarantined, result.staged = (int(n) for n in counts)
    result.duplicates = result.rows_read - result.quarantined - result.staged
    (conflicts,) = con.execute(
        f"SELECT COUNT(*) FROM (SELECT {key} FROM projected WHERE reject_reason IS NULL "
        f"GROUP BY {key} HAVING COUNT(DISTINCT row({', '.join(carried)})) > 1)"
    ).fetchall()[0]
    result.conflicting_duplicates = int(conflicts)
    by_object = con.execute(
        "SELECT source_object, string_agg(DISTINCT reject_reason, ', ' ORDER BY "
        "reject_reason), COUNT(*) AS n FROM projected WHERE reject_reason IS NOT NULL "
        "GROUP BY source_object ORDER BY n DESC, source_object"
    ).fetchall()
    engine.check_quarantine_share(
        f"{table.name} {result.day}", result.rows_read, result.quarantined, by_object
    )


def _first_copies(
    con: duckdb.DuckDBPyConnection, export: AppExport, day: date
) -> Iterator[pa.RecordBatch]:
    """One row per key: the newest copy (documented in staging/app_exports.py)."""
    table = export.table
    key = table.key[1]
    carried = [c for c in table.column_names if c != table.partition_by]
    yield from con.sql(
        f"SELECT CAST($day AS DATE) AS {table.partition_by}, {', '.join(carried)} "
        f"FROM projected WHERE reject_reason IS NULL "
        f"QUALIFY row_number() OVER (PARTITION BY {key} ORDER BY {_newest_copy_first(carried)})"
        " = 1",
        params={"day": day},
    ).to_arrow_reader()


def _newest_copy_first(carried: list[str]) -> str:
    """The order in which copies of one key are kept (the first): documented in the module's
    docstring; it names no file or line, so the files' order cannot change the choice."""
    return ", ".join(f"{c} DESC NULLS LAST" for c in ["updated_at", *carried])


def _quarantine_rows(con: duckdb.DuckDBPyConnection, export: AppExport, day: date) -> pa.Table:
    return con.sql(
        f"""
        SELECT CAST($day AS DATE) AS event_date, $stream AS stream, source_object,
            sha256(raw_line) AS line_sha256, reject_reason AS reason,
            COUNT(*) AS occurrences, CAST(NULL AS BIGINT) AS line_number,
            {masked_excerpt_sql("MIN(raw_line)")} AS excerpt
        FROM projected WHERE reject_reason IS NOT NULL
        GROUP BY source_object, line_sha256, reason
        """,
        params={"day": day, "stream": export.stream},
    ).to_arrow_table()
