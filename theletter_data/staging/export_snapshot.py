"""An app export snapshot as the lake holds it, judged from its Parquet footers before a row is
read: a broken export must fail, naming itself, instead of changing numbers silently.

A day's snapshot holds the rows of the one before (docs/lake-layout.md: rows are not deleted, but
for the rare deletion the direct extraction carries) and the same columns. Staging refuses,
without retrying (the file will not change by itself):
- a file without a column staging needs (`require_columns`), naming the file and the column;
- an optional column that the previous snapshot had and this one lacks: renamed or dropped in
  the app, it would silently become NULL (every subscription active without `unsubscribed_at`,
  every plan free without `plan`), unless accepted in `IngestEngine.accepted_missing_columns`;
- a snapshot with fewer rows than `IngestEngine.min_snapshot_share` of the previous one's, and
  one with 0 rows when the previous one had any, whatever the share.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date

import dagster as dg
import pyarrow as pa
import pyarrow.parquet as pq

from theletter_data.raw.sources import appdb_export_days, appdb_export_prefix
from theletter_data.resources.ingest_engine import IngestEngine
from theletter_data.resources.lake import Lake


@dataclass(frozen=True)
class ExportFile:
    key: str
    rows: int
    columns: frozenset[str]


@dataclass(frozen=True)
class ExportSnapshot:
    """The Parquet files of one table's export of one day."""

    table: str
    day: date
    files: tuple[ExportFile, ...]

    @property
    def keys(self) -> list[str]:
        return [f.key for f in self.files]

    @property
    def rows(self) -> int:
        return sum(f.rows for f in self.files)

    @property
    def columns_everywhere(self) -> frozenset[str]:
        """Columns that every file has (a column missing from one file is NULL for its rows)."""
        return frozenset.intersection(*(f.columns for f in self.files))

    @property
    def columns_anywhere(self) -> frozenset[str]:
        return frozenset.union(*(f.columns for f in self.files))

    @property
    def where(self) -> str:
        """The snapshot's key, or its folder and file count when it has several files."""
        if len(self.files) == 1:
            return f"`{self.files[0].key}`"
        return f"`{appdb_export_prefix(self.table, self.day)}` ({len(self.files)} files)"

    def require_columns(self, columns: Iterable[str]) -> None:
        """Fail at once, naming the export, the file and the columns, if a file lacks one."""
        for file in self.files:
            missing = [c for c in columns if c not in file.columns]
            if missing:
                raise dg.Failure(
                    f"The `{self.table}` export of {self.day} lacks required column(s) "
                    f"{', '.join(f'`{c}`' for c in missing)} in `{file.key}`: the app's export "
                    "changed (a renamed or dropped column); fix the export or the platform's "
                    "column mapping (staging/app_exports.py), then stage the day again.\n"
                    f"The file has: {', '.join(sorted(file.columns))}.",
                    allow_retries=False,
                )


def read_snapshot(lake: Lake, table: str, day: date) -> ExportSnapshot | None:
    """The day's export of `table` from its files' footers (no rows read); None if absent."""
    keys = [o.key for o in lake.list(appdb_export_prefix(table, day)) if o.key.endswith(".parquet")]
    if not keys:
        return None
    return ExportSnapshot(table, day, tuple(_footer(lake, key) for key in keys))


def _footer(lake: Lake, key: str) -> ExportFile:
    with lake.fs.open_input_file(lake.path(key)) as source:
        try:
            metadata = pq.read_metadata(source)
        except pa.ArrowInvalid as error:  # not an I/O fault: the bytes are not Parquet
            raise dg.Failure(
                f"`{key}` is not a readable Parquet file ({error}): the app's export was cut "
                "or corrupted; re-export the day, then stage it again.",
                allow_retries=False,
            ) from error
    return ExportFile(key, metadata.num_rows, frozenset(metadata.schema.to_arrow_schema().names))


def previous_snapshot(lake: Lake, table: str, day: date) -> ExportSnapshot | None:
    """The newest export of `table` before `day`, if any."""
    for earlier in reversed([d for d in appdb_export_days(lake, table) if d < day]):
        if (snapshot := read_snapshot(lake, table, earlier)) is not None:
            return snapshot
    return None


def check_size(
    snapshot: ExportSnapshot, previous: ExportSnapshot | None, engine: IngestEngine
) -> None:
    """Fail, naming the export, when it shrank beyond the plausible share of the previous one."""
    if previous is None or previous.rows == 0:
        return
    share = snapshot.rows / previous.rows
    if snapshot.rows > 0 and share >= engine.min_snapshot_share:
        return
    raise dg.Failure(
        f"The `{snapshot.table}` export of {snapshot.day} ({snapshot.where}) has "
        f"{snapshot.rows:,} rows, {share:.0%} of the {previous.rows:,} of the "
        f"{previous.day} snapshot: a snapshot keeps the rows of the one before but for rare "
        "deletions, so this export is broken or incomplete. Nothing was staged; re-export the "
        "day and stage it again.\n"
        f"The limit is `min_snapshot_share` ({engine.min_snapshot_share:.0%}) of the "
        "ingest_engine resource; a snapshot with 0 rows always fails after one with rows.",
        allow_retries=False,
    )


def dropped_optional_columns(
    snapshot: ExportSnapshot,
    previous: ExportSnapshot | None,
    optional: Sequence[str],
    engine: IngestEngine,
) -> list[str]:
    """The optional columns this snapshot lacks (staged as NULL); fail if the previous snapshot
    had one of them and it is not accepted as dropped."""
    missing = [c for c in optional if c not in snapshot.columns_everywhere]
    if previous is None:
        return missing
    accepted = set(engine.accepted_missing_columns)
    dropped = [
        c
        for c in missing
        if c in previous.columns_anywhere and f"{snapshot.table}.{c}" not in accepted
    ]
    if dropped:
        names = ", ".join(f"`{c}`" for c in dropped)
        raise dg.Failure(
            f"The `{snapshot.table}` export of {snapshot.day} ({snapshot.where}) lacks "
            f"column(s) {names} that the {previous.day} snapshot had: renamed or dropped in the "
            "app, they would be staged as NULL and change the numbers built on them. Fix the "
            "export and stage the day again.\n"
            "If the app dropped them on purpose, add "
            f"{', '.join(repr(f'{snapshot.table}.{c}') for c in dropped)} to the ingest_engine "
            "resource's `accepted_missing_columns`.",
            allow_retries=False,
        )
    return missing
