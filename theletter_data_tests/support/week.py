"""A generated week run through the code location's own jobs, shared by the end-to-end tests of
the tables and of the documents served from them (the `week` fixture in conftest.py)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import dagster as dg
from dagster._core.storage.tags import (
    ASSET_PARTITION_RANGE_END_TAG,
    ASSET_PARTITION_RANGE_START_TAG,
)

from theletter_data.definitions import build_definitions
from theletter_data.settings import Environment, Settings
from theletter_data_dev.generate import GenerationReport, generate_lake

MONDAY = date(2026, 11, 9)
SUNDAY = MONDAY + timedelta(days=6)
JOBS = (
    ("daily_refresh", MONDAY, SUNDAY),
    ("weekly_cohorts", MONDAY, MONDAY),
    ("publish_dashboards", SUNDAY, SUNDAY),
)


@dataclass(frozen=True)
class Week:
    data: Path
    report: GenerationReport
    defs: dg.Definitions

    @property
    def warehouse(self) -> Path:
        return self.data / "warehouse.duckdb"


def definitions(data: Path) -> dg.Definitions:
    return build_definitions(
        Settings(environment=Environment.LOCAL, data_dir=data, pseudonym_key_set=False)
    )


def generate_week(data: Path) -> Week:
    """Generate the week and run every job over it; each must succeed with all checks passed."""
    defs = definitions(data)
    report = generate_lake(
        defs.resources["lake"], MONDAY, SUNDAY, newsletters=8, readers=1_500, seed=11, workers=2
    )
    with dg.instance_for_test() as instance:
        for job, first, last in JOBS:
            result = run(defs, job, instance, first, last)
            assert result.success, job
            failed = [
                e.asset_check_evaluation_data.asset_check_key.to_user_string()
                for e in result.all_events
                if e.event_type_value == "ASSET_CHECK_EVALUATION"
                and not e.asset_check_evaluation_data.passed
            ]
            assert failed == [], job
    return Week(data, report, defs)


def run(defs: dg.Definitions, job: str, instance: dg.DagsterInstance, first: date, last: date):
    return defs.resolve_job_def(job).execute_in_process(
        instance=instance,
        tags={
            ASSET_PARTITION_RANGE_START_TAG: first.isoformat(),
            ASSET_PARTITION_RANGE_END_TAG: last.isoformat(),
        },
    )


def documents(data: Path) -> dict[str, dict]:
    """The dashboard documents published in a data folder's lake (the week's, or a copy), by
    newsletter id."""
    folder = data / "lake" / "serving" / "v1" / "newsletters"
    return {path.stem: json.loads(path.read_text()) for path in sorted(folder.glob("*.json"))}
