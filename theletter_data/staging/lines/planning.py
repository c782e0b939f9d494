"""Which objects staging reads for which days, and in which groups and batches.

A day reads the objects delivered within its arrival window (raw/layout.py). A run over many
days lists each folder once (consecutive days' windows share folders), then stages
consecutive days together in write groups (up to `IngestEngine.write_bytes` of raw objects or
`max_days_per_write` days: one engine session and one warehouse transaction, on BigQuery one
load job and one MERGE), reading the group's objects a batch of `batch_bytes` at a time.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import TypeVar

import dagster as dg

from theletter_data.partitions import day_bounds_utc
from theletter_data.raw.layout import LineStream, empty_day_marker
from theletter_data.resources.ingest_engine import IngestEngine
from theletter_data.resources.lake import Lake, LakeObject
from theletter_data.resources.warehouse import Warehouse
from theletter_data.staging.arrival_windows import stored_windows


@dataclass
class ArrivalWindows:
    """The arrival windows a run judges by: the default lateness, and the days whose window a
    replay widened (stored ones, and this run's), by the end of their window."""

    default: timedelta
    ends: dict[date, datetime] = field(default_factory=dict)
    stored: dict[date, datetime] = field(default_factory=dict)

    def lateness(self, day: date) -> timedelta:
        day_end = day_bounds_utc(day)[1]
        return max(self.default, self.ends.get(day, day_end) - day_end)

    def rows(self, days: Sequence[date]) -> dict[date, datetime] | None:
        """The windows to store for `days`: None when none of them has or had a wider one."""
        widened = {d: self.ends[d] for d in days if d in self.ends}
        return widened or None


def arrival_windows(
    stream: LineStream,
    days: Sequence[date],
    warehouse: Warehouse,
    engine: IngestEngine,
    replay_until: datetime | None,
) -> ArrivalWindows:
    """The windows of `days`: widened by the stored replays that reach them and, with
    `replay_until`, to that instant (staging/arrival_windows.py)."""
    windows = ArrivalWindows(engine.allowed_lateness)
    if not stream.late_records_possible:
        return windows
    since, _ = stream.arrival_window(min(days), engine.allowed_lateness)
    windows.stored = stored_windows(warehouse, stream.name, since)
    windows.ends = dict(windows.stored)
    if replay_until is not None:
        for day in days:
            if replay_until - day_bounds_utc(day)[1] > windows.lateness(day):
                windows.ends[day] = replay_until
    return windows


@dataclass(frozen=True)
class DayPlan:
    day: date
    objects: list[LakeObject]
    outside_layout: list[str]
    window: tuple[datetime, datetime]
    """The delivery hours [first, end) whose objects the day reads."""
    declared_empty: bool = False

    @property
    def bytes(self) -> int:
        return sum(o.size for o in self.objects)


def plan_days(
    stream: LineStream,
    days: Sequence[date],
    lake: Lake,
    windows: ArrivalWindows,
    may_be_empty: bool = False,
) -> list[DayPlan]:
    """Each day's objects; a day without any fails at once (no retry brings objects that were
    never delivered) naming why, unless an operator declared it empty."""
    return [plan_day(stream, day, lake, windows.lateness(day), may_be_empty) for day in days]


def plan_day(
    stream: LineStream, day: date, lake: Lake, lateness: timedelta, may_be_empty: bool = False
) -> DayPlan:
    listing = stream.list_window(lake, day, lateness)
    window = stream.arrival_window(day, lateness)
    if listing.objects or may_be_empty:
        return DayPlan(day, listing.objects, listing.outside_layout, window)
    marker = empty_day_marker(stream, day)
    if lake.exists(marker):
        return DayPlan(day, [], listing.outside_layout, window, declared_empty=True)
    if not lake.folder_exists():
        raise dg.Failure(
            f"The lake root `{lake.url}` does not exist (or holds nothing), so {day} cannot be "
            f"staged. Check the lake's location: THELETTER_LAKE_URL in production, "
            "THELETTER_DATA_DIR locally (`theletter-data generate` writes a demo lake).",
            allow_retries=False,
        )
    if not lake.folder_exists(stream.prefix):
        raise dg.Failure(
            f"The lake `{lake.url}` has no `{stream.prefix}/` folder at all, so {day} cannot be "
            f"staged: the stream has never been delivered to this lake. Check the producer's "
            f"destination prefix (the Firehose delivery stream, or the log export task) and "
            f"the lake's location.",
            allow_retries=False,
        )
    first, end = window
    raise dg.Failure(
        f"No `{stream.prefix}/` objects were delivered between {first:%Y-%m-%d %H:00} "
        f"and {end:%Y-%m-%d %H:00} UTC, the arrival window of {day}: staging it would "
        "publish a day without any. Check the stream's producer (the Firehose delivery "
        "stream, or the log export task). If the day truly had no events, declare it by "
        f"writing the object `{marker}` (any content, e.g. why) and stage it again."
        + _named_outside_layout(listing.outside_layout),
        allow_retries=False,
    )


def _named_outside_layout(keys: Sequence[str]) -> str:
    if not keys:
        return ""
    more = f" and {len(keys) - 5} more" if len(keys) > 5 else ""
    return f" Keys outside the layout, not read: {', '.join(keys[:5])}{more}."


def group_objects(group: Sequence[DayPlan]) -> list[LakeObject]:
    """The objects of a group's days, each once, in key (delivery) order: neighbouring days'
    windows overlap, and a group reads an object once for all of its days."""
    unique = {o.key: o for plan in group for o in plan.objects}
    return [unique[key] for key in sorted(unique)]


def write_groups(
    planned: Sequence[DayPlan], max_bytes: int, max_days: int
) -> Iterator[list[DayPlan]]:
    return grouped(planned, [plan.bytes for plan in planned], max_bytes, max_days)


def object_batches(objects: Sequence[LakeObject], max_bytes: int) -> Iterator[list[LakeObject]]:
    return grouped(objects, [o.size for o in objects], max_bytes)


_Item = TypeVar("_Item")


def grouped(
    items: Sequence[_Item], sizes: Sequence[int], max_bytes: int, max_items: int | None = None
) -> Iterator[list[_Item]]:
    """Consecutive items in groups of at most `max_bytes` (an item larger than that alone) and
    `max_items`."""
    group: list[_Item] = []
    total = 0
    for item, size in zip(items, sizes, strict=True):
        if group and (total + size > max_bytes or len(group) == max_items):
            yield group
            group, total = [], 0
        group.append(item)
        total += size
    if group:
        yield group
