"""The key layouts of the raw sources, as behaviour: which keys are a source's objects, when
each arrived, and which folders can hold a given Japan-time day. (Over 300 lines: the three
layouts answer one protocol and are best read side by side.)

Three layouts, one class each: Kinesis Firehose's hourly delivery folders (`FirehoseStream`),
CloudWatch Logs' daily exports (`LogExportStream`) and daily Parquet snapshots
(`DailySnapshots`). Which source uses which, under which prefix and with which arrival window
is declared once, in raw/sources.py; docs/lake-layout.md describes the formats.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, ClassVar, Protocol

from theletter_data.partitions import TOKYO, day_bounds_utc

if TYPE_CHECKING:
    from theletter_data.resources.lake import Lake, LakeObject


@dataclass(frozen=True)
class ArrivalWindow:
    """When a source's objects arrive, relative to the Japan-time day whose records they hold:
    from `clock_skew` before the day starts (a producer's clock running ahead) to
    `allowed_lateness` after it ends (buffering, retries). Objects delivered outside it are
    not read for that day."""

    clock_skew: timedelta
    allowed_lateness: timedelta


EXACT_DAY = ArrivalWindow(clock_skew=timedelta(0), allowed_lateness=timedelta(0))
"""A source whose objects are written once their day has closed, holding exactly that day."""


@dataclass
class Listing:
    """The objects of a day's arrival window, and the keys found there that are not objects of
    the stream's layout (a job's `_temporary/` folder, a stray copy): those are not read, but
    named, so that nobody wonders where they went."""

    objects: list[LakeObject] = field(default_factory=list)
    outside_layout: list[str] = field(default_factory=list)


class RawLayout(Protocol):
    """What every raw source's layout answers: the arrivals sensor, archive and restore and the
    writers rely on it."""

    @property
    def name(self) -> str: ...

    @property
    def prefix(self) -> str: ...

    @property
    def window(self) -> ArrivalWindow: ...

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

    def listing_folder(self, folder_day: date) -> str:
        """The folder named after `folder_day` (the sensor lists the folders of recent days)."""
        ...

    def folders(self, first: date, last: date, lateness: timedelta) -> list[str]:
        """Every folder whose objects staging may read for the Japan-time days first..last:
        the one folder function behind a day's listing and the restore of archived days."""
        ...

    def days_holding(self, key: str, lateness: timedelta) -> list[date]:
        """The Japan-time days whose window contains the object (for the sensor)."""
        ...


class LineStream(RawLayout, Protocol):
    """A raw stream of gzip text lines that staging reads a Japan-time day at a time."""

    def list_window(self, lake: Lake, day: date, lateness: timedelta) -> Listing: ...

    def objects_for_day(self, lake: Lake, day: date, lateness: timedelta) -> list[LakeObject]: ...


def empty_day_marker(stream: RawLayout, day: date) -> str:
    """The key an operator writes to declare that `day` legitimately has no objects of the
    stream (docs/lake-layout.md): staging then writes an empty day instead of failing."""
    return f"{stream.prefix}/_empty/{day.isoformat()}"


def _hidden(part: str) -> bool:
    """Temporary and hidden names (`_temporary`, `_SUCCESS`, `.x.partial`) are never objects."""
    return part.startswith(("_", "."))


def _days(first: date, last: date) -> list[date]:
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]


@dataclass(frozen=True)
class FirehoseStream:
    """A Kinesis Firehose delivery stream: gzip JSON lines under `prefix/YYYY/MM/DD/HH/`, the
    folder being the UTC hour in which Firehose delivered the object."""

    name: str
    prefix: str
    window: ArrivalWindow
    late_records_possible: ClassVar[bool] = True
    folder_pattern: ClassVar[str] = "YYYY/MM/DD/HH/"
    object_pattern: ClassVar[str] = "<name>.gz"
    key_notes: ClassVar[str] = (
        "the folder is the UTC hour Firehose delivered the object in, not the event's; "
        "delivery is at least once, so copies happen, and late records land in later hours"
    )

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
        return start - self.window.clock_skew, end + lateness

    def listing_folder(self, folder_day: date) -> str:
        return f"{self.prefix}/{folder_day:%Y/%m/%d}/"

    def folders(self, first: date, last: date, lateness: timedelta) -> list[str]:
        """The UTC-date folders of every delivery hour in the days' arrival windows (also of
        a window that ends within an hour)."""
        start, _ = self.arrival_window(first, lateness)
        _, end = self.arrival_window(last, lateness)
        return [self.listing_folder(d) for d in _days(start.date(), (end - _INSTANT).date())]

    def days_holding(self, key: str, lateness: timedelta) -> list[date]:
        hour = self.arrival_hour(key)
        first = (hour - lateness).astimezone(TOKYO).date()
        last = (hour + self.window.clock_skew).astimezone(TOKYO).date()
        return _days(first, last)

    def list_window(self, lake: Lake, day: date, lateness: timedelta) -> Listing:
        """The objects delivered within `day`'s arrival window, in key (delivery) order."""
        first, end = self.arrival_window(day, lateness)
        listing = Listing()
        for folder in self.folders(day, day, lateness):
            for obj in lake.list(folder):
                hour = self._hour(obj.key)
                if hour is None:
                    listing.outside_layout.append(obj.key)
                elif first <= hour < end:
                    listing.objects.append(obj)
        return listing

    def objects_for_day(self, lake: Lake, day: date, lateness: timedelta) -> list[LakeObject]:
        return self.list_window(lake, day, lateness).objects


