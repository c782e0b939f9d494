"""Where each raw stream's objects live in the lake, and which of them can hold a given day.

docs/lake-layout.md describes the formats; this module is the code's one copy of the key layout.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Protocol

from theletter_data.partitions import day_bounds_utc
from theletter_data.resources.lake import Lake, LakeObject

CLOCK_SKEW = timedelta(hours=1)
"""Objects delivered up to this long before a day starts are read for it (producer clock skew)."""


class LineStream(Protocol):
    """A raw stream of gzip text lines that staging reads a Japan-time day at a time."""

    @property
    def name(self) -> str: ...

    @property
    def prefix(self) -> str: ...

    def arrival_hour(self, key: str) -> datetime:
        """When the object was delivered (UTC): lines that cannot be staged are the
        quarantine of the Japan-time day it falls on."""
        ...

    def arrival_window(self, day: date, lateness: timedelta) -> tuple[datetime, datetime]: ...

    def objects_for_day(self, lake: Lake, day: date, lateness: timedelta) -> list[LakeObject]: ...


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


@dataclass(frozen=True)
class LogExportStream:
    """CloudWatch Logs exported to S3: each Japan-time day, one export task per log group (a
    service) writes `prefix/YYYY-MM-DD/<service>/<task id>/<log stream>/000000.gz`, holding
    exactly the events logged that day. The export lands after the day, so its objects are all
    of that day's, and bad lines are that day's quarantine."""

    name: str
    prefix: str

    def export_day(self, key: str) -> date:
        return date.fromisoformat(key[len(self.prefix) + 1 :].split("/")[0])

    def service(self, key: str) -> str:
        return key[len(self.prefix) + 1 :].split("/")[1]

    def arrival_hour(self, key: str) -> datetime:
        return day_bounds_utc(self.export_day(key))[0]

    def arrival_window(self, day: date, lateness: timedelta) -> tuple[datetime, datetime]:
        return day_bounds_utc(day)

    def objects_for_day(self, lake: Lake, day: date, lateness: timedelta) -> list[LakeObject]:
        return [o for o in lake.list(f"{self.prefix}/{day.isoformat()}/") if o.key.endswith(".gz")]


SES_EVENTS = FirehoseStream(name="ses_events", prefix="ses-events")
PAGE_VIEWS = FirehoseStream(name="page_views", prefix="pageviews")
APP_LOGS = LogExportStream(name="app_logs", prefix="app-logs")

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
