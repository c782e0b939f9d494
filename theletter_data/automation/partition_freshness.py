"""Partition freshness: yesterday's partition (last week's, for weekly assets) must have landed
by 10:00 JST.

Why this check is the project's own and not Dagster 1.13's freshness (the one place the reason
is written; the README links here):

- Dagster 1.13's way, `FreshnessPolicy.cron` (every staged and metric asset has one, from
  policies.py, evaluated by the freshness daemon into each asset's freshness state), judges an
  asset by its latest materialization *of any partition*: the 1.13.27 evaluator
  (CronFreshnessPolicyEvaluator) reads the asset's last materialization and nothing else, and
  no partition-aware policy is announced (asked in dagster-io/dagster discussion #34023). Here
  older days are written every morning (the arrivals sensor replays late records into earlier
  days, automation rebuilds metrics seven days back), so the policy passes while yesterday's
  partition is missing. test_partition_freshness.py runs the real freshness daemon on that case:
  it fails the day Dagster's policy judges partitions, and then this module should go.
- Dagster's partition-aware checks, `build_time_partition_freshness_checks` with
  `build_sensor_for_freshness_checks`, are superseded by the policy since 1.12; they are
  evaluated inside every ad-hoc materialization of their assets (Dagster puts every check of
  the selected assets into an ad-hoc selection, and a check cannot opt out), where a backfill of
  last month reports that yesterday is overdue; and the UI shows their sensor's target as a
  Python repr.

So each daily and weekly asset also has a `partition_freshness` check that judges *now* against
a deadline: evaluated by `freshness_checks_sensor`, through the `partition_freshness` job (or by
executing the check alone in the UI), and never inside a run that materializes assets (there it
records nothing, and the run shows it as skipped). The cron ticks come from the helpers Dagster's
own freshness evaluator uses (`dagster._utils.schedules`): Dagster exports no cron iterator.
"""

import time
from collections.abc import Iterator, Sequence
from datetime import datetime, timedelta

import dagster as dg
from dagster._core.definitions.unresolved_asset_job_definition import UnresolvedAssetJobDefinition
from dagster._utils.schedules import get_latest_completed_cron_tick, get_next_cron_tick

from theletter_data.partitions import TIMEZONE, TOKYO
from theletter_data.sizing import max_runtime

CHECK_NAME = "partition_freshness"
JOB_NAME = "partition_freshness"
SENSOR_NAME = "freshness_checks_sensor"
NEXT_DEADLINE = "next_deadline"
"""Metadata: when the verdict can change next (the sensor evaluates again from then on)."""
IN_PROGRESS = [
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
    dg.DagsterRunStatus.CANCELING,
    dg.DagsterRunStatus.SUSPENDED,
]
"""A run of the evaluation job that has not ended (Dagster's IN_PROGRESS_RUN_STATUSES)."""


def partition_freshness_checks(
    assets: Sequence[dg.AssetsDefinition], deadline_cron: str, name: str
) -> dg.AssetChecksDefinition:
    """One `partition_freshness` check per asset: the newest partition whose window ended before
    the latest `deadline_cron` tick (Japan time) has been materialized."""
    specs = [
        dg.AssetCheckSpec(
            CHECK_NAME,
            asset=asset,
            description=f"The newest partition due by `{deadline_cron}` ({TIMEZONE}) has been "
            f"materialized. Evaluated by {SENSOR_NAME}, not inside runs that materialize assets.",
        )
        for asset in assets
    ]

    @dg.multi_asset_check(specs=specs, can_subset=True, name=name)
    def _checks(context: dg.AssetCheckExecutionContext) -> Iterator[dg.AssetCheckResult]:
        if context.run.asset_selection:
            context.log.info(
                "Partition freshness is judged by its sensor, not inside a run that materializes "
                "assets: not evaluated here."
            )
            return
        now = datetime.now(TOKYO)
        for key in sorted(context.selected_asset_check_keys, key=str):
            partitions = context.job_def.asset_layer.asset_graph.get(key.asset_key).partitions_def
            if not isinstance(partitions, dg.TimeWindowPartitionsDefinition):
                raise TypeError(f"{key.asset_key.to_user_string()} is not time-partitioned")
            yield evaluate(context.instance, key.asset_key, partitions, deadline_cron, now)

    return _checks