_INSTANT = timedelta(microseconds=1)
_FIREHOSE_KEY = re.compile(
    r"(?P<y>\d{4})/(?P<m>\d{2})/(?P<d>\d{2})/(?P<h>\d{2})/(?P<name>[^/]+\.gz)"
)


@dataclass(frozen=True)
class LogExportStream:
    """CloudWatch Logs exported to S3: each Japan-time day, one export task per log group (a
    service) writes `prefix/YYYY-MM-DD/<service>/<task id>/<log stream>/000000.gz`, holding
    exactly the events logged that day. The export lands after the day, so its objects are all
    of that day's, and bad lines are that day's quarantine."""

    name: str
    prefix: str
    window: ArrivalWindow = EXACT_DAY
    late_records_possible: ClassVar[bool] = False
    folder_pattern: ClassVar[str] = "YYYY-MM-DD/<service>/<task id>/<log stream>/"
    object_pattern: ClassVar[str] = "000000.gz"
    key_notes: ClassVar[str] = (
        "one export task per service and Japan-time day, written once the day has ended"
    )

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

    def listing_folder(self, folder_day: date) -> str:
        return f"{self.prefix}/{folder_day.isoformat()}/"

    def folders(self, first: date, last: date, lateness: timedelta) -> list[str]:
        return [self.listing_folder(d) for d in _days(first, last)]

    def days_holding(self, key: str, lateness: timedelta) -> list[date]:
        return [self.export_day(key)]

    def list_window(self, lake: Lake, day: date, lateness: timedelta) -> Listing:
        listing = Listing()
        for folder in self.folders(day, day, lateness):
            for obj in lake.list(folder):
                if self.in_layout(obj.key):
                    listing.objects.append(obj)
                elif not obj.key.endswith("/aws-logs-write-test"):
                    listing.outside_layout.append(obj.key)
        return listing

    def objects_for_day(self, lake: Lake, day: date, lateness: timedelta) -> list[LakeObject]:
        return self.list_window(lake, day, lateness).objects


@dataclass(frozen=True)
class DailySnapshots:
    """A table's full snapshot per Japan-time day, taken after the day closed: Parquet files
    under `prefix/dt=YYYY-MM-DD/` (the app's nightly export, or the direct extraction)."""

    name: str
    prefix: str
    window: ArrivalWindow = EXACT_DAY
    late_records_possible: ClassVar[bool] = False
    folder_pattern: ClassVar[str] = "dt=YYYY-MM-DD/"
    key_notes: ClassVar[str] = "a full snapshot of the table, taken after the Japan-time day closed"
    object_pattern: ClassVar[str] = "part-00000.parquet"
    """The one file of a snapshot this project writes (the export's own name)."""

    def export_day(self, key: str) -> date:
        part = next(p for p in key[len(self.prefix) + 1 :].split("/") if p.startswith("dt="))
        return date.fromisoformat(part.removeprefix("dt="))

    def in_layout(self, key: str) -> bool:
        """Any key under `prefix/dt=YYYY-MM-DD/` (staging reads its `.parquet` files)."""
        parts = key[len(self.prefix) + 1 :].split("/")
        if not key.startswith(f"{self.prefix}/") or len(parts) < 2:
            return False
        try:
            date.fromisoformat(parts[0].removeprefix("dt="))
        except ValueError:
            return False
        return parts[0].startswith("dt=")

    def arrival_hour(self, key: str) -> datetime:
        """A snapshot counts as arriving when its day's date begins (UTC), for the sensor's
        listing bounds."""
        return datetime.combine(self.export_day(key), datetime.min.time(), tzinfo=UTC)

    def arrival_window(self, day: date, lateness: timedelta) -> tuple[datetime, datetime]:
        return day_bounds_utc(day)

    def listing_folder(self, folder_day: date) -> str:
        return f"{self.prefix}/dt={folder_day.isoformat()}/"

    def folders(self, first: date, last: date, lateness: timedelta) -> list[str]:
        return [self.listing_folder(d) for d in _days(first, last)]

    def days_holding(self, key: str, lateness: timedelta) -> list[date]:
        return [self.export_day(key)]

    def snapshot_key(self, day: date) -> str:
        """Where a writer of this project puts `day`'s snapshot."""
        return f"{self.listing_folder(day)}{self.object_pattern}"

    def export_days(self, lake: Lake) -> list[date]:
        """The days for which the lake holds a snapshot, in order."""
        return sorted(
            {
                date.fromisoformat(part.removeprefix("dt="))
                for obj in lake.list(f"{self.prefix}/")
                for part in obj.key.split("/")
                if part.startswith("dt=")
            }
        )
