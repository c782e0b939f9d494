"""A year's backfill in production: one Fargate task per month of partitions.

One module over 300 lines: the backfill policy each environment declares and the year's
backfill it gives on the production instance are one subject, read together.

Production re-declares the staged and metric tables' backfill policy (definitions.py,
`MONTHLY_BACKFILLS`); locally they keep one run for a whole range. The backfill is planned by
Dagster's own backfill daemon (an iteration of it, in process) on the production instance
(the top-level dagster.yaml: PostgreSQL, the queued run coordinator), and its runs are
launched by the queue's daemon through `SizedEcsRunLauncher` on a moto ECS server, as the
deployment's daemon does. Nothing executes the runs' steps: what is checked is how many runs,
of which days and assets, how many launched at once, and the size of each task.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path

import boto3
import dagster as dg
import psycopg2
import pytest
from dagster._core.execution.backfill import BulkActionStatus, PartitionBackfill
from dagster._core.remote_origin import InProcessCodeLocationOrigin
from dagster._core.storage.dagster_run import DagsterRunStatus, RunsFilter
from dagster._core.storage.tags import (
    ASSET_PARTITION_RANGE_END_TAG,
    ASSET_PARTITION_RANGE_START_TAG,
    BACKFILL_ID_TAG,
)
from dagster._core.test_utils import create_test_daemon_workspace_context
from dagster._core.types.loadable_target_origin import LoadableTargetOrigin
from dagster._core.workspace.context import WorkspaceProcessContext
from dagster._core.workspace.load_target import InProcessWorkspaceLoadTarget
from dagster._daemon import get_default_daemon_logger
from dagster._daemon.backfill import execute_backfill_iteration
from dagster._daemon.run_coordinator.queued_run_coordinator_daemon import (
    QueuedRunCoordinatorDaemon,
)

from theletter_data.automation import selection
from theletter_data.definitions import MONTHLY_BACKFILLS, backfill_policies, build_definitions
from theletter_data.partitions import daily_partitions, weekly_partitions
from theletter_data.settings import Environment, Settings
from theletter_data.sizing import (
    INGESTION,
    ONE_AT_A_TIME_TAG,
    WAREHOUSE_POOL,
    WAREHOUSE_SQL,
    TaskSize,
)
from theletter_data_tests.support.production_instance import (
    IMAGE,
    IMAGE_PYTHON,
    REPOSITORY_ROOT,
)

YEAR = [date(2025, 1, 1) + timedelta(days=i) for i in range(365)]
MONTH_RUNS_AT_ONCE = 4
"""dagster.yaml: runs tagged `dagster/backfill` at once."""

STAGED = {
    "stg_app_logs",
    "stg_email_events",
    "stg_newsletters",
    "stg_page_views",
    "stg_posts",
    "stg_subscriptions",
}


def _looking_back(defs: dg.Definitions, keys: set[dg.AssetKey]) -> set[str]:
    """The assets among `keys` that read days before their own window (a time-window partition
    mapping that starts earlier), or read an asset that does: a backfill's run of a month
    holds them back until the earlier days exist. Derived from the declarations' partition
    mappings, so a new metric is classed by its `Upstream(days_before=...)`."""
    graph = defs.resolve_asset_graph()
    back: set[dg.AssetKey] = set()
    changed = True
    while changed:
        changed = False
        for key in keys - back:
            node = graph.get(key)
            for parent in node.parent_keys:
                mapping = node.partition_mappings.get(parent)
                earlier = isinstance(mapping, dg.TimeWindowPartitionMapping)
                if (earlier and mapping.start_offset < 0) or parent in back:
                    back.add(key)
                    changed = True
                    break
    return {key.to_user_string() for key in back}


# --- the policy, per environment --------------------------------------------------------------


def _definitions(environment: Environment, tmp_path: Path) -> dg.Definitions:
    return build_definitions(
        Settings(environment=environment, data_dir=tmp_path, pseudonym_key_set=True)
    )


def _policies(defs: dg.Definitions) -> dict[str, dg.BackfillPolicy | None]:
    graph = defs.resolve_asset_graph()
    return {
        key.to_user_string(): graph.get(key).backfill_policy
        for key in graph.materializable_asset_keys
    }


def test_backfills_run_a_month_a_task_only_in_production(tmp_path: Path) -> None:
    local = _policies(_definitions(Environment.LOCAL, tmp_path))
    production = _policies(_definitions(Environment.PRODUCTION, tmp_path))
    graph = _definitions(Environment.PRODUCTION, tmp_path).resolve_asset_graph()
    tables = dg.AssetSelection.groups(selection.STAGING, selection.METRICS).resolve(graph)
    daily = {k.to_user_string() for k in selection.Cadence.DAILY.selection.resolve(graph)}
    weekly = {k.to_user_string() for k in selection.Cadence.WEEKLY.selection.resolve(graph)}
    partitioned_tables = {k.to_user_string() for k in tables} & (daily | weekly)

    assert partitioned_tables >= STAGED
    assert {local[name] for name in partitioned_tables} == {dg.BackfillPolicy.single_run()}
    assert {name: production[name] for name in partitioned_tables} == {
        name: dg.BackfillPolicy.multi_run(31 if name in daily else 4) for name in partitioned_tables
    }
    assert MONTHLY_BACKFILLS[selection.Cadence.DAILY].max_partitions_per_run == 31
    # Everything else is as declared: the dashboards' documents (one run, after the metrics),
    # and the current-day tables (unpartitioned: no backfills).
    others = set(local) - partitioned_tables
    assert {name: production[name] for name in others} == {name: local[name] for name in others}
    assert production["newsletter_dashboard_documents"] == dg.BackfillPolicy.single_run()


def test_only_the_backfill_policy_differs_between_the_environments(tmp_path: Path) -> None:
    """The re-declared assets keep their step: the same op and its tags (size, pool), retry
    policy, checks, partitions, deps and automation."""
    local = _definitions(Environment.LOCAL, tmp_path).resolve_asset_graph()
    production = _definitions(Environment.PRODUCTION, tmp_path).resolve_asset_graph()
    for key in local.materializable_asset_keys:
        before, after = local.get(key), production.get(key)
        assert (after.assets_def.op.tags, after.assets_def.op.retry_policy) == (
            before.assets_def.op.tags,
            before.assets_def.op.retry_policy,
        ), key
        assert after.pools == before.pools, key
        assert after.check_keys == before.check_keys, key
        assert after.partitions_def == before.partitions_def, key
        assert after.partition_mappings == before.partition_mappings, key
        assert after.automation_condition == before.automation_condition, key
        assert after.assets_def.op.compute_fn is before.assets_def.op.compute_fn, key


def test_only_single_run_tables_of_a_day_or_a_week_are_split(tmp_path: Path) -> None:
    """What the re-declaration leaves alone: a table with a policy of its own, one with
    partitions that are neither days nor weeks, an unpartitioned one, the serving layer and
    external specs."""
    production = Settings(
        environment=Environment.PRODUCTION, data_dir=tmp_path, pseudonym_key_set=True
    )
    single = dg.BackfillPolicy.single_run()

    def table(name: str, group: str, partitions, policy):  # type: ignore[no-untyped-def]
        return dg.asset(name=name, group_name=group, partitions_def=partitions,
                        backfill_policy=policy)(lambda: None)  # fmt: skip

    monthly = dg.MonthlyPartitionsDefinition(start_date="2025-01-01")
    assets = [
        table("own_policy", "staging", daily_partitions, dg.BackfillPolicy.multi_run(7)),
        table("no_policy", "metrics", daily_partitions, None),
        table("months", "metrics", monthly, single),
        table("today", "staging", None, None),
        table("documents", "serving", daily_partitions, single),
        table("days", "metrics", daily_partitions, single),
        table("weeks", "metrics", weekly_partitions, single),
        dg.AssetSpec("raw_stream", group_name="raw", partitions_def=daily_partitions),
    ]

    declared = {_key(a): _policy(a) for a in assets}
    assert {_key(a): _policy(a) for a in backfill_policies(production, assets)} == {
        **declared,
        "days": dg.BackfillPolicy.multi_run(31),
        "weeks": dg.BackfillPolicy.multi_run(4),
    }
    local = Settings(environment=Environment.LOCAL, data_dir=tmp_path, pseudonym_key_set=False)
    assert {_key(a): _policy(a) for a in backfill_policies(local, assets)} == declared


def _key(asset: dg.AssetsDefinition | dg.AssetSpec) -> str:
    return asset.key.to_user_string()


def _policy(asset: dg.AssetsDefinition | dg.AssetSpec) -> dg.BackfillPolicy | None:
    return asset.backfill_policy if isinstance(asset, dg.AssetsDefinition) else None


def test_the_daily_job_backfills_a_month_a_run_in_production(tmp_path: Path) -> None:
    """A job backfill takes the policy of the job's assets: one run for the range locally, a
    run per 31 days in production, and then its runs go one at a time (its tag)."""
    local = _definitions(Environment.LOCAL, tmp_path).resolve_job_def("daily_refresh")
    production = _definitions(Environment.PRODUCTION, tmp_path).resolve_job_def("daily_refresh")
    assert local.backfill_policy == dg.BackfillPolicy.single_run()
    assert production.backfill_policy == dg.BackfillPolicy.multi_run(31)
    assert production.tags[ONE_AT_A_TIME_TAG] == "daily_refresh"


# --- a year's backfill on the production instance and moto ECS -----------------------------


@pytest.fixture
def instance(
    production_environment: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[dg.DagsterInstance]:
    """The production instance (the top-level dagster.yaml) in a database of its own: the run
    queue counts every run in progress, so no other test's runs may be in it."""
    database = f"backfill_{uuid.uuid4().hex[:8]}"
    connection = psycopg2.connect(
        host=production_environment["DAGSTER_PG_HOST"],
        port=production_environment["DAGSTER_PG_PORT"],
        user=production_environment["DAGSTER_PG_USERNAME"],
        dbname=production_environment["DAGSTER_PG_DB"],
    )
    connection.autocommit = True
    with connection.cursor() as cursor:
        cursor.execute(f"CREATE DATABASE {database}")
    connection.close()
    monkeypatch.setenv("DAGSTER_PG_DB", database)
    with dg.DagsterInstance.from_config(str(REPOSITORY_ROOT)) as production_instance:
        # Its storages keep their connection open, as the webserver's do (Dagster's own switch,
        # at dagster-webserver's pool defaults; no statement limit, as the daemon has none):
        # otherwise each of the ~11,000 queries of a year's backfill opens one, 32 s of the
        # test's 78. What is planned and launched does not depend on how storage connects.
        production_instance.optimize_for_webserver(
            statement_timeout=0, pool_recycle=3600, max_overflow=20
        )
        yield production_instance


