"""Failures reach Slack: a failed run and a late asset are posted to the webhook (a local HTTP
server that records what it receives), each once; without a webhook they are logged."""

from __future__ import annotations

import ast
import logging
from pathlib import Path

import dagster as dg
from dagster._core.definitions.freshness import FreshnessState, FreshnessStateChange

from theletter_data.automation.alerts import freshness_alerts, run_failure_alerts
from theletter_data.automation.partition_freshness import partition_freshness_checks
from theletter_data.automation.policies import DAILY_DEADLINE_CRON
from theletter_data.definitions import ALL_ASSETS, FRESHNESS_CHECKS
from theletter_data.metrics.platform_daily_kpis import platform_daily_kpis
from theletter_data.partitions import daily_partitions
from theletter_data.resources import resources_for
from theletter_data.resources.alerts import Alerts
from theletter_data.settings import Environment, Settings
from theletter_data_tests.support.graph_snapshot import reviewed_freshness_checks
from theletter_data_tests.support.slack_webhook import UI


def failed_run(instance: dg.DagsterInstance, warehouse) -> tuple[dg.DagsterRun, dg.DagsterEvent]:  # type: ignore[no-untyped-def]
    """A real failure: a metric of a day whose staged tables do not exist."""
    result = dg.materialize(
        [platform_daily_kpis],
        instance=instance,
        resources={"warehouse": warehouse},
        partition_key="2026-11-21",
        raise_on_error=False,
    )
    assert not result.success
    (failure,) = instance.all_logs(result.run_id, of_type=dg.DagsterEventType.RUN_FAILURE)
    return instance.get_run_by_id(result.run_id), failure.dagster_event


def run_sensor(instance, run, event, alerts):  # type: ignore[no-untyped-def]
    context = dg.build_run_status_sensor_context(
        sensor_name="run_failure_alerts",
        dagster_event=event,
        dagster_instance=instance,
        dagster_run=run,
        resources={"alerts": alerts},
    ).for_run_failure()
    run_failure_alerts(dg.DefaultSensorStatus.STOPPED)(context)


def test_a_failed_run_is_posted_with_assets_partition_error_and_link(
    webhook, duckdb_warehouse
) -> None:
    with dg.instance_for_test() as instance:
        run, event = failed_run(instance, duckdb_warehouse)
        run_sensor(instance, run, event, Alerts(webhook_url=webhook.url, ui_url=UI))
    (text,) = webhook.texts()
    assert text.startswith("*Run failed*")
    assert "Assets: platform_daily_kpis" in text
    assert "Partition: 2026-11-21" in text
    assert "Step `platform_daily_kpis`: dagster._core.definitions.events.Failure: Permanent" in text
    assert f"<{UI}/runs/{run.run_id}|Open in Dagster>" in text


def test_without_a_webhook_the_alert_is_logged(duckdb_warehouse, caplog) -> None:
    caplog.set_level(logging.WARNING, logger="theletter_data.resources.alerts")
    with dg.instance_for_test() as instance:
        run, event = failed_run(instance, duckdb_warehouse)
        run_sensor(instance, run, event, Alerts())
    assert "alert (no webhook configured): *Run failed*" in caplog.text


def test_a_late_asset_and_a_missed_deadline_are_posted_once(webhook, tmp_path) -> None:
    alerts = Alerts(webhook_url=webhook.url, ui_url=UI)
    late = dg.AssetKey("newsletter_daily_traffic")
    check_keys = [key for checks in FRESHNESS_CHECKS for key in checks.check_keys]
    sensor = freshness_alerts([late], check_keys, dg.DefaultSensorStatus.STOPPED)
    with dg.instance_for_test() as instance:
        # What the freshness daemon records when the asset misses its 10:00 JST deadline.
        instance.report_runless_asset_event(
            FreshnessStateChange(
                key=late,
                previous_state=FreshnessState.PASS,
                new_state=FreshnessState.FAIL,
                state_change_timestamp=1_800_000_000.0,
            )
        )
        # The partition freshness checks, run as their sensor would: nothing was ever
        # materialized, so every expected partition is missing.
        checks_job = dg.define_asset_job("checks", selection=dg.AssetSelection.checks(*check_keys))
        defs = dg.Definitions(
            assets=ALL_ASSETS,
            asset_checks=FRESHNESS_CHECKS,
            jobs=[checks_job],
            resources=resources_for(
                Settings(environment=Environment.LOCAL, data_dir=tmp_path, pseudonym_key_set=False)
            ),
        )
        assert defs.resolve_job_def("checks").execute_in_process(instance=instance).success

        first = sensor(dg.build_sensor_context(instance=instance, resources={"alerts": alerts}))
        again = sensor(
            dg.build_sensor_context(
                instance=instance, cursor=first.cursor, resources={"alerts": alerts}
            )
        )
    assert again.cursor == first.cursor
    texts = webhook.texts()
    assert texts[0] == (
        "*Asset is late*\n• `newsletter_daily_traffic` fails its freshness policy\n"
        f"<{UI}/assets/newsletter_daily_traffic|Open in Dagster>"
    )
    missed = [t for t in texts if t.startswith("*Partition missed its deadline*")]
    assert len(missed) == len(check_keys) == reviewed_freshness_checks()
    assert len(texts) == len(missed) + 1  # the second evaluation posted nothing new


