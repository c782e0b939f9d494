"""Judging: every line read for a group of days goes to the day that answers for it and to its
place there (sql/judge.sql), in one pass over the batch; the bad lines, blank lines and
late records are then routed to the group's tables (session.py), and the candidates wait in
`judged` for deduplication (first_copies.py)."""

from __future__ import annotations

from theletter_data.sql import read_sql
from theletter_data.staging.lines.declaration import LineStaging
from theletter_data.staging.lines.session import GroupSession

_JUDGE = read_sql(__file__, "judge")
_PROJECTION = "/* the stream's projection */"


def judge_sql(staging: LineStaging) -> str:
    """sql/judge.sql over the stream's projection."""
    if _JUDGE.count(_PROJECTION) != 1:
        raise ValueError(f"sql/judge.sql must hold `{_PROJECTION}` once")
    return _JUDGE.replace(_PROJECTION, staging.sql)


class Judge:
    def __init__(self, session: GroupSession) -> None:
        self.session = session
        self.sql = judge_sql(session.staging)

    def new_batch(self) -> None:
        """An empty `judged`, for the lines of the next batch."""
        self.session.no_lines()
        self.session.run("DROP TABLE IF EXISTS judged")
        self.session.run(f"CREATE TEMP TABLE judged AS {self.sql} LIMIT 0")

    def judge(self) -> None:
        """Judge the lines `raw_lines` reads now (a batch may be read in several scans)."""
        self.session.run(f"INSERT INTO judged BY NAME {self.sql}")

    def route(self) -> None:
        """The batch's lines that are not candidates, to the group's tables."""
        run = self.session.run
        run(
            "INSERT INTO quarantined SELECT judged_day, source_object, problem, raw_line, NULL, "
            "false FROM judged WHERE disposition = 'quarantine'"
        )
        run(
            "INSERT INTO counters SELECT judged_day, 'blank', COUNT(*) FROM judged "
            "WHERE disposition = 'blank' GROUP BY judged_day"
        )
        # Valid records by delivery hour and their own day: each day counts those of other
        # days that its window read (`other_days`).
        run(
            "INSERT INTO crossings SELECT arrival_hour, event_day, COUNT(*) FROM judged "
            "WHERE problem IS NULL OR problem = 'unknown_newsletter' GROUP BY ALL"
        )
        run(
            "INSERT INTO late_lines SELECT judged_day, event_day, arrival_hour FROM judged "
            "WHERE problem = 'arrived_after_window' AND disposition = 'quarantine'"
        )
