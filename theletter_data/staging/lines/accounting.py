"""Accounting: each day's figures (`StagedDay`) from the group's tables, the quarantine rows
the days answer for, and the replay their late records call for."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

import pyarrow as pa

from theletter_data.partitions import day_bounds_utc
from theletter_data.resources.ingest_engine import IngestEngine
from theletter_data.sql import duckdb_params
from theletter_data.staging.lines.first_copies import FirstCopies
from theletter_data.staging.lines.planning import DayPlan
from theletter_data.staging.lines.session import GroupSession
from theletter_data.staging.quarantine import masked_excerpt_sql
from theletter_data.staging.reconciliation import PartitionAccount


@dataclass
class StagedDay(PartitionAccount):
    """What one day's staging read and where every line went."""

    records_read: int = 0
    bytes: int = 0
    other_days: int = 0
    blank_lines: int = 0
    late_accepted: int = 0
    """Events staged whose first copy was delivered after the day ended (inside the window)."""
    unreadable: list[tuple[str, int, str]] = field(default_factory=list)
    """Objects of the day's window none of whose lines could be read: (key, bytes, cause)."""
    outside_layout: list[str] = field(default_factory=list)
    """Keys in the day's folders that are not objects of the stream's layout: not read."""
    declared_empty: bool = False
    """No objects, and an operator's marker says the day had none."""
    window_end: datetime | None = None
    """Set when a replay widened the day's window: objects delivered before this were read."""
    late_records: dict[date, tuple[int, datetime]] = field(default_factory=dict)
    """Records this day quarantined `arrived_after_window`, by their own day: (how many, the
    last delivery hour)."""
    quarantine_reasons: dict[str, int] = field(default_factory=dict)
    newsletters_checked_against: date | None = None
    """The newsletters export events were checked against (None: no export yet)."""

    @property
    def reconciles(self) -> bool:
        """Records read = staged + duplicates + quarantined (the table is compared apart)."""
        return self.balances


def count_days(
    session: GroupSession, copies: FirstCopies, plans: Sequence[DayPlan], days: Sequence[StagedDay]
) -> None:
    """Fill in each day's figures once the group's last batch has been judged."""
    run = session.run
    lines: dict[date, dict[str, int]] = defaultdict(dict)
    objects: dict[date, dict[str, int]] = defaultdict(dict)
    for day, object_level, reason, n in run(
        "SELECT judged_day, object_level, reason, COUNT(*) FROM quarantined GROUP BY ALL"
    ):
        (objects if object_level else lines)[day][reason] = int(n)
    blanks = dict(run("SELECT judged_day, SUM(n) FROM counters WHERE kind = 'blank' GROUP BY 1"))
    # A day's window also reads valid records of other days (their windows overlap).
    other_days = dict(
        run(
            "SELECT g.day, SUM(c.n) FROM group_days AS g JOIN crossings AS c "
            "ON c.arrival_hour >= g.window_first AND c.arrival_hour < g.window_end "
            "AND c.event_day IS DISTINCT FROM g.day GROUP BY g.day"
        )
    )
    late: dict[date, dict[date, tuple[int, datetime]]] = defaultdict(dict)
    for day, event_day, n, last in run(
        "SELECT judged_day, event_day, COUNT(*), MAX(arrival_hour) FROM late_lines GROUP BY ALL"
    ):
        late[day][event_day] = (int(n), last)
    for plan, result in zip(plans, days, strict=True):
        day = plan.day
        keys = {o.key for o in plan.objects}
        result.staged = copies.staged[day]
        result.duplicates = copies.candidates[day] - result.staged
        result.quarantined = sum(lines[day].values())
        result.quarantine_reasons = dict(
            sorted({**lines[day], **{f"{k} (objects)": v for k, v in objects[day].items()}}.items())
        )
        result.records_read = copies.candidates[day] + result.quarantined
        result.other_days = int(other_days.get(day, 0))
        result.blank_lines = int(blanks.get(day, 0))
        result.late_accepted = copies.late_accepted[day]
        result.late_records = late[day]
        result.unreadable = [(u.key, u.size, u.cause) for u in session.unreadable if u.key in keys]


def quarantined_by_object(session: GroupSession, day: date) -> list[tuple[str, str, int]]:
    """A day's objects by quarantined lines, most first: (key, reasons, lines)."""
    return [
        (str(key), str(reasons), int(n))
        for key, reasons, n in session.run(
            "SELECT source_object, string_agg(DISTINCT reason, ', ' ORDER BY reason), "
            "COUNT(*) AS n FROM quarantined WHERE judged_day = $day AND NOT object_level "
            "GROUP BY source_object ORDER BY n DESC, source_object",
            day=day,
        )
    ]


def quarantine_rows(session: GroupSession) -> pa.Table:
    """The group's quarantine rows: one per day, object, distinct bad line and reason."""
    sql = f"""
        SELECT judged_day AS event_date, $stream AS stream, source_object,
            CASE WHEN object_level THEN '' ELSE sha256(COALESCE(raw_line, '')) END
                AS line_sha256,
            reason,
            CASE WHEN object_level THEN 0 ELSE COUNT(*) END AS occurrences,
            MIN(line_number) AS line_number,
            {masked_excerpt_sql("MIN(raw_line)")} AS excerpt
        FROM quarantined
        GROUP BY judged_day, source_object, line_sha256, reason, object_level
    """
    return session.con.sql(sql, params=duckdb_params(sql, session.params)).to_arrow_table()


def replay_of_late_records(
    days: Sequence[StagedDay], engine: IngestEngine
) -> dict[str, object] | None:
    """The replay that would stage this run's late records into their own days: the days
    from the earliest such day to the last day that quarantined one, reading the objects
    delivered until the end of the last one's delivery hour. Only records that arrived within
    `engine.replay_lateness_hours` of their window's close; None when there are none."""
    horizon = engine.allowed_lateness + timedelta(hours=engine.replay_lateness_hours)
    late = [
        (event_day, staged.day, n, last)
        for staged in days
        for event_day, (n, last) in staged.late_records.items()
        if last < day_bounds_utc(event_day)[1] + horizon
    ]
    if not late:
        return None
    return {
        "first_day": min(event_day for event_day, _, _, _ in late).isoformat(),
        "last_day": max(arrived_on for _, arrived_on, _, _ in late).isoformat(),
        "arrivals_until": (max(last for *_, last in late) + timedelta(hours=1)).isoformat(),
        "records": sum(n for _, _, n, _ in late),
    }
