"""A year's backfill as a benchmark part: the whole `daily_refresh` graph, with all its checks,
over a generated year, one run for all 365 partitions (a single-run backfill, as the demo and
an operator's backfill run it), each step's time and rows per second.

Scale 1.0 is the year the README describes: 25,000 readers of 40 newsletters, about 26.4M SES
records and 11.2M page views (37.5M events in about 211,000 objects), plus the app's exports
every day. A smaller scale has proportionally fewer readers, so the same 365 days and about
the same number of objects hold fewer events: the per-day costs stay, the per-event ones shrink.
"""

from __future__ import annotations

import shutil
import time
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import dagster as dg
from dagster._core.storage.tags import (
    ASSET_PARTITION_RANGE_END_TAG,
    ASSET_PARTITION_RANGE_START_TAG,
)

from theletter_data.definitions import build_definitions
from theletter_data.resources.lake import Lake
from theletter_data.settings import Environment, Settings
from theletter_data_dev.benchmark.steps import Step, run_steps
from theletter_data_dev.generate import generate_lake

FIRST = date(2025, 11, 27)
LAST = date(2026, 11, 26)
READERS_AT_SCALE_1 = 25_000
NEWSLETTERS = 40


@dataclass(frozen=True)
class YearRun:
    scale: float
    readers: int
    raw_objects: int
    raw_bytes: int
    generate_seconds: float | None
    """None when the lake was already there."""
    run_seconds: float
    steps: list[Step]
    success: bool


def readers_at(scale: float) -> int:
    return max(1, round(READERS_AT_SCALE_1 * scale))


def year_lake(root: Path, scale: float, workers: int = 2) -> tuple[Path, float | None]:
    """The generated year at `scale` under `root` (built once, then reused) and the seconds
    its generation took (None if reused)."""
    folder = root / f"year-{scale:g}"
    if (folder / "COMPLETE").exists():
        return folder, None
    shutil.rmtree(folder, ignore_errors=True)
    started = time.perf_counter()
    generate_lake(
        Lake(url=str(folder)), FIRST, LAST,
        newsletters=NEWSLETTERS, readers=readers_at(scale), seed=7, workers=workers,
    )  # fmt: skip
    (folder / "COMPLETE").touch()
    return folder, time.perf_counter() - started


def year_backfill(root: Path, scale: float) -> YearRun:
    """Generate (or reuse) the year, then run `daily_refresh` over all of it into a fresh
    warehouse, in this process as the demo runs it."""
    lake_dir, generated = year_lake(root, scale)
    data = root / "year-run"
    shutil.rmtree(data, ignore_errors=True)
    data.mkdir(parents=True)
    (data / "lake").symlink_to(lake_dir.resolve(), target_is_directory=True)
    settings = Settings(environment=Environment.LOCAL, data_dir=data, pseudonym_key_set=False)
    job = build_definitions(settings).resolve_job_def("daily_refresh")
    instance = dg.DagsterInstance.ephemeral()
    tags = {
        ASSET_PARTITION_RANGE_START_TAG: FIRST.isoformat(),
        ASSET_PARTITION_RANGE_END_TAG: LAST.isoformat(),
    }
    started = time.perf_counter()
    result = job.execute_in_process(instance=instance, tags=tags, raise_on_error=False)
    seconds = time.perf_counter() - started
    raw = [p for p in lake_dir.rglob("*") if p.is_file() and p.suffix == ".gz"]
    run = YearRun(
        scale=scale,
        readers=readers_at(scale),
        raw_objects=len(raw),
        raw_bytes=sum(p.stat().st_size for p in raw),
        generate_seconds=generated,
        run_seconds=seconds,
        steps=run_steps(instance, result.run_id),
        success=result.success,
    )
    shutil.rmtree(data, ignore_errors=True)
    return run
