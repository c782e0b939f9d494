"""The engine-side state of a group of consecutive days staged together: one DuckDB session,
its parameters and the temporary tables the reading, judging and accounting share.

- `judged`: the current batch's lines, each with the day that answers for it and its place;
- `quarantined`: bad lines (and whole objects) the group's days answer for;
- `counters`, `crossings`, `late_lines`: per-day figures (blank lines, records of another day
  in a day's window, records quarantined as late);
- `seen`: the events already handed over, by day and the md5 of their id (16 bytes each).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime

import duckdb
import pyarrow as pa

from theletter_data.partitions import TIMEZONE, TOKYO
from theletter_data.raw.sources import CLOCK_SKEW
from theletter_data.sql import duckdb_params
from theletter_data.staging.known_newsletters import KnownNewsletters
from theletter_data.staging.lines.declaration import LineStaging
from theletter_data.staging.lines.planning import ArrivalWindows, DayPlan


@dataclass(frozen=True)
class UnreadableObject:
    """An object none of whose lines could be read."""

    key: str
    size: int
    cause: str
    arrival_hour: datetime


class GroupSession:
    def __init__(
        self,
        con: duckdb.DuckDBPyConnection,
        staging: LineStaging,
        plans: Sequence[DayPlan],
        windows: ArrivalWindows,
        hmac_params: Mapping[str, bytes],
        known: Mapping[date, KnownNewsletters],
    ) -> None:
        self.con = con
        self.staging = staging
        self.days = [plan.day for plan in plans]
        self.params: dict[str, object] = {
            **hmac_params,
            **staging.params,
            "timezone": TIMEZONE,
            "first_day": self.days[0],
            "last_day": self.days[-1],
            "stream": staging.stream.name,
            "skew": CLOCK_SKEW,
            "lateness": windows.default,
            "check_newsletters": staging.newsletters_must_exist,
            "last_scan": 0,
        }
        self.columns = ", ".join(staging.carried_columns)
        self.unreadable: list[UnreadableObject] = []
        con.register("group_days", _group_days(plans, known))
        con.register("known_newsletters", _known_ids(known))
        # Days whose window a replay widened: their late records are theirs, not quarantined.
        con.register(
            "widened_windows",
            pa.table(
                {
                    "event_day": pa.array(list(windows.ends), pa.date32()),
                    "ends": pa.array(list(windows.ends.values()), pa.timestamp("us", tz="UTC")),
                }
            ),
        )
        self.no_lines()
        self.run(
            "CREATE TEMP TABLE quarantined (judged_day DATE, source_object VARCHAR, "
            "reason VARCHAR, raw_line VARCHAR, line_number BIGINT, object_level BOOLEAN)"
        )
        self.run("CREATE TEMP TABLE counters (judged_day DATE, kind VARCHAR, n BIGINT)")
        self.run("CREATE TEMP TABLE crossings (arrival_hour TIMESTAMPTZ, event_day DATE, n BIGINT)")
        self.run(
            "CREATE TEMP TABLE late_lines (judged_day DATE, event_day DATE, "
            "arrival_hour TIMESTAMPTZ)"
        )
        self.run("CREATE TEMP TABLE seen (judged_day DATE, event_key UHUGEINT)")

    def run(self, sql: str, **extra: object) -> list[tuple]:
        """Execute with the parameters the statement names (DuckDB refuses unused ones)."""
        return self.con.execute(sql, duckdb_params(sql, {**self.params, **extra})).fetchall()

    def scalar(self, sql: str, **extra: object) -> object:
        return self.run(sql, **extra)[0][0]

    def no_lines(self) -> None:
        """`raw_lines` reads nothing (until a batch is read)."""
        self.set_raw_lines(
            "SELECT NULL::VARCHAR AS source_object, NULL::TIMESTAMPTZ AS arrival_hour, "
            "NULL::VARCHAR AS line WHERE false"
        )

    def set_raw_lines(self, select: str) -> None:
        self.run(f"CREATE OR REPLACE TEMP VIEW raw_lines AS {select}")

    def answering_day(self, arrival_hour: datetime) -> date | None:
        """The group's day that answers for an object's unreadable or damaged content (the
        Japan-time day it arrived on), if the group has it."""
        day = arrival_hour.astimezone(TOKYO).date()
        return day if self.days[0] <= day <= self.days[-1] else None

    def quarantine_object(self, key: str, arrival_hour: datetime, reason: str, detail: str) -> None:
        """A whole object's entry in the quarantine of the day it arrived on (if in the group)."""
        day = self.answering_day(arrival_hour)
        if day is not None:
            self.run(
                "INSERT INTO quarantined VALUES ($day, $key, $reason, $detail, NULL, true)",
                day=day,
                key=key,
                reason=reason,
                detail=detail,
            )


def _group_days(plans: Sequence[DayPlan], known: Mapping[date, KnownNewsletters]) -> pa.Table:
    """One row per day of the group: its arrival window and whether events are checked against
    a newsletters export."""
    return pa.table(
        {
            "day": pa.array([p.day for p in plans], pa.date32()),
            "window_first": pa.array([p.window[0] for p in plans], pa.timestamp("us", tz="UTC")),
            "window_end": pa.array([p.window[1] for p in plans], pa.timestamp("us", tz="UTC")),
            "checks_newsletters": [known[p.day].checked for p in plans],
        }
    )


def _known_ids(known: Mapping[date, KnownNewsletters]) -> pa.Table:
    days, ids = [], []
    for day, newsletters in known.items():
        distinct = sorted(set(newsletters.ids.column("newsletter_id").to_pylist()))
        days += [day] * len(distinct)
        ids += distinct
    return pa.table({"event_day": pa.array(days, pa.date32()), "newsletter_id": ids})
