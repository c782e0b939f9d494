"""`stage_days` and `stage_day`: a line stream's days from the lake to the warehouse.

A group of consecutive days is read and judged in one engine session and written in one
warehouse write, which takes the staged rows as they stream, then the quarantine rows (and the
widened arrival windows), and commits only after both: a failure while reading, or a day above
the quarantine limit, leaves every day of the group as it was.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import date, datetime, timedelta

import pyarrow as pa

from theletter_data.partitions import FIRST_DAY
from theletter_data.resources.ingest_engine import IngestEngine
from theletter_data.resources.lake import Lake
from theletter_data.resources.pseudonymizer import Pseudonymizer
from theletter_data.resources.warehouse import PartitionWrite, Warehouse
from theletter_data.staging.arrival_windows import ARRIVAL_WINDOWS, window_rows
from theletter_data.staging.known_newsletters import known_newsletters
from theletter_data.staging.lake_listing import listed_once
from theletter_data.staging.lines.accounting import (
    StagedDay,
    count_days,
    quarantine_rows,
    quarantined_by_object,
)
from theletter_data.staging.lines.declaration import LineStaging
from theletter_data.staging.lines.first_copies import FirstCopies
from theletter_data.staging.lines.judging import Judge
from theletter_data.staging.lines.planning import (
    ArrivalWindows,
    DayPlan,
    arrival_windows,
    group_objects,
    object_batches,
    plan_day,
    plan_days,
    write_groups,
)
from theletter_data.staging.lines.reading import LineReader
from theletter_data.staging.lines.session import GroupSession
from theletter_data.staging.quarantine import QUARANTINE
from theletter_data.staging.streamed_write import WriteGuard, streamed


def stage_days(
    staging: LineStaging,
    days: Sequence[date],
    *,
    lake: Lake,
    engine: IngestEngine,
    pseudonymizer: Pseudonymizer,
    warehouse: Warehouse,
    replay_until: datetime | None = None,
) -> Iterator[StagedDay]:
    """Replace the partitions of consecutive `days` (and their quarantine rows) from the lake,
    yielding each day's account once it is committed. The days' folders are listed once;
    consecutive days are staged together, up to `engine.write_bytes` of raw objects or
    `engine.max_days_per_write` days: a backfill of small days pays one engine session and one
    warehouse transaction (on BigQuery one load job and one MERGE) a month, not one a day,
    while a big day is still staged alone. With `replay_until`, every day also reads the
    objects delivered before that instant (a replay of late records:
    staging/arrival_windows.py)."""
    windows = arrival_windows(staging.stream, days, warehouse, engine, replay_until)
    listed = listed_once(lake)
    planned = plan_days(staging.stream, days, listed, windows, staging.quiet_days)
    for group in write_groups(planned, engine.write_bytes, engine.max_days_per_write):
        yield from _stage_group(
            staging, group, lake=listed, engine=engine, pseudonymizer=pseudonymizer,
            warehouse=warehouse, only_this_day=False, windows=windows,
        )  # fmt: skip


def stage_day(
    staging: LineStaging,
    day: date,
    *,
    lake: Lake,
    engine: IngestEngine,
    pseudonymizer: Pseudonymizer,
    warehouse: Warehouse,
    only_this_day: bool = False,
    replay_until: datetime | None = None,
) -> StagedDay:
    """Replace `day`'s partition of the staged table (and its quarantine rows) from the lake.
    With `only_this_day` (a table of the current day so far) every other day's rows go and the
    quarantine is left to the day's own staging."""
    if only_this_day:  # a day so far: its window is open, and it may have no object yet
        windows = ArrivalWindows(engine.allowed_lateness)
        plan = plan_day(staging.stream, day, lake, engine.allowed_lateness, may_be_empty=True)
        (result,) = _stage_group(
            staging, [plan], lake=lake, engine=engine, pseudonymizer=pseudonymizer,
            warehouse=warehouse, only_this_day=True, windows=windows,
        )  # fmt: skip
        return result
    (result,) = stage_days(
        staging, [day], lake=lake, engine=engine, pseudonymizer=pseudonymizer,
        warehouse=warehouse, replay_until=replay_until,
    )  # fmt: skip
    return result


