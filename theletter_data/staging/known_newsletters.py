"""Which newsletters exist: the app's newsletters export of a day (or the latest one before it).

An event or a row that names a newsletter the app has never had is not counted anywhere: it is
quarantined as `unknown_newsletter` (a spoofed beacon, a test account, a bug in a producer).
The export of day D lists every newsletter that existed at the end of D, so it covers all of
D's events; when it is late, the newest earlier export is used and the metadata says which,
and the sensor stages the day again once D's export lands.

The export is judged as its own staging judges it (staging/export_snapshot.py): one without
`newsletter_id`, shrunk beyond the plausible share of the previous one, or without a single
valid id fails every stream that reads it, with the same message naming the export, instead of
quarantining every event as `unknown_newsletter`. Only valid ids (`theletter_data.ids`) are
known: an event of a newsletter whose id stg_newsletters quarantines is not counted either.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import dagster as dg
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from theletter_data.ids import ID_PATTERN
from theletter_data.raw.sources import appdb_export_days
from theletter_data.resources.ingest_engine import IngestEngine
from theletter_data.resources.lake import Lake
from theletter_data.staging.export_snapshot import (
    ExportSnapshot,
    check_size,
    previous_snapshot,
    read_snapshot,
)

_COLUMN = "newsletter_id"


@dataclass(frozen=True)
class KnownNewsletters:
    ids: pa.Table
    """One column, `newsletter_id` (empty when there is no export to check against)."""
    as_of: date | None
    """The export day checked against; None: no export, nothing is checked."""

    @property
    def checked(self) -> bool:
        return self.as_of is not None


def known_newsletters(
    lake: Lake, day: date, engine: IngestEngine | None = None
) -> KnownNewsletters:
    snapshot = _newest_snapshot(lake, day)
    if snapshot is None:
        return KnownNewsletters(pa.table({_COLUMN: pa.array([], pa.string())}), None)
    snapshot.require_columns([_COLUMN])
    check_size(
        snapshot, previous_snapshot(lake, "newsletters", snapshot.day), engine or IngestEngine()
    )
    with lake.local_files(snapshot.keys) as paths:
        ids = pa.concat_tables(
            [
                pq.read_table(p, columns=[_COLUMN]).cast(pa.schema([(_COLUMN, pa.string())]))
                for p in paths
            ]
        )
    valid = ids.filter(pc.match_substring_regex(ids[_COLUMN], f"^{ID_PATTERN}$"))
    if valid.num_rows == 0:
        raise dg.Failure(
            f"The `newsletters` export of {snapshot.day} ({snapshot.where}) holds no valid "
            f"newsletter id ({ids.num_rows:,} rows): every event would be quarantined as "
            "`unknown_newsletter`. Fix the export and stage the day again.",
            allow_retries=False,
        )
    return KnownNewsletters(valid, snapshot.day)


def _newest_snapshot(lake: Lake, day: date) -> ExportSnapshot | None:
    for export_day in reversed([d for d in appdb_export_days(lake, "newsletters") if d <= day]):
        if (snapshot := read_snapshot(lake, "newsletters", export_day)) is not None:
            return snapshot
    return None
