"""`theletter-data benchmark`: build the lakes, measure everything in one run, print the tables.

Every speed figure is also given as a ratio to another measured in the same run, on the same
files: the machines are noisy, ratios much less so.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

from theletter_data_dev.benchmark.demo_days import FIRST as DEMO_FIRST
from theletter_data_dev.benchmark.demo_days import JOBS as DEMO_JOBS
from theletter_data_dev.benchmark.demo_days import LAST as DEMO_LAST
from theletter_data_dev.benchmark.demo_days import DemoRun, demo_days
from theletter_data_dev.benchmark.incremental import (
    Refresh,
    incremental_cost,
    orchestration_overhead,
)
from theletter_data_dev.benchmark.ingestion import HEADER, measure_day, write_day
from theletter_data_dev.benchmark.lakes import DAY, small_day, template_day
from theletter_data_dev.benchmark.steps import Step
from theletter_data_dev.benchmark.year import YearRun, year_backfill


def run_benchmark(
    root: Path,
    out: TextIO,
    sizes: Sequence[int] = (1_000_000, 10_000_000),
    histories: Sequence[int] = (7, 30, 90, 365),
    year_scale: float = 1.0,
    demo: bool = True,
) -> None:
    """Every part in one run; `year_scale` 0 leaves out the year's backfill, `demo` False the
    demo's four weeks."""
    root.mkdir(parents=True, exist_ok=True)
    out.write(f"Benchmark lakes and scratch space under {root}\n\n")
    out.write("1-2. Ingestion of one day of SES events (gzip JSON lines -> DuckDB table)\n")
    out.write(HEADER)
    for events in sizes:
        contenders, input_bytes = measure_day(root, events)
        write_day(events, contenders, input_bytes, out)
    out.write(
        "'staging is': how many times as fast as the contender staging is (the contender's "
        "median time / staging's), '(cpu)' the same in CPU time. s and cpu s: medians of the "
        "runs.\n\n"
    )
    out.write("3. Refreshing one day's metrics with history already loaded\n")
    write_refreshes(
        incremental_cost(template_day(root), root / "incremental", DAY, tuple(histories)), out
    )
    out.write("\n4. One whole daily run for one partition of a small lake\n")
    overhead = orchestration_overhead(small_day(root / "small"), root / "overhead", DAY)
    out.write(f"  in process (execute_in_process):  {overhead.in_process_seconds:6.1f} s\n")
    out.write(f"  from the CLI (dagster job execute): {overhead.cli_seconds:6.1f} s\n")
    out.flush()
    if year_scale > 0:
        write_year(year_backfill(root, year_scale), out)
    if demo:
        write_demo(demo_days(root), out)


REFRESH_GOAL = 1.2
"""Issue 17: a day's refresh with 365 days of history within this many times that with 7."""


def write_refreshes(refreshes: Sequence[Refresh], out: TextIO) -> None:
    """The refresh times by history, each against the shortest, and the goal's verdict."""
    if not refreshes:
        out.write(f"{'history':>8} {'staged rows':>12} {'s':>7} {'MB read':>8} {'vs 7 days':>10}\n")
        return
    shortest = min(refreshes, key=lambda r: r.history_days)
    longest = max(refreshes, key=lambda r: r.history_days)
    first = shortest.history_days
    out.write(
        f"{'history':>8} {'staged rows':>12} {'s':>7} {'MB read':>8} {f'vs {first} days':>10}\n"
    )
    for r in refreshes:
        out.write(
            f"{r.history_days:>7}d {r.staged_rows:>12,} {r.seconds:>7.2f} "
            f"{r.bytes_read / 2**20:>8.0f} {r.seconds / shortest.seconds:>9.2f}x\n"
        )
    if shortest is longest:
        return
    ratio = longest.seconds / shortest.seconds
    if (shortest.history_days, longest.history_days) == (7, 365):
        verdict = f"goal within {REFRESH_GOAL:g}x: {'met' if ratio <= REFRESH_GOAL else 'not met'}"
    else:
        verdict = "the goal compares 365 days with 7"
    out.write(
        f"  {longest.history_days} days of history: {ratio:.2f}x the time of "
        f"{shortest.history_days} ({verdict})\n"
    )


YEAR_GOAL_SECONDS = 600


def write_year(run: YearRun, out: TextIO) -> None:
    out.write(
        f"\n5. A year's backfill: daily_refresh over 365 partitions in one run, all checks "
        f"(scale {run.scale:g}: {run.readers:,} readers, {run.raw_objects:,} raw objects, "
        f"{run.raw_bytes / 2**20:,.0f} MiB gzip)\n"
    )
    if run.generate_seconds is not None:
        out.write(f"  (the year was generated first, in {run.generate_seconds:,.0f} s)\n")
    write_steps(run.steps, run.run_seconds, out)
    if run.scale == 1:
        goal = "met" if run.run_seconds < YEAR_GOAL_SECONDS else "not met"
    else:
        goal = "it applies at scale 1"
    out.write(
        f"  {'the whole run':<30} {run.run_seconds:>8.1f}  "
        f"({'succeeded' if run.success else 'FAILED'}; goal under {YEAR_GOAL_SECONDS} s: {goal})\n"
    )
    out.flush()


DEMO_GOAL_SECONDS = 60


def write_demo(run: DemoRun, out: TextIO) -> None:
    out.write(
        f"\n6. The demo's four weeks: `theletter-data demo --start {DEMO_FIRST} --end {DEMO_LAST}` "
        "in a new process, warehouse and instance\n"
    )
    refresh = run.run_seconds.get("daily_refresh")
    if refresh is not None:
        write_steps(run.steps, refresh, out)
        goal = "met" if refresh < DEMO_GOAL_SECONDS else "not met"
        out.write(
            f"  {'daily_refresh, the whole run':<30} {refresh:>8.1f}  "
            f"(goal under {DEMO_GOAL_SECONDS} s: {goal})\n"
        )
    for job in DEMO_JOBS[1:]:  # after daily_refresh
        if job in run.run_seconds:
            out.write(f"  {job + ', its run':<30} {run.run_seconds[job]:>8.1f}\n")
    generated = ", generating its lake first" if run.generated else ""
    out.write(
        f"  {'the demo command':<30} {run.command_seconds:>8.1f}  "
        f"({'succeeded' if run.success else 'FAILED'}{generated})\n"
    )
    out.flush()


def write_steps(steps: Sequence[Step], run_seconds: float, out: TextIO) -> None:
    """A run's steps, longest first: time, rows written, rows per second, share of the run."""
    out.write(f"  {'step':<30} {'s':>8} {'rows written':>13} {'rows/s':>9} {'share':>6}\n")
    for step in steps:
        rate = f"{step.rows / step.seconds:>9,.0f}" if step.rows and step.seconds else f"{'':>9}"
        out.write(
            f"  {step.name:<30} {step.seconds:>8.1f} {step.rows:>13,} {rate} "
            f"{step.seconds / run_seconds:>6.0%}\n"
        )