def test_a_skipped_evaluation_neither_repeats_nor_hides_a_missed_deadline(webhook) -> None:
    """An ad-hoc materialization plans the partition check and records nothing (it is judged by
    its sensor only): the alert already posted is not posted again, and the next failed
    evaluation is posted."""
    alerts = Alerts(webhook_url=webhook.url, ui_url=UI)

    @dg.asset(name="stg_posts", partitions_def=daily_partitions)
    def stg_posts() -> None:
        """Stands in for the staged table: only its materializations matter here."""

    checks = partition_freshness_checks([stg_posts], DAILY_DEADLINE_CRON, name="freshness")
    (key,) = checks.check_keys
    sensor = freshness_alerts([], [key], dg.DefaultSensorStatus.STOPPED)
    defs = dg.Definitions(
        assets=[stg_posts],
        asset_checks=[checks],
        jobs=[dg.define_asset_job("checks", selection=dg.AssetSelection.checks(checks))],
    )
    with dg.instance_for_test() as instance:

        def evaluate_alerts(cursor: str | None) -> dg.SensorResult:
            context = dg.build_sensor_context(
                instance=instance, cursor=cursor, resources={"alerts": alerts}
            )
            return sensor(context)

        assert defs.resolve_job_def("checks").execute_in_process(instance=instance).success
        first = evaluate_alerts(None)
        adhoc = defs.resolve_implicit_global_asset_job_def().execute_in_process(
            instance=instance, asset_selection=[stg_posts.key], partition_key="2026-10-01"
        )
        assert adhoc.success
        latest = instance.get_latest_asset_check_evaluation_record(key)
        assert latest is not None and latest.run_id == adhoc.run_id
        assert latest.event is None or latest.event.asset_check_evaluation is None
        second = evaluate_alerts(first.cursor)
        assert defs.resolve_job_def("checks").execute_in_process(instance=instance).success
        third = evaluate_alerts(second.cursor)
    assert second.cursor == first.cursor != third.cursor
    assert (
        webhook.texts()
        == [
            f"*Partition missed its deadline*\n• `stg_posts:partition_freshness` failed\n"
            f"<{UI}/assets/stg_posts|Open in Dagster>"
        ]
        * 2
    )


STORAGE_ATTRIBUTES = {"event_log_storage", "run_storage", "schedule_storage", "_event_storage"}


def storage_internals(package: Path) -> list[str]:
    """`path:line` of every read of a Dagster instance's storages (or import of their modules):
    automation reads through the instance's own methods instead."""
    found = []
    for path in sorted(package.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            internal = (isinstance(node, ast.Attribute) and node.attr in STORAGE_ATTRIBUTES) or (
                isinstance(node, ast.ImportFrom)
                and (node.module or "").startswith("dagster._core.storage")
            )
            if internal:
                found.append(f"{path.relative_to(package.parent)}:{node.lineno}")
    return found


def test_automation_reads_no_storage_internals(tmp_path: Path) -> None:
    automation = Path(__file__).parents[2] / "theletter_data" / "automation"
    assert storage_internals(automation) == []
    broken = tmp_path / "automation"
    broken.mkdir()
    (broken / "alerts.py").write_text(
        "from dagster._core.storage.dagster_run import IN_PROGRESS_RUN_STATUSES\n"
        "def f(instance):\n"
        "    return instance.event_log_storage.get_latest_asset_check_execution_by_key([])\n"
    )
    assert storage_internals(broken) == ["automation/alerts.py:1", "automation/alerts.py:3"]
