"""Where a backfill run's time went: each step's wall time and the rows it wrote, read from the
run's events in the instance that recorded it."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

import dagster as dg


@dataclass(frozen=True)
class Step:
    name: str
    seconds: float
    rows: int
    """Rows the step wrote (its partitions' `dagster/row_count`), 0 for a step without any."""


def run_steps(instance: dg.DagsterInstance, run_id: str) -> list[Step]:
    """Each step's wall time (from its start to its end event) and the rows it wrote, longest
    first."""
    started: dict[str, float] = {}
    ended: dict[str, float] = {}
    rows: dict[str, int] = defaultdict(int)
    for entry in instance.all_logs(run_id):
        event = entry.dagster_event
        if event is None or event.step_key is None:
            continue
        if event.event_type_value == "STEP_START":
            started[event.step_key] = entry.timestamp
        elif event.event_type_value in ("STEP_SUCCESS", "STEP_FAILURE"):
            ended[event.step_key] = entry.timestamp
        elif event.event_type_value == "ASSET_MATERIALIZATION":
            count = event.event_specific_data.materialization.metadata.get("dagster/row_count")
            rows[event.step_key] += int(count.value) if count is not None else 0
    return sorted(
        (Step(key, ended.get(key, start) - start, rows[key]) for key, start in started.items()),
        key=lambda s: -s.seconds,
    )
