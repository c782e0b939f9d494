"""Where each raw stream's objects live in the lake, and which of them can hold a given day.

docs/lake-layout.md describes the formats; this module is the code's one copy of the key layout.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Protocol

from theletter_data.partitions import day_bounds_utc
from theletter_data.resources.lake import Lake, LakeObject

CLOCK_SKEW = timedelta(hours=1)
"""Objects delivered up to this long before a day starts are read for it (producer clock skew)."""


@dataclass
class Listing:
    """The objects of a day's arrival window, and the keys found there that are not objects of
    the stream's layout (a job's `_temporary/` folder, a stray copy): those are not read, but
    named, so that nobody wonders where they went."""

    objects: list[LakeObject] = field(default_factory=list)
    outside_layout: list[str] = field(default_factory=list)


class LineStream(Protocol):
    """A raw stream of gzip text lines that staging reads a Japan-time day at a time."""

    @property
    def name(self) -> str: ...

    @property
    def prefix(self) -> str: ...

    @property
    def late_records_possible(self) -> bool:
        """Whether records can arrive after their day's window (Firehose: yes; a log export
        holds exactly its day), so that a replay may widen a day's window."""
        ...

    def in_layout(self, key: str) -> bool:
        """Whether `key` is one of the stream's objects (docs/lake-layout.md)."""
        ...

    def arrival_hour(self, key: str) -> datetime:
        """When the object was delivered (UTC): lines that cannot be staged are the
        quarantine of the Japan-time day it falls on. Only for keys in the layout."""
        ...

    def arrival_window(self, day: date, lateness: timedelta) -> tuple[datetime, datetime]: ...

    def list_window(self, lake: Lake, day: date, lateness: timedelta) -> Listing: ...

    def objects_for_day(self, lake: Lake, day: date, lateness: timedelta) -> list[LakeObject]: ...


def empty_day_marker(stream: LineStream, day: date) -> str:
    """The key an operator writes to declare that `day` legitimately has no objects of the
    stream (docs/lake-layout.md): staging then writes an empty day instead of failing."""
    return f"{stream.prefix}/_empty/{day.isoformat()}"


def _hidden(part: str) -> bool:
    """Temporary and hidden names (`_temporary`, `_SUCCESS`, `.x.partial`) are never objects."""
    return part.startswith(("_", "."))


@dataclass(frozen=True)
class FirehoseStream:
    """A Kinesis Firehose delivery stream: gzip JSON lines under `prefix/YYYY/MM/DD/HH/`, the
    folder being the UTC hour in which Firehose delivered the object."""

    name: str
    prefix: str
    late_records_possible: bool = True

    def _hour(self, key: str) -> datetime | None:
        match = _FIREHOSE_KEY.fullmatch(key[len(self.prefix) + 1 :])
        if not key.startswith(f"{self.prefix}/") or match is None or _hidden(match["name"]):
            return None
        try:
            return datetime(*(int(match[p]) for p in ("y", "m", "d", "h")), tzinfo=UTC)
        except ValueError:  # 2026/13/45/99
            return None

    def in_layout(self, key: str) -> bool:
        return self._hour(key) is not None

    def arrival_hour(self, key: str) -> datetime:
        """The UTC delivery hour encoded in an object's key."""
        hour = self._hour(key)
        if hour is None:
            raise ValueError(f"`{key}` is not a `{self.prefix}/YYYY/MM/DD/HH/<name>.gz` key")
        return hour

    def arrival_window(self, day: date, lateness: timedelta) -> tuple[datetime, datetime]:
        """Delivery hours [first, end) whose objects may hold events of Japan-time `day`."""
        start, end = day_bounds_utc(day)
        return start - CLOCK_SKEW, end + lateness

    def list_window(self, lake: Lake, day: date, lateness: timedelta) -> Listing:
        """The objects delivered within `day`'s arrival window, in key (delivery) order."""
        first, end = self.arrival_window(day, lateness)
        folders = sorted({(first + timedelta(hours=h)).date() for h in range(_hours(first, end))})
        listing = Listing()
        for folder in folders:
            for obj in lake.list(f"{self.prefix}/{folder:%Y/%m/%d}/"):
                hour = self._hour(obj.key)
                if hour is None:
                    listing.outside_layout.append(obj.key)
                elif first <= hour < end:
                    listing.objects.append(obj)
        return listing

    def objects_for_day(self, lake: Lake, day: date, lateness: timedelta) -> list[LakeObject]:
        return self.list_window(lake, day, lateness).objects


_FIREHOSE_KEY = re.compile(
    r"(?P<y>\d{4})/(?P<m>\d{2})/(?P<d>\d{2})/(?P<h>\d{2})/(?P<name>[^/]+\.gz)"
)


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
    late_records_possible: bool = False

    def export_day(self, key: str) -> date:
        return date.fromisoformat(key[len(self.prefix) + 1 :].split("/")[0])

    def service(self, key: str) -> str:
        return key[len(self.prefix) + 1 :].split("/")[1]

    def arrival_hour(self, key: str) -> datetime:
        return day_bounds_utc(self.export_day(key))[0]

    def in_layout(self, key: str) -> bool:
        """`prefix/YYYY-MM-DD/<service>/<task id>/<log stream>/<name>.gz`; the log stream may
        hold slashes. CloudWatch's own `aws-logs-write-test` object is not an export."""
        parts = key[len(self.prefix) + 1 :].split("/")
        if not key.startswith(f"{self.prefix}/") or len(parts) < 5 or any(map(_hidden, parts)):
            return False
        try:
            date.fromisoformat(parts[0])
        except ValueError:
            return False
        return parts[-1].endswith(".gz")

    def arrival_window(self, day: date, lateness: timedelta) -> tuple[datetime, datetime]:
        return day_bounds_utc(day)

    def list_window(self, lake: Lake, day: date, lateness: timedelta) -> Listing:
        listing = Listing()
        for obj in lake.list(f"{self.prefix}/{day.isoformat()}/"):
            if self.in_layout(obj.key):
                listing.objects.append(obj)
            elif not obj.key.endswith("/aws-logs-write-test"):
                listing.outside_layout.append(obj.key)
        return listing

    def objects_for_day(self, lake: Lake, day: date, lateness: timedelta) -> list[LakeObject]:
        return self.list_window(lake, day, lateness).objects


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