def _stage_group(
    staging: LineStaging,
    group: Sequence[DayPlan],
    *,
    lake: Lake,
    engine: IngestEngine,
    pseudonymizer: Pseudonymizer,
    warehouse: Warehouse,
    only_this_day: bool,
    windows: ArrivalWindows,
) -> list[StagedDay]:
    """Stage consecutive days in one engine session and one warehouse write: every line is
    judged once, for the day that answers for it; each day is deduplicated, held to the
    quarantine limit and reconciled on its own."""
    known = {plan.day: known_newsletters(lake, plan.day, engine) for plan in group}
    results = [
        StagedDay(
            day=plan.day,
            objects=len(plan.objects),
            bytes=plan.bytes,
            outside_layout=plan.outside_layout,
            declared_empty=plan.declared_empty,
            window_end=windows.ends.get(plan.day),
            newsletters_checked_against=known[plan.day].as_of,
        )
        for plan in group
    ]
    guard = WriteGuard()
    quarantines: list[pa.Table] = []

    def staged_batches() -> Iterator[pa.RecordBatch]:
        """Read a batch of objects, hand over its new events, forget all but their ids: the
        days stream through, so memory and spill hold one batch, not the days."""
        with engine.session() as con:
            session = GroupSession(con, staging, group, windows, pseudonymizer.sql_params(), known)
            judge = Judge(session)
            reader = LineReader(session, judge.judge)
            copies = FirstCopies(session)
            batches = list(object_batches(group_objects(group), engine.batch_bytes))
            for number, batch in enumerate(batches, start=1):
                judge.new_batch()
                with lake.local_files([o.key for o in batch]) as paths:
                    reader.read(batch, paths)
                judge.route()
                yield from copies.take(last_batch=number == len(batches))
            count_days(session, copies, group, results)
            if only_this_day:
                return
            for result in results:
                engine.check_quarantine_share(
                    f"{staging.table.name} {result.day}",
                    result.records_read,
                    result.quarantined,
                    quarantined_by_object(session, result.day),
                    unreadable=result.unreadable,
                    objects=result.objects,
                    total_bytes=result.bytes,
                )
            quarantines.append(quarantine_rows(session))

    def quarantine_batches() -> Iterator[pa.RecordBatch]:
        """Read only once the staged rows have streamed, so every day has been judged."""
        for rows in quarantines:
            yield from rows.to_batches()

    first, end = group[0].day, group[-1].day + timedelta(days=1)
    replace_from = date.fromisoformat(FIRST_DAY) if only_this_day else first
    writes = [
        PartitionWrite(
            staging.table, replace_from, end, rows=streamed(guard, staging.table, staged_batches())
        )
    ]
    if not only_this_day:
        quarantine = streamed(guard, QUARANTINE, quarantine_batches())
        scope = {"stream": staging.stream.name}
        writes.append(PartitionWrite(QUARANTINE, first, end, rows=quarantine, scope=scope))
        widened = windows.rows([plan.day for plan in group])
        if widened is not None:  # kept with the rows they explain, in the same transaction
            rows = window_rows(staging.stream.name, widened)
            writes.append(PartitionWrite(ARRIVAL_WINDOWS, first, end, rows=rows, scope=scope))
    with guard.reraised():
        counts = warehouse.replace(writes)
    if len(results) == 1:
        results[0].rows_in_table = counts[staging.table.qualified_name]
    else:
        in_table = warehouse.rows_per_day(staging.table, first, end)
        for result in results:
            result.rows_in_table = in_table.get(result.day, 0)
    return results
