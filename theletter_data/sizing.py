"""Container sizes per asset: as the original Digdag setup chose an ECS task spec per task, each
asset declares the Fargate task its run needs, so heavy ingestion gets CPU and memory and a
metric that only submits SQL to the warehouse runs in the smallest task.

The sizes travel as the op tags `ecs/cpu` and `ecs/memory` of each asset's step; the production
run launcher (ecs_launcher.py, through dagster-aws's `get_cpu_and_memory_overrides`) sizes every
run, whoever launched it, as the largest of its steps.
How long a run may take is a job's tag (`max_runtime`), enforced by run monitoring.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import timedelta

CPU_TAG = "ecs/cpu"
MEMORY_TAG = "ecs/memory"
MAX_RUNTIME_TAG = "dagster/max_runtime"
ONE_AT_A_TIME_TAG = "theletter/one_run_at_a_time"

WAREHOUSE_POOL = "warehouse"
"""The concurrency pool of every step that writes the warehouse: the production instance caps how
many run at once (dagster.yaml). Locally the DuckDB warehouse's own writer lock lets one run write
at a time (resources/writer_lock.py)."""


@dataclass(frozen=True, order=True)
class TaskSize:
    """A Fargate CPU/memory combination (CPU units; memory in MiB)."""

    cpu: int
    memory: int

    @property
    def op_tags(self) -> dict[str, str]:
        return {CPU_TAG: str(self.cpu), MEMORY_TAG: str(self.memory)}

    @property
    def task_overrides(self) -> dict[str, str]:
        """As ECS's RunTask overrides name them (what EcsRunLauncher's sizing hook returns)."""
        return {"cpu": str(self.cpu), "memory": str(self.memory)}

    @property
    def memory_limit_for_engine(self) -> str:
        """What an in-process engine may use: three quarters, the rest is Python and buffers."""
        return f"{self.memory * 3 // 4}MB"


INGESTION = TaskSize(cpu=2048, memory=8192)
"""Parsing a day of raw logs in DuckDB: 2 vCPU, 8 GiB."""
SNAPSHOT = TaskSize(cpu=1024, memory=4096)
"""Staging an app export snapshot: 1 vCPU, 4 GiB."""
WAREHOUSE_SQL = TaskSize(cpu=256, memory=1024)
"""Submitting SQL to the warehouse and waiting: 0.25 vCPU, 1 GiB."""

SIZES = (WAREHOUSE_SQL, SNAPSHOT, INGESTION)
"""Ordered smallest first; each is a valid Fargate combination, so the largest is one too."""


def size_for(step_tags: Iterable[Mapping[str, str] | None]) -> TaskSize | None:
    """The size a run needs: the largest size any of its steps declares, or None."""
    declared = [
        TaskSize(int(tags[CPU_TAG]), int(tags[MEMORY_TAG]))
        for tags in step_tags
        if tags and CPU_TAG in tags and MEMORY_TAG in tags
    ]
    return max(declared) if declared else None


def max_runtime(limit: timedelta) -> dict[str, str]:
    """A job's tags: the daemon's run monitoring fails a run of the job still going after
    `limit` (its task stopped, the failure alerted, the run retried); a run of no job gets
    `run_monitoring.max_runtime_seconds` of dagster.yaml."""
    seconds = int(limit.total_seconds())
    if seconds < 1:  # Dagster reads 0 (and anything but a number) as "no limit at all"
        raise ValueError(f"a run's time limit must be at least a second, not {limit}")
    return {MAX_RUNTIME_TAG: str(seconds)}


def one_run_at_a_time(name: str) -> dict[str, str]:
    """A job's tags: the production instance launches one run per value of this tag at a time,
    oldest first (dagster.yaml), so that a job backfill's runs of consecutive months go in
    order. Locally nothing limits it (one run backfills the whole range there anyway)."""
    return {ONE_AT_A_TIME_TAG: name}