@pytest.fixture
def workspace(instance: dg.DagsterInstance) -> Iterator[WorkspaceProcessContext]:
    """The code location as the production daemon sees it, loaded in process from the entry
    point with the production environment (production_environment), with the image of the
    code server (runs get it as their task's image)."""
    origin = InProcessCodeLocationOrigin(
        LoadableTargetOrigin(
            executable_path=IMAGE_PYTHON,
            module_name="theletter_data.definitions",
            attribute="defs",
        ),
        container_image=IMAGE,
        location_name="theletter_data",
    )
    load_target = InProcessWorkspaceLoadTarget(origin)
    # As after the deployment's first run that wrote the warehouse: the pool exists, at the
    # instance's default limit (Dagster creates it then; the queue counts only pools it knows).
    instance.event_log_storage.initialize_concurrency_limit_to_default(WAREHOUSE_POOL)
    with create_test_daemon_workspace_context(load_target, instance) as context:
        yield context


def _asset_backfill(workspace: WorkspaceProcessContext, assets: set[str], days: list[date]) -> str:
    """An asset backfill as the UI's Materialize over a range submits it."""
    instance = workspace.instance
    backfill_id = f"year-{uuid.uuid4().hex[:8]}"
    instance.add_backfill(
        PartitionBackfill.from_asset_partitions(
            backfill_id=backfill_id,
            asset_graph=workspace.create_request_context().asset_graph,
            partition_names=[d.isoformat() for d in days],
            asset_selection=[dg.AssetKey(a) for a in sorted(assets)],
            backfill_timestamp=time.time(),
            tags={},
            dynamic_partitions_store=instance,
            all_partitions=False,
            title=None,
            description=None,
            run_config=None,
        )
    )
    return backfill_id


