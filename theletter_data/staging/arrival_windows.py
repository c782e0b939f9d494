"""Arrival windows widened by a replay of late records, kept so that every later run agrees.

A Firehose day reads the objects delivered up to `allowed_lateness` after it ends; a record that
arrives later is quarantined `arrived_after_window` by the day it arrived on. Replaying it means
staging its day again with a wider window: the run tag `REPLAY_TAG` (an instant, UTC) makes
every day of the run read the objects delivered before it. The widened window is then stored
here, in the same warehouse write as the day's rows, so that

- a later ordinary re-run of the day reads the same objects (it never silently drops the
  replayed records again), and
- the days that the late objects arrived on leave those records to their own day instead of
  quarantining them.

The raw-arrivals sensor requests such a replay by itself when a staging run reports late records
within `IngestEngine.replay_lateness_hours` (automation/raw_arrivals.py); README "Replaying late
records" says how to do it by hand.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, date, datetime, timedelta

import dagster as dg
import pyarrow as pa

from theletter_data.resources.warehouse import Warehouse
from theletter_data.tables import Column, Table

REPLAY_TAG = "theletter/replay_arrivals_until"
"""Run tag: read, for every day of the run, the objects delivered before this instant (ISO 8601
with an offset, e.g. `2026-11-21T00:00:00Z`)."""

LATE_RECORDS_REPLAY = "late_records_replay"
"""Materialization metadata of a staging run that quarantined records delivered after their
day's window: the replay that would stage them (`first_day`, `last_day`, `arrivals_until`)."""

ARRIVAL_WINDOWS = Table(
    layer="staging",
    name="arrival_windows",
    grain="one row per stream per Japan-time day whose arrival window a replay widened",
    partition_by="event_date",
    key=("event_date", "stream"),
    cluster_by=("stream",),
    columns=(
        Column("event_date", "DATE", "The day whose window was widened."),
        Column("stream", "STRING", "Raw stream: ses_events, page_views."),
        Column("window_end", "TIMESTAMP", "Objects delivered before this are read for the day."),
    ),
)


def replay_until(tags: Mapping[str, str], now: datetime) -> datetime | None:
    """The run's replay instant, rounded up to a whole delivery hour; None without the tag.
    A bad value, or an instant still to come (objects delivered later would then belong to no
    day), fails the run at once."""
    text = tags.get(REPLAY_TAG)
    if text is None:
        return None
    try:
        until = datetime.fromisoformat(text)
    except ValueError:
        until = None
    if until is None or until.tzinfo is None:
        raise dg.Failure(
            f"Run tag {REPLAY_TAG}={text!r} is not an ISO 8601 instant with an offset "
            "(e.g. 2026-11-21T00:00:00Z).",
            allow_retries=False,
        )
    if until > now:
        raise dg.Failure(
            f"Run tag {REPLAY_TAG}={text!r} is in the future: a day may only read objects "
            "already delivered, or later ones would belong to no day. Give an instant in the "
            "past.",
            allow_retries=False,
        )
    return ceil_hour(until.astimezone(UTC))


def ceil_hour(moment: datetime) -> datetime:
    floor = moment.replace(minute=0, second=0, microsecond=0)
    return floor if floor == moment else floor + timedelta(hours=1)


def stored_windows(warehouse: Warehouse, stream: str, since: datetime) -> dict[date, datetime]:
    """The widened windows of `stream` that reach past `since` (and so can concern objects
    delivered after it), by day."""
    warehouse.create_table(ARRIVAL_WINDOWS)
    rows = warehouse.query(
        f"SELECT event_date, window_end FROM {ARRIVAL_WINDOWS.qualified_name} "
        "WHERE stream = @stream AND window_end > @since",
        {"stream": stream, "since": since},
    ).to_pylist()
    return {row["event_date"]: row["window_end"].astimezone(UTC) for row in rows}


def window_rows(stream: str, windows: Mapping[date, datetime]) -> pa.Table:
    days = sorted(windows)
    return pa.table(
        {
            "event_date": pa.array(days, pa.date32()),
            "stream": [stream] * len(days),
            "window_end": pa.array([windows[d] for d in days], pa.timestamp("us", tz="UTC")),
        }
    )
