"""Where each raw stream's objects live in the lake, and which of them can hold a given day.

docs/lake-layout.md describes the formats; this module is the code's one copy of the key layout.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from theletter_data.partitions import day_bounds_utc
from theletter_data.resources.lake import Lake, LakeObject

CLOCK_SKEW = timedelta(hours=1)
"""Objects delivered up to this long before a day starts are read for it (producer clock skew)."""


@dataclass(frozen=True)
class FirehoseStream:
    """A Kinesis Firehose delivery stream: gzip JSON lines under `prefix/YYYY/MM/DD/HH/`, the
    folder being the UTC hour in which Firehose delivered the object."""

    name: str
    prefix: str

    def arrival_hour(self, key: str) -> datetime:
        """The UTC delivery hour encoded in an object's key."""
        parts = key[len(self.prefix) + 1 :].split("/")
        year, month, day, hour = (int(p) for p in parts[:4])
        return datetime(year, month, day, hour, tzinfo=UTC)

    def arrival_window(self, day: date, lateness: timedelta) -> tuple[datetime, datetime]:
        """Delivery hours [first, end) whose objects may hold events of Japan-time `day`."""
        start, end = day_bounds_utc(day)
        return start - CLOCK_SKEW, end + lateness

    def objects_for_day(self, lake: Lake, day: date, lateness: timedelta) -> list[LakeObject]:
        """The objects delivered within `day`'s arrival window, in key (delivery) order."""
        first, end = self.arrival_window(day, lateness)
        folders = sorted({(first + timedelta(hours=h)).date() for h in range(_hours(first, end))})
        return [
            obj
            for folder in folders
            for obj in lake.list(f"{self.prefix}/{folder:%Y/%m/%d}/")
            if obj.key.endswith(".gz") and first <= self.arrival_hour(obj.key) < end
        ]


def _hours(first: datetime, end: datetime) -> int:
    return int((end - first).total_seconds() // 3600)


SES_EVENTS = FirehoseStream(name="ses_events", prefix="ses-events")
PAGE_VIEWS = FirehoseStream(name="page_views", prefix="pageviews")

APPDB_TABLES = ("newsletters", "posts", "subscriptions")


def appdb_export_prefix(table: str, day: date) -> str:
    """The folder of the app database's export of `table` taken after Japan-time `day` closed."""
    return f"{_appdb_table_folder(table)}dt={day.isoformat()}/"


def _appdb_table_folder(table: str) -> str:
    if table not in APPDB_TABLES:
        raise ValueError(f"unknown app database table {table!r}")
    return f"appdb/{table}/"


def appdb_export_days(lake: Lake, table: str) -> list[date]:
    """The days for which the lake holds an export of `table`, in order."""
    return sorted(
        {
            date.fromisoformat(part.removeprefix("dt="))
            for obj in lake.list(_appdb_table_folder(table))
            for part in obj.key.split("/")
            if part.startswith("dt=")
        }
    )
