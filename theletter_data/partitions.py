"""Partitions shared by every layer: days and weeks as theLetter's readers live them (Japan)."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import dagster as dg

TIMEZONE = "Asia/Tokyo"
TOKYO = ZoneInfo(TIMEZONE)
FIRST_DAY = "2025-01-01"

daily_partitions = dg.DailyPartitionsDefinition(start_date=FIRST_DAY, timezone=TIMEZONE)
"""One partition per Japan-time calendar day; an event's own timestamp decides its day."""

weekly_partitions = dg.WeeklyPartitionsDefinition(
    start_date="2025-01-06", timezone=TIMEZONE, day_offset=1
)
"""Weeks starting on Monday, Japan time (the first Monday on or after FIRST_DAY)."""


def date_bounds(window: dg.TimeWindow) -> tuple[date, date]:
    """The Japan-time dates [start, end) of a partition time window."""
    return window.start.astimezone(TOKYO).date(), window.end.astimezone(TOKYO).date()


def days_in(window: dg.TimeWindow) -> list[date]:
    """The calendar days covered by a partition time window, in order."""
    first, end = date_bounds(window)
    return [first + timedelta(days=i) for i in range((end - first).days)]


def day_bounds_utc(day: date) -> tuple[datetime, datetime]:
    """The UTC instants at which a Japan-time calendar day starts and ends."""
    start = datetime.combine(day, datetime.min.time(), tzinfo=TOKYO)
    return start.astimezone(ZoneInfo("UTC")), (start + timedelta(days=1)).astimezone(
        ZoneInfo("UTC")
    )


class CurrentDay(dg.Config):
    """Run config of the current-day (intraday) assets."""

    day: str | None = None
    """The Japan-time day to compute (YYYY-MM-DD); default: today."""


def current_day(day: str | None) -> date:
    return date.fromisoformat(day) if day else datetime.now(TOKYO).date()
