"""The main job on the embedded default: make sure a demo lake exists, materialize the whole graph
for its date range (one single-run backfill per job, recorded in the local Dagster instance so
that `dagster dev` shows it), then print what each newsletter's author would see."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import TextIO

import dagster as dg
from dagster._core.execution.job_execution_result import JobExecutionResult
from dagster._core.storage.tags import (
    ASSET_PARTITION_RANGE_END_TAG,
    ASSET_PARTITION_RANGE_START_TAG,
)
from dagster._utils.error import SerializableErrorInfo

from theletter_data.checks import ROW_COUNT_ANOMALY
from theletter_data.definitions import build_definitions
from theletter_data.partitions import TOKYO
from theletter_data.raw.sources import appdb_export_days
from theletter_data.resources.lake import Lake
from theletter_data.resources.warehouse import Warehouse
from theletter_data.serving.publish import PREFIX
from theletter_data.settings import Settings
from theletter_data_dev.generate import generate_lake
from theletter_data_dev.launch import WorkspaceRuns
from theletter_data_dev.summary import newsletter_summary

DEMO_DAYS = 28


@dataclass(frozen=True)
class DemoRange:
    start: date
    end: date  # inclusive

    def __contains__(self, other: DemoRange) -> bool:
        return self.start <= other.start and other.end <= self.end

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    def full_weeks(self) -> tuple[date, date] | None:
        """First and last Monday of the Monday-to-Sunday weeks inside the range."""
        first = self.start + timedelta(days=(7 - self.start.weekday()) % 7)
        last = self.end - timedelta(days=(self.end.weekday() + 1) % 7) - timedelta(days=6)
        return (first, last) if first <= last else None


def lake_range(lake: Lake) -> DemoRange | None:
    """The days for which the lake holds an app export: the range a generated lake covers."""
    days = appdb_export_days(lake, "newsletters")
    return DemoRange(days[0], days[-1]) if days else None


def default_range(today: date | None = None) -> DemoRange:
    """The four weeks that ended yesterday, Japan time."""
    today = today or datetime.now(TOKYO).date()
    end = today - timedelta(days=1)
    return DemoRange(end - timedelta(days=DEMO_DAYS - 1), end)


def run_demo(
    settings: Settings,
    instance: dg.DagsterInstance,
    out: TextIO,
    *,
    requested: DemoRange | None = None,
    newsletters: int = 40,
    readers: int = 20_000,
    seed: int = 7,
    workers: int = 2,
    workspace_file: Path | None = None,
) -> DemoRange:
    """The runs are created from the code location `workspace_file` loads (workspace.yaml), so
    they show under their jobs in `dagster dev`; that code location reads its settings from this
    process's environment, which `settings` must describe (the CLI passes `load_settings()`)."""
    defs = build_definitions(settings)
    lake: Lake = defs.resources["lake"]  # type: ignore[assignment]
    warehouse: Warehouse = defs.resources["warehouse"]  # type: ignore[assignment]

    existing = lake_range(lake)
    if existing is None:
        demo_range = requested or default_range()
        out.write(
            f"No lake at {lake.url}: generating {demo_range.days} days "
            f"({demo_range.start} to {demo_range.end}), {newsletters} newsletters, "
            f"{readers:,} readers, seed {seed}...\n"
        )
        started = time.monotonic()
        report = generate_lake(
            lake, demo_range.start, demo_range.end,
            newsletters=newsletters, readers=readers, seed=seed, workers=workers,
        )  # fmt: skip
        out.write(f"{report.summary()}\n  generated in {time.monotonic() - started:.0f} s\n")
    else:
        demo_range = requested or existing
        if demo_range not in existing:
            # Days the lake lacks would fail staging (no objects delivered) after minutes of
            # runs; generating only them would not continue the lake's world.
            raise SystemExit(
                f"The lake at {lake.url} holds {existing.start} to {existing.end}, not "
                f"{demo_range.start} to {demo_range.end}: pick days inside it, or delete "
                f"{settings.data_dir} (the lake and the warehouse) to generate a lake of those "
                "days."
            )
        out.write(f"Using the lake at {lake.url} ({demo_range.start} to {demo_range.end}).\n")

    started = time.monotonic()
    with WorkspaceRuns(instance, workspace_file) as runs:
        out.write(
            f"Loaded code location theletter_data from {runs.workspace_file.name} "
            f"in {time.monotonic() - started:.0f} s (the runs are its runs, as in the UI).\n"
        )
        _run_job(runs, "daily_refresh", demo_range.start, demo_range.end, out)
        weeks = demo_range.full_weeks()
        if weeks:
            _run_job(runs, "weekly_cohorts", weeks[0], weeks[1], out)
        else:
            out.write(
                "No Monday-to-Sunday week inside the range: weekly_cohorts has nothing to "
                "measure, and the dashboards show no cohorts.\n"
            )
        _run_job(runs, "publish_dashboards", demo_range.end, demo_range.end, out)
    out.write(newsletter_summary(warehouse, demo_range))
    out.write(
        f"Authors' dashboard documents: {lake.path(PREFIX)}/newsletters/<newsletter_id>.json; "
        "see one as its author would with `theletter-data preview <newsletter_id>`.\n"
    )
    return demo_range