def _plan(workspace: WorkspaceProcessContext) -> None:
    """One iteration of the backfill daemon: it submits the runs it can."""
    list(execute_backfill_iteration(workspace, get_default_daemon_logger("BackfillDaemon")))


def _dequeue(workspace: WorkspaceProcessContext) -> None:
    """One iteration of the run queue's daemon: it launches the queued runs the limits allow."""
    with QueuedRunCoordinatorDaemon(interval_seconds=1) as daemon:
        list(daemon.run_iteration(workspace))


def _runs(instance: dg.DagsterInstance, backfill_id: str) -> list[dg.DagsterRun]:
    runs = instance.get_runs(RunsFilter(tags={BACKFILL_ID_TAG: backfill_id}))
    return sorted(runs, key=lambda r: r.tags[ASSET_PARTITION_RANGE_START_TAG])


def _days(run: dg.DagsterRun) -> tuple[str, str]:
    return run.tags[ASSET_PARTITION_RANGE_START_TAG], run.tags[ASSET_PARTITION_RANGE_END_TAG]


def _month_chunks(days: list[date], size: int) -> list[tuple[str, str]]:
    return [
        (days[i].isoformat(), days[min(i + size, len(days)) - 1].isoformat())
        for i in range(0, len(days), size)
    ]


def _tasks(instance: dg.DagsterInstance, backfill_id: str) -> dict[str, TaskSize]:
    """The Fargate tasks of the backfill's launched runs, by run id, with the size ECS was
    asked for."""
    ecs = boto3.client("ecs")
    sizes = {}
    for run in instance.get_runs(RunsFilter(tags={BACKFILL_ID_TAG: backfill_id})):
        if "ecs/task_arn" not in run.tags:
            continue
        (task,) = ecs.describe_tasks(
            cluster=run.tags["ecs/cluster"], tasks=[run.tags["ecs/task_arn"]]
        )["tasks"]
        assert task["launchType"] == "FARGATE"
        sizes[run.run_id] = TaskSize(
            int(task["overrides"]["cpu"]), int(task["overrides"]["memory"])
        )
    return sizes


