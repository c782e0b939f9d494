"""The demo's four weeks as a benchmark part: `theletter-data demo` itself, in a process of its
own, on the demo's generated world (the command generates its lake on the first run; later runs
reuse it), into a new warehouse and a new local Dagster instance configured as the checkout's
`dagster_home`. Issue 17's goal is the time of its `daily_refresh` run over the 28 days.

The days are fixed (the year's last four weeks), not the demo's default "four weeks to
yesterday", so that one generated lake serves every run.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from unittest.mock import patch

import dagster as dg

from theletter_data_dev.benchmark.steps import Step, run_steps
from theletter_data_dev.launch import default_workspace_file

FIRST = date(2026, 10, 30)
LAST = date(2026, 11, 26)
JOBS = ("daily_refresh", "weekly_cohorts", "publish_dashboards")
"""The demo's runs, in its order."""


@dataclass(frozen=True)
class DemoRun:
    generated: bool
    """Whether this run generated the lake (its command's time then includes that)."""
    command_seconds: float
    run_seconds: dict[str, float]
    """Each job's run, from its start to its end as the instance recorded them."""
    steps: list[Step]
    """daily_refresh's steps."""
    success: bool


def demo_days(root: Path) -> DemoRun:
    lake = root / "demo-lake"
    generated = not (lake / "COMPLETE").exists()
    if generated:
        shutil.rmtree(lake, ignore_errors=True)
        lake.mkdir(parents=True)
    data = root / "demo-run"
    shutil.rmtree(data, ignore_errors=True)
    home = data / "dagster_home"
    home.mkdir(parents=True)
    (data / "lake").symlink_to(lake.resolve(), target_is_directory=True)
    shutil.copy(default_workspace_file().parent / "dagster_home" / "dagster.yaml", home)
    env = {k: v for k, v in os.environ.items() if k != "THELETTER_ENV"}
    env |= {"THELETTER_DATA_DIR": str(data), "DAGSTER_HOME": str(home)}
    command = [
        str(Path(sys.executable).with_name("theletter-data")), "demo",
        "--start", FIRST.isoformat(), "--end", LAST.isoformat(),
    ]  # fmt: skip
    started = time.perf_counter()
    done = subprocess.run(command, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if done.returncode == 0 and generated:
        (lake / "COMPLETE").touch()
    # The instance's storage finds its folder through DAGSTER_HOME, as in the demo's process.
    with patch.dict(os.environ, {"DAGSTER_HOME": str(home)}), dg.DagsterInstance.get() as instance:
        runs = {run.job_name: run.run_id for run in instance.get_runs()}
        run_seconds = {}
        for job in JOBS:
            record = instance.get_run_record_by_id(runs[job]) if job in runs else None
            if record and record.start_time and record.end_time:
                run_seconds[job] = record.end_time - record.start_time
        steps = run_steps(instance, runs["daily_refresh"]) if "daily_refresh" in runs else []
    if done.returncode != 0:
        sys.stderr.write(done.stdout[-4000:] + done.stderr[-4000:])
    shutil.rmtree(data, ignore_errors=True)
    return DemoRun(generated, seconds, run_seconds, steps, done.returncode == 0)