def _run_job(runs: WorkspaceRuns, name: str, first: date, last: date, out: TextIO) -> None:
    out.write(f"Materializing job {name} for partitions {first} to {last} in one run...\n")
    started = time.monotonic()
    result = runs.execute(
        name,
        tags={
            ASSET_PARTITION_RANGE_START_TAG: first.isoformat(),
            ASSET_PARTITION_RANGE_END_TAG: last.isoformat(),
        },
        # Step logs stay in the run (see the UI); the terminal gets warnings and the summary.
        run_config={"loggers": {"console": {"config": {"log_level": "WARNING"}}}},
    )
    out.write(run_summary(result, time.monotonic() - started))
    if not result.success:
        raise SystemExit(f"job {name} failed; see run {result.run_id} in the Dagster UI")


def run_summary(result: JobExecutionResult, elapsed: float) -> str:
    """One line: the run's outcome, its failed steps (first line of each error) and the checks
    that did not pass, errors before warnings."""
    failed: dict[dg.AssetCheckSeverity, list[str]] = {}
    steps: list[str] = []
    anomalies: list[str] = []
    for event in result.all_events:
        if event.event_type_value == "ASSET_CHECK_EVALUATION":
            check = event.asset_check_evaluation_data
            if not check.passed:
                failed.setdefault(check.severity, []).append(check.asset_check_key.to_user_string())
                if check.check_name == ROW_COUNT_ANOMALY:
                    anomalies += _anomalies(check)
        elif event.is_step_failure:
            message = _first_line(event.step_failure_data.error)
            steps.append(f"{event.step_key} ({message[:200]})" if message else str(event.step_key))
    outcome = "succeeded" if result.success else "FAILED"
    line = f"  run {result.run_id}: {outcome} in {elapsed:.0f} s"
    if steps:
        line += f", failed steps: {'; '.join(steps)}"
    if errors := failed.get(dg.AssetCheckSeverity.ERROR):
        line += f", failed checks: {', '.join(errors)}"
    if warnings := failed.get(dg.AssetCheckSeverity.WARN):
        line += f", warnings: {', '.join(warnings)}"
    if result.success and not failed:
        line += ", all checks passed"
    if anomalies:
        line += "\n" + "\n".join(anomalies) + "\n" + ANOMALIES_IN_THE_WORLD
    return line + "\n"


def _first_line(error: SerializableErrorInfo | None) -> str:
    """The error's first line without its exception class (`dagster...Failure: `)."""
    if error is None or not error.message.strip():
        return ""
    line = error.message.strip().splitlines()[0]
    kind, _, text = line.partition(": ")
    return text if text and kind.split(".")[-1] == error.cls_name else line


ANOMALIES_IN_THE_WORLD = (
    "    (row_count_anomaly is a warning, not a failure. The generated world has such days: "
    "which newsletters send varies from day to day, and its daily newsletters also send on "
    "about a third of weekend days, so a Sunday when a big one sends can hold two to three "
    "times the email events of the Sundays before.)"
)


def _anomalies(check: dg.AssetCheckEvaluation) -> list[str]:
    """One line per flagged day, with its figures."""
    anomalies = check.metadata.get("anomalies")
    flagged = anomalies.value if anomalies is not None else {}
    table = check.asset_key.to_user_string()
    return [
        f"    {table} {day}: {int(figures['rows']):,} rows against a median of "
        f"{int(figures['median']):,} on the same weekday of the previous weeks"
        for day, figures in sorted(flagged.items())  # type: ignore[union-attr]
    ]
