"""The demo as a newcomer runs it, on a range shorter than a week: it publishes, its runs are
the code location's runs (the UI lists them under their jobs), every partition carries its own
figures, and a failed run is reported as a failure."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import dagster as dg
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from dagster._core.storage.tags import (
    ASSET_PARTITION_RANGE_END_TAG,
    ASSET_PARTITION_RANGE_START_TAG,
    REPOSITORY_LABEL_TAG,
)

from theletter_data.definitions import build_definitions
from theletter_data.raw.sources import appdb_export_prefix
from theletter_data.resources.lake import Lake
from theletter_data.resources.warehouse import Warehouse
from theletter_data.serving.publish import PREFIX
from theletter_data.settings import DATA_DIR_VARIABLE, ENVIRONMENT_VARIABLE, load_settings
from theletter_data_dev.demo import DemoRange, run_demo
from theletter_data_dev.generate import generate_lake

pytestmark = pytest.mark.slow  # the demo's real runs

FIRST, LAST = date(2026, 10, 1), date(2026, 10, 3)  # Thursday to Saturday: no whole week
WORLD = {"newsletters": 6, "readers": 800, "seed": 7, "workers": 1}
DAYS = [FIRST + timedelta(days=i) for i in range((LAST - FIRST).days + 1)]
UI_LABEL = "__repository__@theletter_data"
"""How the UI finds a job's runs: its repository and code location, as a run tag."""


@dataclass(frozen=True)
class Demo:
    output: str
    instance: dg.DagsterInstance
    lake: Lake
    warehouse: Warehouse


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    data = tmp_path_factory.mktemp("demo")
    with pytest.MonkeyPatch.context() as env, dg.instance_for_test() as instance:
        # The code location reads the environment, as `dagster dev` would.
        env.setenv(DATA_DIR_VARIABLE, str(data))
        env.delenv(ENVIRONMENT_VARIABLE, raising=False)
        settings = load_settings()
        out = io.StringIO()
        try:
            run_demo(settings, instance, out, requested=DemoRange(FIRST, LAST), **WORLD)
        except SystemExit as failed:
            pytest.fail(f"{failed}\n{out.getvalue()}")
        resources = build_definitions(settings).resources
        yield Demo(out.getvalue(), instance, resources["lake"], resources["warehouse"])


def latest_by_partition(instance: dg.DagsterInstance, asset: str) -> dict[str, dict]:
    records = instance.fetch_materializations(dg.AssetKey(asset), limit=100).records
    latest: dict[str, dict] = {}
    for record in records:  # newest first
        materialization = record.asset_materialization
        metadata = {k: v.value for k, v in materialization.metadata.items()}
        latest.setdefault(materialization.partition, metadata)
    return latest


def test_a_range_shorter_than_a_week_publishes_the_dashboards(demo: Demo) -> None:
    assert "FAILED" not in demo.output
    assert "No Monday-to-Sunday week inside the range" in demo.output
    runs = [line for line in demo.output.splitlines() if line.startswith("  run ")]
    assert len(runs) == 2 and all(": succeeded in " in line for line in runs), runs
    keys = [o.key for o in demo.lake.list(f"{PREFIX}/newsletters/")]
    assert len(keys) == WORLD["newsletters"]
    assert all(json.loads(demo.lake.read_bytes(key))["cohorts"] == [] for key in keys)


def test_the_demos_runs_are_the_code_locations_runs_of_their_jobs(demo: Demo) -> None:
    """As the UI asks: the runs of job X in code location theletter_data."""
    for job, first, last in (("daily_refresh", FIRST, LAST), ("publish_dashboards", LAST, LAST)):
        (record,) = demo.instance.get_run_records(
            dg.RunsFilter(job_name=job, tags={REPOSITORY_LABEL_TAG: UI_LABEL})
        )
        run = record.dagster_run
        assert run.status == dg.DagsterRunStatus.SUCCESS
        origin = run.remote_job_origin
        assert origin is not None and origin.job_name == job
        assert (origin.location_name, origin.repository_origin.repository_name) == (
            "theletter_data",
            "__repository__",
        )
        assert run.job_code_origin is not None
        assert run.job_code_origin.repository_origin.code_pointer.module == (
            "theletter_data.definitions"
        )
        assert (
            run.tags[ASSET_PARTITION_RANGE_START_TAG],
            run.tags[ASSET_PARTITION_RANGE_END_TAG],
        ) == (
            str(first),
            str(last),
        )


