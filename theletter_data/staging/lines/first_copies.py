"""Deduplication: each batch's new events go to the warehouse as their first delivered copy.

Firehose delivers at least once, so an event may come in several objects. Objects are read in
delivery (key) order, so an event's first copy is in the first batch that holds it, and within
a batch it is the copy of the first object (then of the least staged values, so that the choice
never depends on how the objects were batched). Between batches only the ids of the events
handed over are kept (`seen`: the day and the md5 of the id, 16 bytes an event).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from datetime import date

import pyarrow as pa
import pyarrow.compute as pc

from theletter_data.sql import duckdb_params
from theletter_data.staging.lines.session import GroupSession


class FirstCopies:
    def __init__(self, session: GroupSession) -> None:
        self.session = session
        self.candidates: Counter[date] = Counter()
        """Valid records of each day read so far, copies included."""
        self.staged: Counter[date] = Counter()
        self.late_accepted: Counter[date] = Counter()
        """Events staged whose first copy was delivered after their day ended (inside the
        window)."""
        self._seen_any = False

    def take(self, last_batch: bool) -> Iterator[pa.RecordBatch]:
        """The batch's events not handed over before, each as its first copy, with its day and
        source object; the ids are kept for later batches (not after the last one)."""
        session, run = self.session, self.session.run
        table = session.staging.table
        for day, n in run(
            "SELECT judged_day, COUNT(*) FROM judged WHERE disposition = 'candidate' "
            "GROUP BY judged_day"
        ):
            self.candidates[day] += n
        if self._seen_any:
            run(
                "DELETE FROM judged USING seen WHERE judged.disposition = 'candidate' "
                "AND seen.judged_day = judged.judged_day "
                "AND seen.event_key = md5_number(judged.event_id)"
            )
        # Events delivered more than once in the batch: few, so only they are sorted.
        run(
            "CREATE OR REPLACE TEMP TABLE repeated AS SELECT judged_day, event_id FROM judged "
            "WHERE disposition = 'candidate' GROUP BY ALL HAVING COUNT(*) > 1"
        )
        order = ", ".join(["source_object", *session.staging.carried_columns])
        select = ", ".join(
            f"judged_day AS {c}" if c == table.partition_by else c for c in table.column_names
        )
        key = "USING (judged_day, event_id) WHERE disposition = 'candidate'"
        sql = (
            f"SELECT {select} FROM judged ANTI JOIN repeated {key} "
            f"UNION ALL SELECT {select} FROM judged SEMI JOIN repeated {key} "
            f"QUALIFY row_number() OVER (PARTITION BY judged_day, event_id ORDER BY {order}) = 1"
        )
        reader = session.con.sql(sql, params=duckdb_params(sql, session.params)).to_arrow_reader()
        for rows in reader:  # streamed: the batch's rows are never all in Arrow at once
            for counted in pc.value_counts(rows.column(table.partition_by)).to_pylist():
                self.staged[counted["values"]] += counted["counts"]
            yield rows
        for day, n in run(
            "SELECT judged_day, COUNT(*) FROM (SELECT judged_day, MIN(arrival_hour) AS first "
            "FROM judged WHERE disposition = 'candidate' GROUP BY judged_day, event_id) "
            "WHERE first >= timezone($timezone, CAST(judged_day + 1 AS TIMESTAMP)) "
            "GROUP BY judged_day"
        ):
            self.late_accepted[day] += n
        if not last_batch:
            run(
                "INSERT INTO seen SELECT DISTINCT judged_day, md5_number(event_id) FROM judged "
                "WHERE disposition = 'candidate'"
            )
            self._seen_any = True
