"""Partition freshness checks: judged against the 10:00 JST deadline by their sensor's job,
never inside a run that materializes assets (an ad-hoc `dagster asset materialize`), and a
sensor whose target the UI can name."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import date, datetime, timedelta
from pathlib import Path

import dagster as dg
import pytest
from dagster._core.definitions.asset_selection import CodeLocationAssetSelection

from theletter_data.automation.partition_freshness import (
    CHECK_NAME,
    JOB_NAME,
    NEXT_DEADLINE,
    due_checks,
    evaluate,
)
from theletter_data.definitions import FRESHNESS_CHECKS, build_definitions
from theletter_data.partitions import TOKYO, daily_partitions, weekly_partitions
from theletter_data.settings import Environment, Settings
from theletter_data_tests.support.graph_snapshot import reviewed_freshness_checks
from theletter_data_tests.support.rawdata import put_export, utc

pytestmark = pytest.mark.slow  # Dagster's real daemons

DAILY, WEEKLY = "0 10 * * *", "0 10 * * 1"
KEYS = [key for checks in FRESHNESS_CHECKS for key in checks.check_keys]


def definitions(data: Path) -> dg.Definitions:
    return build_definitions(
        Settings(environment=Environment.LOCAL, data_dir=data, pseudonym_key_set=False)
    )


def test_the_partition_due_is_the_one_before_the_latest_deadline() -> None:
    asset = dg.AssetKey("stg_email_events")
    with dg.instance_for_test() as instance:
        instance.report_runless_asset_event(dg.AssetMaterialization(asset, partition="2026-11-28"))
        before = evaluate(
            instance, asset, daily_partitions, DAILY, datetime(2026, 11, 29, 9, 59, tzinfo=TOKYO)
        )
        after = evaluate(
            instance, asset, daily_partitions, DAILY, datetime(2026, 11, 29, 10, 1, tzinfo=TOKYO)
        )
        weekly = evaluate(
            instance,
            dg.AssetKey("newsletter_subscriber_cohorts"),
            weekly_partitions,
            WEEKLY,
            datetime(2026, 11, 30, 10, 5, tzinfo=TOKYO),
        )
    # Before 10:00 the day before yesterday is the one due, and it never landed.
    assert (before.passed, before.metadata["due_partition"].value) == (False, "2026-11-27")
    assert (after.passed, after.metadata["due_partition"].value) == (True, "2026-11-28")
    assert after.description == (
        "Partition 2026-11-28 has landed; it was due by 2026-11-29 10:00 JST."
    )
    assert (
        after.metadata[NEXT_DEADLINE].value == datetime(2026, 11, 30, 10, tzinfo=TOKYO).timestamp()
    )
    assert (weekly.passed, weekly.metadata["due_partition"].value) == (False, "2026-11-23")


def test_an_ad_hoc_materialization_of_an_old_partition_runs_no_freshness_check(
    tmp_path: Path,
) -> None:
    """`dagster asset materialize` of last month: the asset's data checks run, the partition
    freshness check (which judges *now*) does not."""
    data, home = tmp_path / "data", tmp_path / "dagster_home"
    home.mkdir()
    newsletter = {"newsletter_id": "nl_1", "slug": "s", "created_at": utc("2026-01-01 00:00:00")}
    put_export(definitions(data).resources["lake"], "newsletters", date(2026, 10, 1), [newsletter])
    env = {**os.environ, "DAGSTER_HOME": str(home), "THELETTER_DATA_DIR": str(data)}
    command = [
        str(Path(sys.executable).parent / "dagster"), "asset", "materialize",
        "-m", "theletter_data.definitions", "--select", "stg_newsletters",
        "--partition", "2026-10-01",
    ]  # fmt: skip
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]

    with dg.DagsterInstance.from_config(str(home)) as instance:
        (record,) = instance.get_run_records()
        events = instance.all_logs(record.dagster_run.run_id)
    evaluated = {
        e.dagster_event.asset_check_evaluation_data.check_name
        for e in events
        if e.dagster_event and e.dagster_event.event_type_value == "ASSET_CHECK_EVALUATION"
    }
    assert evaluated == {"row_count_anomaly", "unique_key", "column_values", "reconciliation"}
    assert record.dagster_run.status == dg.DagsterRunStatus.SUCCESS


def test_the_sensor_runs_the_checks_whose_verdict_may_have_changed(tmp_path: Path) -> None:
    defs = definitions(tmp_path)
    sensor = defs.resolve_sensor_def("freshness_checks_sensor")
    with dg.instance_for_test() as instance:
        first = sensor(dg.build_sensor_context(instance=instance, definitions=defs))
        assert isinstance(first, dg.RunRequest)
        assert sorted(first.asset_check_keys, key=str) == sorted(KEYS, key=str)

        # Its job evaluates them (nothing was ever materialized: every one fails).
        result = defs.resolve_job_def(JOB_NAME).execute_in_process(instance=instance)
        verdicts = [
            e.asset_check_evaluation_data
            for e in result.all_events
            if e.event_type_value == "ASSET_CHECK_EVALUATION"
        ]
        assert len(verdicts) == len(KEYS) == reviewed_freshness_checks()
        assert {v.check_name for v in verdicts} == {CHECK_NAME}
        assert not any(v.passed for v in verdicts)

        later = sensor(dg.build_sensor_context(instance=instance, definitions=defs))
        assert isinstance(later, dg.SkipReason)
        # A failed check is evaluated again once its asset is materialized, or at the next
        # deadline for all of them.
        landed = dg.AssetKey("stg_posts")
        instance.report_runless_asset_event(dg.AssetMaterialization(landed, partition="2026-10-01"))
        now = datetime.now(TOKYO).timestamp()
        assert due_checks(instance, KEYS, now) == [dg.AssetCheckKey(landed, CHECK_NAME)]
        assert due_checks(instance, KEYS, now + timedelta(days=7).total_seconds()) == KEYS


def test_every_sensor_target_reads_as_a_selection_or_a_job(tmp_path: Path) -> None:
    """The UI shows a sensor's asset selection as selection syntax (scoped to the code
    location); one it cannot write so shows as a Python repr."""
    repository = definitions(tmp_path).get_repository_def()
    targets = {}
    for sensor in repository.sensor_defs:
        if sensor.asset_selection is not None:
            scoped = sensor.asset_selection & CodeLocationAssetSelection(
                selected_code_location="theletter_data"
            )
            try:
                targets[sensor.name] = scoped.to_selection_str()
            except NotImplementedError:
                pytest.fail(f"{sensor.name}'s target shows as {scoped!r}")
        elif sensor.has_jobs:
            targets[sensor.name] = sensor.job_name
    assert targets["freshness_checks_sensor"] == JOB_NAME
    assert targets["dashboards_automation"] == (
        'group:"serving" and code_location:"theletter_data"'
    )
    assert targets["raw_arrivals_sensor"] == (
        'group:"staging" and tag:"theletter/cadence"="daily" and code_location:"theletter_data"'
    )


def test_dagster_s_freshness_policy_passes_while_yesterday_s_partition_is_missing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Why the partition check exists (automation/partition_freshness.py): a morning that
    re-stages an older day (late records replayed) but never writes the day due. Dagster 1.13's
    freshness daemon, run for real on the code location, finds the asset fresh; the partition
    check does not. When this fails, Dagster's policy judges partitions: move to it."""
    from dagster._core.test_utils import create_test_daemon_workspace_context
    from dagster._core.workspace.load_target import ModuleTarget
    from dagster._daemon.freshness import FreshnessDaemon

    monkeypatch.setenv("THELETTER_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("THELETTER_ENV", raising=False)
    asset = dg.AssetKey("stg_email_events")
    now = datetime.now(TOKYO)
    with dg.instance_for_test() as instance:
        due = evaluate(instance, asset, daily_partitions, DAILY, now).metadata["due_partition"]
        older = (date.fromisoformat(str(due.value)) - timedelta(days=1)).isoformat()
        instance.report_runless_asset_event(dg.AssetMaterialization(asset, partition=older))

        target = ModuleTarget(
            module_name="theletter_data.definitions",
            attribute="defs",
            working_directory=str(Path(__file__).parents[2]),
            location_name="theletter_data",
        )
        with create_test_daemon_workspace_context(target, instance) as workspace:
            list(FreshnessDaemon().run_iteration(workspace))
        state = instance.get_freshness_state_records([asset])[asset].freshness_state
        verdict = evaluate(instance, asset, daily_partitions, DAILY, now)

    assert state.value == "PASS"
    assert not verdict.passed
    assert verdict.description.startswith(f"Partition {due.value} has not landed")