def test_every_partition_carries_its_own_figures(demo: Demo) -> None:
    """Each day's materialization holds that day's rows (not the run's sum), and the KPIs of
    that day: the Plots tab draws the days, not one flat line."""
    per_day = {
        (row["event_date"], row["n"])
        for row in demo.warehouse.query(
            "SELECT event_date, COUNT(*) AS n FROM staging.stg_email_events GROUP BY event_date"
        ).to_pylist()
    }
    emails = latest_by_partition(demo.instance, "stg_email_events")
    assert {(date.fromisoformat(p), m["dagster/row_count"]) for p, m in emails.items()} == per_day
    assert len({n for _, n in per_day}) > 1  # the days differ
    run = f"[{FIRST}, {LAST + timedelta(days=1)}): {len(DAYS)} days"
    assert all(m["reconciled"] and m["run_window"] == run for m in emails.values())

    kpis = latest_by_partition(demo.instance, "platform_daily_kpis")
    table = demo.warehouse.query(
        "SELECT date, active_readers, emails_sent FROM metrics.platform_daily_kpis"
    ).to_pylist()
    assert {
        (date.fromisoformat(p), m["active_readers"], m["emails_sent"], m["dagster/row_count"])
        for p, m in kpis.items()
    } == {(r["date"], r["active_readers"], r["emails_sent"], 1) for r in table}
    assert len({r["active_readers"] for r in table}) > 1

    subscriptions = latest_by_partition(demo.instance, "stg_subscriptions")
    snapshots = demo.warehouse.query(
        "SELECT valid_from AS snapshot_date, COUNT(*) AS n FROM staging.stg_subscriptions "
        "GROUP BY 1"
    ).to_pylist()
    assert {(date.fromisoformat(p), m["dagster/row_count"]) for p, m in subscriptions.items()} == {
        (r["snapshot_date"], r["n"]) for r in snapshots
    }


def test_days_the_lake_does_not_hold_are_refused_before_any_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`demo.sh --start ... --end ...` after a first demo: the lake of the first range stays, and
    the new range's days outside it failed staging (nothing delivered) after minutes of runs."""
    monkeypatch.setenv(DATA_DIR_VARIABLE, str(tmp_path))
    monkeypatch.delenv(ENVIRONMENT_VARIABLE, raising=False)
    settings = load_settings()
    lake: Lake = build_definitions(settings).resources["lake"]  # type: ignore[assignment]
    generate_lake(lake, FIRST, LAST, **WORLD)
    day = timedelta(days=1)
    with dg.instance_for_test() as instance:
        for outside in (DemoRange(FIRST - day, LAST), DemoRange(FIRST + day, LAST + day)):
            with pytest.raises(SystemExit) as refused:
                run_demo(settings, instance, io.StringIO(), requested=outside)
            assert str(refused.value) == (
                f"The lake at {lake.url} holds {FIRST} to {LAST}, not {outside.start} to "
                f"{outside.end}: pick days inside it, or delete {tmp_path} (the lake and the "
                "warehouse) to generate a lake of those days."
            )
        assert instance.get_runs_count() == 0


def test_a_failed_run_is_reported_as_a_failure(tmp_path: Path, monkeypatch) -> None:
    """A day's newsletters export of ids only (no `slug`, no `created_at`) fails staging at once:
    the
    summary says FAILED, names the step and its error, and never "all checks passed"."""
    monkeypatch.setenv(DATA_DIR_VARIABLE, str(tmp_path))
    monkeypatch.delenv(ENVIRONMENT_VARIABLE, raising=False)
    settings = load_settings()
    lake: Lake = build_definitions(settings).resources["lake"]  # type: ignore[assignment]
    generate_lake(lake, FIRST, LAST, **WORLD)
    (export,) = [o.key for o in lake.list(appdb_export_prefix("newsletters", LAST))]
    with lake.open_output(export) as out:
        pq.write_table(pa.table({"newsletter_id": ["nl_00001"]}), out)

    output = io.StringIO()
    with dg.instance_for_test() as instance, pytest.raises(SystemExit, match="daily_refresh"):
        run_demo(settings, instance, output)

    (summary,) = [line for line in output.getvalue().splitlines() if line.startswith("  run ")]
    assert ": FAILED in " in summary
    assert "failed steps: " in summary
    assert (
        "stg_newsletters (The `newsletters` export of 2026-10-03 lacks required column" in summary
    )
    assert "all checks passed" not in summary