def test_a_year_of_the_daily_graph_is_a_task_per_month(workspace, monkeypatch, tmp_path) -> None:
    """The daily graph (daily_refresh's assets) over 2025, as one asset backfill from the UI:
    12 runs of 31 days (the last 24), each
    staging its days and building the metrics of the same days, each a 2 vCPU / 8 GiB task;
    four run at once, the rest wait in the queue; the metrics that read earlier days wait for
    them."""
    # The code location resolves the configuration of a run's resources when it plans the run:
    # staging's pseudonymizer reads its key then.
    monkeypatch.setenv("THELETTER_PSEUDONYM_KEY", "production-test-key")
    instance = workspace.instance
    job = _definitions(Environment.PRODUCTION, tmp_path).resolve_job_def("daily_refresh")
    selected = set(job.asset_layer.selected_asset_keys)
    daily_graph = {k.to_user_string() for k in selected}
    looking_back = _looking_back(_definitions(Environment.PRODUCTION, tmp_path), selected)
    same_days = daily_graph - looking_back
    # The 30-day funnel reads earlier days; the staged tables and the day's traffic do not.
    assert "post_email_funnel" in looking_back
    assert STAGED | {"newsletter_daily_traffic", "platform_daily_kpis"} <= same_days
    backfill_id = _asset_backfill(workspace, daily_graph, YEAR)

    _plan(workspace)

    runs = _runs(instance, backfill_id)
    assert [_days(r) for r in runs] == _month_chunks(YEAR, 31)
    assert len(runs) == 12
    for run in runs:
        assert {k.to_user_string() for k in run.asset_selection or ()} == same_days
        assert run.status == DagsterRunStatus.QUEUED

    _dequeue(workspace)

    launched = _tasks(instance, backfill_id)
    assert len(launched) == MONTH_RUNS_AT_ONCE
    assert set(launched.values()) == {INGESTION}
    assert {run.run_id for run in runs[:MONTH_RUNS_AT_ONCE]} == set(launched)  # oldest first
    assert {r.status for r in runs[MONTH_RUNS_AT_ONCE:]} == {DagsterRunStatus.QUEUED}

    _plan(workspace)  # nothing of the looking-back metrics until their earlier days are staged
    assert len(_runs(instance, backfill_id)) == 12
    backfill = instance.get_backfill(backfill_id)
    assert backfill is not None and backfill.status == BulkActionStatus.REQUESTED


