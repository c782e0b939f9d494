"""Staging one app export snapshot: judge the export, read and type its rows, quarantine the bad
ones, keep one copy per key, replace the day's partition. The rules are those of
staging/app_exports.py, which declares the exports.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from functools import cached_property
from typing import ClassVar

import dagster as dg
import duckdb
import pyarrow as pa

from theletter_data.ids import ID_PATTERN
from theletter_data.raw.sources import appdb_export_prefix
from theletter_data.resources.ingest_engine import IngestEngine
from theletter_data.resources.lake import Lake
from theletter_data.resources.pseudonymizer import Pseudonymizer
from theletter_data.resources.warehouse import PartitionWrite, Warehouse
from theletter_data.sql import read_sql, with_patterns
from theletter_data.staging.export_snapshot import (
    ExportSnapshot,
    check_size,
    dropped_optional_columns,
    previous_snapshot,
    read_snapshot,
)
from theletter_data.staging.known_newsletters import known_newsletters
from theletter_data.staging.lake_listing import listed_once
from theletter_data.staging.lines.planning import grouped
from theletter_data.staging.projection_ahead import ProjectionAhead
from theletter_data.staging.quarantine import QUARANTINE, masked_excerpt_sql
from theletter_data.staging.reconciliation import PartitionAccount
from theletter_data.staging.referrers import sql_patterns as referrer_patterns
from theletter_data.staging.snapshot_changes import (
    change_rows,
    count_changes,
    keep_version,
    previous_versions,
)
from theletter_data.staging.snapshot_projection import (
    carried_columns,
    first_copies_sql,
    repeated_keys_sql,
)
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
    changes_only: bool = False
    """Stage only each snapshot's changes from the previous one (staging/snapshot_changes.py)
    instead of the whole snapshot."""

    @property
    def stream(self) -> str:
        return f"appdb_{self.source_table}"

    @cached_property
    def sql(self) -> str:
        """The projection (sql/appdb_<table>.sql) as it runs: its patterns put in as constants
        (`sql.with_patterns`; a signup's referrer is categorised as a page view's)."""
        patterns = {**referrer_patterns(), "id_pattern": ID_PATTERN}
        return with_patterns(read_sql(__file__, self.stream), patterns)[0]


@dataclass
class StagedSnapshot(PartitionAccount):
    """What one snapshot's staging read and where every row went."""

    rows_read: int = 0
    conflicting_duplicates: int = 0
    """Keys whose copies differ in a staged value (one is kept by the documented rule)."""
    extra_columns: list[str] = field(default_factory=list)
    missing_optional_columns: list[str] = field(default_factory=list)
    changes: dict[str, int] | None = None
    """Staged as changes: the staged keys unchanged, new, changed since the previous snapshot,
    and its keys deleted (staging/snapshot_changes.py)."""

    @property
    def expected_in_table(self) -> int:
        """Staged as changes, the partition holds the versions opened (new, changed) and the
        deletions; else every staged row."""
        if self.changes is None:
            return self.staged
        return self.changes["new"] + self.changes["changed"] + self.changes["deleted"]

    @property
    def balances(self) -> bool:
        """Read = staged + duplicates + quarantined, and, staged as changes, every staged key is
        unchanged, new or changed."""
        c = self.changes
        return super().balances and (
            c is None or self.staged == c["unchanged"] + c["new"] + c["changed"]
        )

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
        snapshots = [(snapshot, known[result.day]) for (snapshot, _), result in judged]
        with (
            engine.session() as con,
            ProjectionAhead(con, export, lake, pseudonymizer, snapshots) as ahead,
        ):
            kept: date | None = None  # the day whose versions the table `current` holds
            for (_, previous), result in judged:
                if export.changes_only:
                    previous_versions(con, export, previous, kept, lake, engine, pseudonymizer)
                ahead.take(con)  # the next days' are projected while this one is worked on
                _count(con, export, result, engine)
                quarantines.append(_quarantine_rows(con, export, result.day))
                if export.changes_only:
                    keep_version(con, "current", first_copies_sql(export))
                    if previous is None:
                        con.execute("CREATE TEMP TABLE before AS SELECT * FROM current LIMIT 0")
                    result.changes = count_changes(con, table)
                    yield from change_rows(con, table, result.day)
                    kept = result.day
                else:
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
) -> tuple[tuple[ExportSnapshot, ExportSnapshot | None], StagedSnapshot]:
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
    return (snapshot, previous), result


def _count(
    con: duckdb.DuckDBPyConnection, export: AppExport, result: StagedSnapshot, engine: IngestEngine
) -> None:
    """The snapshot's figures; above the quarantine limit it fails (nothing is written)."""
    table = export.table
    key = table.key[1]
    carried = carried_columns(table)
    counts = con.execute(
        "SELECT COUNT(*), COUNT(*) FILTER (reject_reason IS NOT NULL), "
        f"COUNT(DISTINCT {key}) FILTER (reject_reason IS NULL) FROM projected"
    ).fetchall()[0]
    result.rows_read, result.quarantined, result.staged = (int(n) for n in counts)
    result.duplicates = result.rows_read - result.quarantined - result.staged
    # Only a key with several copies can have differing ones: the distinct rows of those alone.
    (conflicts,) = con.execute(
        f"SELECT COUNT(*) FROM (SELECT {key} FROM projected WHERE reject_reason IS NULL "
        f"AND {key} IN {repeated_keys_sql(key)} "
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
    """One row per key, with its snapshot day."""
    partition = export.table.partition_by
    yield from con.sql(
        f"SELECT CAST($day AS DATE) AS {partition}, * FROM ({first_copies_sql(export)})",
        params={"day": day},
    ).to_arrow_reader()


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
