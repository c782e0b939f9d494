"""Telling people: a failed run, and an asset that is late, reach Slack (resources/alerts.py).

Lateness is announced whether or not anything ran: the freshness daemon evaluates every asset's
FreshnessPolicy, and the freshness checks' sensor checks every partition's deadline; this sensor
reads both and posts each new failure once (its cursor remembers what it announced). Both are
read through the instance's own methods, never through its event log storage.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

import dagster as dg
from dagster._core.events import RunFailureReason  # not exported by `dagster`

from theletter_data.resources.alerts import Alert, Alerts

_MAX_ERROR = 500


def run_failure_alert(
    run: dg.DagsterRun,
    assets: Sequence[str],
    failure: dg.DagsterEvent,
    step_failures: Sequence[dg.DagsterEvent],
    alerts: Alerts,
) -> Alert:
    """What a failed run's alert says: which assets and partitions, what broke, where to look.
    A run failed from outside its steps (past its max runtime, its task lost) says so first:
    its steps' errors are then only the interruption."""
    lines = [f"Job `{run.job_name}`, run `{run.run_id[:8]}`"]
    if assets:
        lines.append(f"Assets: {', '.join(sorted(assets))}")
    partition = run.tags.get("dagster/partition") or _partition_range(run.tags)
    if partition:
        lines.append(f"Partition: {partition}")
    reason = getattr(failure.event_specific_data, "failure_reason", None)
    if failure.message and (not step_failures or reason is not RunFailureReason.STEP_FAILURE):
        lines.append(failure.message.strip()[:_MAX_ERROR])
    for step in step_failures:
        error = step.step_failure_data.error
        message = error.message.strip().splitlines()[0] if error else "failed"
        lines.append(f"Step `{step.step_key}`: {message[:_MAX_ERROR]}")
    return Alert(title="Run failed", lines=tuple(lines), link=alerts.run_link(run.run_id))


def _assets_of(instance: dg.DagsterInstance, run: dg.DagsterRun) -> list[str]:
    """The assets the run was to materialize: its selection, or else its planned steps (each
    asset is one step here), as for a run of a whole job."""
    if run.asset_selection:
        return [key.to_user_string() for key in run.asset_selection]
    if run.execution_plan_snapshot_id is None:
        return []
    plan = instance.get_execution_plan_snapshot(run.execution_plan_snapshot_id)
    return [step.key for step in plan.steps]


def _partition_range(tags: dict[str, str]) -> str | None:
    start = tags.get("dagster/asset_partition_range_start")
    end = tags.get("dagster/asset_partition_range_end")
    return f"{start} to {end}" if start and end else None


def run_failure_alerts(
    default_status: dg.DefaultSensorStatus, minimum_interval_seconds: int | None = None
) -> dg.SensorDefinition:
    """The run-failure alert sensor; its interval is Dagster's default (30 s) unless given (a
    test's code location checks sooner)."""

    @dg.run_failure_sensor(
        name="run_failure_alerts",
        default_status=default_status,
        minimum_interval_seconds=minimum_interval_seconds,
        description="Posts every failed run to Slack: assets, partition, error, link.",
    )
    def _sensor(context: dg.RunFailureSensorContext, alerts: Alerts) -> None:
        run = context.dagster_run
        alerts.send(
            run_failure_alert(
                run,
                _assets_of(context.instance, run),
                context.failure_event,
                context.get_step_failure_events(),
                alerts,
            )
        )

    return _sensor


def freshness_alerts(
    asset_keys: Sequence[dg.AssetKey],
    check_keys: Sequence[dg.AssetCheckKey],
    default_status: dg.DefaultSensorStatus,
) -> dg.SensorDefinition:
    @dg.sensor(
        name="freshness_alerts",
        minimum_interval_seconds=300,
        default_status=default_status,
        description="Posts to Slack when an asset's freshness policy fails or a partition misses "
        "its deadline (freshness checks), even when no run happened.",
    )
    def _sensor(context: dg.SensorEvaluationContext, alerts: Alerts) -> dg.SensorResult:
        cursor = json.loads(context.cursor) if context.cursor else {"states": {}, "checks": {}}
        instance = context.instance
        for key, record in instance.get_freshness_state_records(list(asset_keys)).items():
            name = key.to_user_string()
            state = record.freshness_state.value
            if state == "FAIL" and cursor["states"].get(name) != "FAIL":
                alerts.send(
                    Alert(
                        title="Asset is late",
                        lines=(f"`{name}` fails its freshness policy",),
                        link=alerts.asset_link(key),
                    )
                )
            cursor["states"][name] = state
        for key in check_keys:
            name = key.to_user_string()
            record = instance.get_latest_asset_check_evaluation_record(key)
            # An evaluation in progress (or skipped) has no verdict yet: the last one stands.
            evaluation = record.event.asset_check_evaluation if record and record.event else None
            if evaluation is None or evaluation.passed:
                continue
            if record.id > cursor["checks"].get(name, 0):
                alerts.send(
                    Alert(
                        title="Partition missed its deadline",
                        lines=(f"`{name}` failed",),
                        link=alerts.asset_link(key.asset_key),
                    )
                )
                cursor["checks"][name] = record.id
        return dg.SensorResult(cursor=json.dumps(cursor, sort_keys=True))

    return _sensor