def evaluate(
    instance: dg.DagsterInstance,
    asset_key: dg.AssetKey,
    partitions: dg.TimeWindowPartitionsDefinition,
    deadline_cron: str,
    now: datetime,
) -> dg.AssetCheckResult:
    """Whether the partition due by the latest deadline before `now` has been materialized."""
    deadline = get_latest_completed_cron_tick(deadline_cron, now, TIMEZONE)
    with dg.partition_loading_context(effective_dt=deadline):
        due = partitions.get_last_partition_key()
    landed = due is not None and bool(
        instance.fetch_materializations(
            dg.AssetRecordsFilter(asset_key=asset_key, asset_partitions=[due]), limit=1
        ).records
    )
    deadline_text = f"{deadline.astimezone(TOKYO):%Y-%m-%d %H:%M} JST"
    return dg.AssetCheckResult(
        asset_key=asset_key,
        check_name=CHECK_NAME,
        passed=landed,
        severity=dg.AssetCheckSeverity.WARN,
        description=f"Partition {due} "
        + ("has landed" if landed else "has not landed")
        + f"; it was due by {deadline_text}.",
        metadata={
            "due_partition": str(due),
            "deadline": dg.MetadataValue.timestamp(deadline),
            NEXT_DEADLINE: dg.MetadataValue.timestamp(
                get_next_cron_tick(deadline_cron, now, TIMEZONE)
            ),
        },
    )


def partition_freshness_job(
    checks: Sequence[dg.AssetChecksDefinition],
) -> UnresolvedAssetJobDefinition:
    return dg.define_asset_job(
        JOB_NAME,
        selection=dg.AssetSelection.checks(*checks),
        description="Evaluate the partition freshness checks (freshness_checks_sensor runs it).",
        # Seconds of lookups; the sensor waits while one runs, so a hung one must not last.
        tags=max_runtime(timedelta(minutes=10)),
    )


def freshness_checks_sensor(
    checks: Sequence[dg.AssetChecksDefinition],
    job: UnresolvedAssetJobDefinition,
    default_status: dg.DefaultSensorStatus,
) -> dg.SensorDefinition:
    """Every ten minutes, runs the checks whose verdict may have changed: never evaluated, a
    deadline passed since the last verdict, or failed and the asset materialized since."""
    keys = sorted((key for c in checks for key in c.check_keys), key=str)

    @dg.sensor(
        name=SENSOR_NAME,
        job=job,
        minimum_interval_seconds=600,
        default_status=default_status,
        description="Evaluates the partition freshness checks (yesterday's partition, last "
        "week's for weekly assets, landed by 10:00 JST) whose verdict may have changed.",
    )
    def _sensor(context: dg.SensorEvaluationContext) -> dg.RunRequest | dg.SkipReason:
        instance = context.instance
        running = dg.RunsFilter(job_name=JOB_NAME, statuses=IN_PROGRESS)
        if instance.get_run_records(running, limit=1):
            return dg.SkipReason("An evaluation is still running.")
        due = due_checks(instance, keys, time.time())
        if not due:
            return dg.SkipReason("No verdict can have changed since the last evaluation.")
        return dg.RunRequest(asset_check_keys=due)

    return _sensor


def due_checks(
    instance: dg.DagsterInstance, keys: Sequence[dg.AssetCheckKey], now: float
) -> list[dg.AssetCheckKey]:
    """The checks without a verdict (never evaluated, or their latest evaluation skipped or not
    finished), past the deadline their verdict named, or failed and materialized since."""
    due = []
    for key in keys:
        record = instance.get_latest_asset_check_evaluation_record(key)
        evaluation = record.event.asset_check_evaluation if record and record.event else None
        if record is None or record.event is None or evaluation is None:
            due.append(key)
            continue
        next_deadline = evaluation.metadata.get(NEXT_DEADLINE)
        if next_deadline is None or now >= float(next_deadline.value):
            due.append(key)
        elif not evaluation.passed:
            latest = instance.get_latest_materialization_event(key.asset_key)
            if latest is not None and latest.timestamp > record.event.timestamp:
                due.append(key)
    return due