def test_a_metric_alone_is_a_small_task_per_month(workspace) -> None:
    """Rebuilding one metric over a year (its SQL changed; the staged tables stand): 12 runs of
    the metric alone, in the smallest task."""
    instance = workspace.instance
    backfill_id = _asset_backfill(workspace, {"post_email_funnel"}, YEAR)

    _plan(workspace)
    _dequeue(workspace)

    runs = _runs(instance, backfill_id)
    assert [_days(r) for r in runs] == _month_chunks(YEAR, 31)
    launched = _tasks(instance, backfill_id)
    assert set(launched.values()) == {WAREHOUSE_SQL}
    assert len(launched) == MONTH_RUNS_AT_ONCE


def test_a_job_backfill_runs_its_months_one_at_a_time_in_order(workspace, monkeypatch) -> None:
    """`dagster job backfill -j daily_refresh` over a quarter: a run of the whole job per 31
    days, as the job's assets' policy says; each month's funnel reads the 30 days before it,
    which the previous run stages, so the runs go one at a time, the first month first."""
    monkeypatch.setenv("THELETTER_PSEUDONYM_KEY", "production-test-key")
    instance = workspace.instance
    quarter = YEAR[:90]
    repository = (
        workspace.create_request_context()
        .get_code_location("theletter_data")
        .get_repository("__repository__")
    )
    partition_set = repository.get_partition_set("daily_refresh_partition_set")
    backfill_id = f"job-{uuid.uuid4().hex[:8]}"
    instance.add_backfill(
        PartitionBackfill(
            backfill_id=backfill_id,
            partition_set_origin=partition_set.get_remote_origin(),
            status=BulkActionStatus.REQUESTED,
            partition_names=[d.isoformat() for d in quarter],
            from_failure=False,
            reexecution_steps=None,
            tags={},
            backfill_timestamp=time.time(),
        )
    )

    _plan(workspace)
    _dequeue(workspace)

    runs = _runs(instance, backfill_id)
    assert [_days(r) for r in runs] == _month_chunks(quarter, 31)
    assert {r.job_name for r in runs} == {"daily_refresh"}
    launched = _tasks(instance, backfill_id)
    assert list(launched) == [runs[0].run_id]
    assert set(launched.values()) == {INGESTION}
    assert [r.status for r in runs[1:]] == [DagsterRunStatus.QUEUED] * 2
