"""Incident tracing: one request id, or one newsletter, followed across every service's logs in a
time window, in the order things happened (`theletter-data trace`). Reads `stg_app_logs` on
either warehouse; on BigQuery the table is partitioned by day and clustered by request and
newsletter, so a trace scans only the window's days of those columns."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, timedelta
from typing import Any

from theletter_data.partitions import TOKYO
from theletter_data.resources.warehouse import Warehouse
from theletter_data.staging.app_logs import LEVELS, STG_APP_LOGS

MAX_EVENTS = 2_000
_COLUMNS = (
    "event_at", "service", "level", "request_id", "newsletter_id", "user_id", "post_id",
    "message", "error_type", "http_method", "http_path", "http_status", "duration_ms",
)  # fmt: skip


def trace(
    warehouse: Warehouse,
    start: datetime,
    end: datetime,
    *,
    request_id: str | None = None,
    newsletter_id: str | None = None,
    min_level: str = "DEBUG",
) -> list[dict[str, Any]]:
    """The log events of [start, end) of the request or newsletter, oldest first (at most
    MAX_EVENTS + 1, so that a caller can tell the trace was cut)."""
    if (request_id is None) == (newsletter_id is None):
        raise ValueError("trace one request id or one newsletter")
    if min_level not in LEVELS:
        raise ValueError(f"level must be one of {', '.join(LEVELS)}")
    column, value = ("request_id", request_id) if request_id else ("newsletter_id", newsletter_id)
    levels = ", ".join(f"'{level}'" for level in LEVELS[LEVELS.index(min_level) :])
    return warehouse.query(
        f"SELECT {', '.join(_COLUMNS)} FROM {STG_APP_LOGS.qualified_name} "
        "WHERE event_date >= @first_day AND event_date <= @last_day "
        "AND event_at >= @start AND event_at < @end "
        f"AND {column} = @value AND level IN ({levels}) "
        f"ORDER BY event_at, service, event_id LIMIT {MAX_EVENTS + 1}",
        {
            "first_day": _day(start),
            "last_day": _day(end - timedelta(microseconds=1)),
            "start": start,
            "end": end,
            "value": value,
        },
    ).to_pylist()


def format_trace(events: Sequence[dict[str, Any]]) -> str:
    """One line per event, Japan time, with what an on-call engineer reads first."""
    lines = []
    for event in events[:MAX_EVENTS]:
        at = event["event_at"].astimezone(TOKYO).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]
        ids = " ".join(
            f"{name}={event[name]}"
            for name in ("request_id", "newsletter_id", "post_id", "user_id")
            if event[name]
        )
        request = ""
        if event["http_method"]:
            request = f" [{event['http_method']} {event['http_path']} -> {event['http_status']}"
            if event["duration_ms"] is not None:
                request += f", {event['duration_ms']:.0f} ms"
            request += "]"
        error = f" ({event['error_type']})" if event["error_type"] else ""
        lines.append(
            f"{at} JST  {event['service']:<7} {event['level']:<8} {event['message']}{error}"
            f"{request}  {ids}"
        )
    if len(events) > MAX_EVENTS:
        lines.append(f"... more than {MAX_EVENTS:,} events: narrow the window or raise --level")
    return "\n".join(lines)


def _day(moment: datetime) -> date:
    return moment.astimezone(TOKYO).date()
