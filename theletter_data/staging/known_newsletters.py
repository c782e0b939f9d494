"""Which newsletters exist: the app's newsletters export of a day (or the latest one before it).

An event or a row that names a newsletter the app has never had is not counted anywhere: it is
quarantined as `unknown_newsletter` (a spoofed beacon, a test account, a bug in a producer).
The export of day D lists every newsletter that existed at the end of D, so it covers all of
D's events; when it is late, the newest earlier export is used and the metadata says which,
and the sensor stages the day again once D's export lands.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import pyarrow as pa
import pyarrow.parquet as pq

from theletter_data.raw.layout import appdb_export_days, appdb_export_prefix
from theletter_data.resources.lake import Lake


@dataclass(frozen=True)
class KnownNewsletters:
    ids: pa.Table
    """One column, `newsletter_id` (empty when there is no export to check against)."""
    as_of: date | None
    """The export day checked against; None: no export, nothing is checked."""

    @property
    def checked(self) -> bool:
        return self.as_of is not None


def known_newsletters(lake: Lake, day: date) -> KnownNewsletters:
    days = [d for d in appdb_export_days(lake, "newsletters") if d <= day]
    if not days:
        return KnownNewsletters(pa.table({"newsletter_id": pa.array([], pa.string())}), None)
    as_of = days[-1]
    keys = [o.key for o in lake.list(appdb_export_prefix("newsletters", as_of))]
    with lake.local_files([k for k in keys if k.endswith(".parquet")]) as paths:
        ids = pa.concat_tables(
            [
                pq.read_table(p, columns=["newsletter_id"]).cast(
                    pa.schema([("newsletter_id", pa.string())])
                )
                for p in paths
            ]
        )
    return KnownNewsletters(ids, as_of)
