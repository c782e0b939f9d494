"""The code location's one entry point: the graph, its checks and automation, with the resources
of the environment this process runs in (see settings.py).

Nothing here lists assets. Every asset, asset spec and asset check at the top level of a module
of the layer packages (`LAYERS`) is part of the graph, found by Dagster's module loading; jobs,
automation and freshness checks select assets by layer and cadence (automation/selection.py).
A new metric module in `metrics/` is therefore in the graph, its jobs and its automation
without an edit here.
"""

import importlib
import pkgutil
from collections.abc import Iterator, Sequence
from datetime import timedelta
from types import ModuleType

import dagster as dg

from theletter_data.automation import selection
from theletter_data.automation.alerts import freshness_alerts, run_failure_alerts
from theletter_data.automation.deliverability_alerts import deliverability_alerts
from theletter_data.automation.partition_freshness import (
    freshness_checks_sensor,
    partition_freshness_checks,
    partition_freshness_job,
)
from theletter_data.automation.policies import (
    DAILY_DEADLINE_CRON,
    INTRADAY_CRON,
    WEEKLY_DEADLINE_CRON,
)
from theletter_data.automation.raw_arrivals import raw_arrivals_sensor
from theletter_data.extract.appdb_assets import (
    appdb_extract,
    appdb_extract_job,
    appdb_extract_schedule,
)
from theletter_data.partitions import TIMEZONE
from theletter_data.resources import resources_for
from theletter_data.settings import Environment, Settings, load_settings
from theletter_data.sizing import max_runtime, one_run_at_a_time

LAYERS = (
    "theletter_data.raw",
    "theletter_data.staging",
    "theletter_data.metrics",
    "theletter_data.serving",
)
"""The packages whose modules make up the graph, one asset group each. The app database's
extraction (extract/) is not among them: settings decide whether it replaces the raw exports."""

Asset = dg.AssetsDefinition | dg.AssetSpec


def discover(
    packages: Sequence[str] = LAYERS,
) -> tuple[list[Asset], list[dg.AssetChecksDefinition]]:
    """Every asset (and external asset spec) and asset check defined at the top level of a
    module under `packages`. An asset imported into another module is the same object and
    counts once; two definitions of one key fail, naming their modules."""
    modules = [module for package in packages for module in _modules(package)]
    assets = dg.load_assets_from_modules(modules, include_specs=True)
    if legacy := [a for a in assets if not isinstance(a, Asset)]:  # SourceAsset, say
        names = ", ".join(str(getattr(a, "key", a)) for a in legacy)
        raise TypeError(f"Declare as an AssetSpec or an asset: {names}")
    checks = dg.load_asset_checks_from_modules(modules)
    return [a for a in assets if isinstance(a, Asset)], list(checks)


def _modules(package: str) -> Iterator[ModuleType]:
    """The package and all its modules. (Dagster's `load_assets_from_package_module` walks
    only packages with an `__init__.py`; serving/ is a namespace package.)"""
    root = importlib.import_module(package)
    yield root
    for found in pkgutil.walk_packages(root.__path__, prefix=f"{package}."):
        yield importlib.import_module(found.name)


ALL_ASSETS, DISCOVERED_CHECKS = discover()
if errors := selection.cadence_errors([*ALL_ASSETS, appdb_extract]):
    raise ValueError("Assets with a wrong cadence: " + "; ".join(errors))


def assets_in(
    chosen: dg.AssetSelection, assets: Sequence[Asset] = ALL_ASSETS
) -> list[dg.AssetsDefinition]:
    """The materializable assets a selection picks, in discovery order."""
    materializable = [a for a in assets if isinstance(a, dg.AssetsDefinition)]
    keys = chosen.resolve(materializable)
    return [a for a in materializable if a.keys & keys]


INTRADAY_ASSETS = assets_in(selection.INTRADAY)
"""Derived from the selection, for tests and the benchmark, like the two below."""
STAGING_ASSETS = assets_in(selection.DAILY_STAGING)
DAILY_METRIC_ASSETS = assets_in(selection.DAILY_METRICS)

FRESHNESS_CHECKS = [
    partition_freshness_checks(
        assets_in(selection.DAILY_DEADLINE), DAILY_DEADLINE_CRON, name="partition_freshness_daily"
    ),
    partition_freshness_checks(
        assets_in(selection.WEEKLY_DEADLINE),
        WEEKLY_DEADLINE_CRON,
        name="partition_freshness_weekly",
    ),
]
"""Each daily (weekly) partition must have landed by 10:00 JST: see
automation/partition_freshness.py, which also says why these are not Dagster's own."""
partition_freshness = partition_freshness_job(FRESHNESS_CHECKS)


def _without_freshness_checks(chosen: dg.AssetSelection) -> dg.AssetSelection:
    """Jobs materialize assets with their data checks; a freshness check judges *now* against a
    deadline, which only its sensor should do (not a backfill of last month)."""
    return chosen - dg.AssetSelection.checks(*FRESHNESS_CHECKS)


daily_refresh_job = dg.define_asset_job(
    "daily_refresh",
    selection=_without_freshness_checks(selection.DAILY_STAGING | selection.DAILY_METRICS),
    description="Stage a day's raw logs and exports and rebuild that day's metrics "
    "(backfills, the demo; day to day, the sensor and automation do this).",
    # A day takes minutes and a year's backfill in one run 22 minutes (README, Performance);
    # three hung attempts from 03:00 JST still fail before the 10:00 deadline. Its runs go one
    # at a time where the instance limits the tag (production): see MONTHLY_BACKFILLS.
    tags={**max_runtime(timedelta(hours=2)), **one_run_at_a_time("daily_refresh")},
)
weekly_cohorts_job = dg.define_asset_job(
    "weekly_cohorts",
    selection=_without_freshness_checks(selection.WEEKLY_METRICS),
    description="Measure the weekly subscriber cohorts at the end of a week.",
    tags=max_runtime(timedelta(hours=1)),  # SQL on the warehouse, minutes
)
publish_dashboards_job = dg.define_asset_job(
    "publish_dashboards",
    selection=_without_freshness_checks(selection.DASHBOARDS),
    description="Publish the authors' dashboard documents as of a day (the demo, a manual "
    "refresh; day to day, automation does this after the metrics).",
    tags=max_runtime(timedelta(hours=1)),  # two days of metrics to JSON documents, minutes
)
intraday_refresh_job = dg.define_asset_job(
    "intraday_refresh",
    selection=selection.INTRADAY,
    description="Stage today's page views so far and rebuild today's traffic tables.",
    # Every 3 hours, tables never older than 4 h: a hung run is failed and retried in time.
    tags=max_runtime(timedelta(hours=1)),
)


def automation(
    settings: Settings, assets: Sequence[Asset] = ALL_ASSETS
) -> tuple[list[dg.ScheduleDefinition], list[dg.SensorDefinition]]:
    """Schedules and sensors, running by themselves where settings say so."""
    running = settings.automation_starts_running
    sensor_status = dg.DefaultSensorStatus.RUNNING if running else dg.DefaultSensorStatus.STOPPED
    schedule_status = (
        dg.DefaultScheduleStatus.RUNNING if running else dg.DefaultScheduleStatus.STOPPED
    )
    intraday = dg.ScheduleDefinition(
        name="intraday_refresh_schedule",
        job=intraday_refresh_job,
        cron_schedule=INTRADAY_CRON,
        execution_timezone=TIMEZONE,
        default_status=schedule_status,
        description="Today's traffic tables every three hours (Japan time).",
    )
    sensors = [
        raw_arrivals_sensor(sensor_status),
        dg.AutomationConditionSensorDefinition(
            "metrics_automation",
            target=selection.DAILY_METRICS | selection.WEEKLY_METRICS,
            default_status=sensor_status,
            description="Rebuilds metric partitions after their staged inputs change.",
        ),
        dg.AutomationConditionSensorDefinition(
            "dashboards_automation",
            target=selection.DASHBOARDS,
            default_status=sensor_status,
            description="Publishes the authors' dashboard documents (newsletter_dashboard_"
            "documents) for the latest days once the metrics they read are rebuilt.",
        ),
        freshness_checks_sensor(FRESHNESS_CHECKS, partition_freshness, sensor_status),
        freshness_alerts(
            [key for a in assets_in(selection.ALERTED_WHEN_LATE, assets) for key in _keys(a)],
            [key for checks in FRESHNESS_CHECKS for key in checks.check_keys],
            sensor_status,
        ),
        run_failure_alerts(sensor_status),
        deliverability_alerts(sensor_status),
    ]
    schedules = [intraday]
    if settings.reads_app_database:
        schedules.append(appdb_extract_schedule(schedule_status))
    return schedules, sensors


def _keys(asset: Asset) -> list[dg.AssetKey]:
    return list(asset.keys) if isinstance(asset, dg.AssetsDefinition) else [asset.key]


def assets_for(settings: Settings) -> list[Asset]:
    """Every asset; with the app database configured, its tables are extracted (materializable)
    instead of arriving as exports (external)."""
    if not settings.reads_app_database:
        return ALL_ASSETS
    extracted = set(appdb_extract.keys)
    kept = [a for a in ALL_ASSETS if not (isinstance(a, dg.AssetSpec) and a.key in extracted)]
    return [appdb_extract, *kept]


MONTHLY_BACKFILLS = {
    selection.Cadence.DAILY: dg.BackfillPolicy.multi_run(max_partitions_per_run=31),
    selection.Cadence.WEEKLY: dg.BackfillPolicy.multi_run(max_partitions_per_run=4),
}
"""How a production backfill splits the staged and metric tables: a run task per month of
partitions (31 days; 4 weeks, the most whole weeks within 31 days). Locally every one of them
backfills its whole range in one run (`BackfillPolicy.single_run()`, as declared): DuckDB has
one writer, and one process reads a range of days fastest (README, Performance).

An asset backfill (the UI's Materialize over a range) runs the months side by side, as many as
dagster.yaml lets backfills run at once, BigQuery taking their loads and MERGEs: every month
writes its own partitions. A table that reads days before its window (post_email_funnel reads
30) is requested for a month only once the months it reads are staged: Dagster plans by the
partition mappings. A job backfill (`dagster job backfill -j daily_refresh`) runs the whole job
per month and does not: its runs go one at a time, in order (`one_run_at_a_time`)."""


def backfill_policies(settings: Settings, assets: Sequence[Asset]) -> list[Asset]:
    """The assets, with the production backfill policy (MONTHLY_BACKFILLS) on each staged and
    metric asset that declares single-run backfills; the rest, and everything locally, as
    declared. (`with_attributes` is how Dagster's own loaders re-declare an asset's attributes;
    the graph snapshot shows the result in every environment.)"""
    if settings.environment is Environment.LOCAL:
        return list(assets)
    tables = dg.AssetSelection.groups(selection.STAGING, selection.METRICS)
    monthly = {id(a): _per_month(a) for a in assets_in(tables, assets)}
    return [monthly.get(id(a), a) for a in assets]


def _per_month(asset: dg.AssetsDefinition) -> dg.AssetsDefinition:
    cadence = selection.expected_cadence(asset.partitions_def)
    if cadence not in MONTHLY_BACKFILLS or asset.backfill_policy != dg.BackfillPolicy.single_run():
        return asset
    return asset.with_attributes(backfill_policy=MONTHLY_BACKFILLS[cadence])


def build_definitions(settings: Settings) -> dg.Definitions:
    schedules, sensors = automation(settings, assets_for(settings))
    jobs = [
        daily_refresh_job,
        weekly_cohorts_job,
        publish_dashboards_job,
        intraday_refresh_job,
        partition_freshness,
    ]
    if settings.reads_app_database:
        jobs.append(appdb_extract_job)
    return dg.Definitions(
        assets=backfill_policies(settings, assets_for(settings)),
        asset_checks=[*DISCOVERED_CHECKS, *FRESHNESS_CHECKS],
        jobs=jobs,
        schedules=schedules,
        sensors=sensors,
        resources=resources_for(settings),
        executor=_executor(settings),
    )


def _executor(settings: Settings) -> dg.ExecutorDefinition:
    """Locally every warehouse step waits for DuckDB's single writer, so steps run one after
    another anyway: running them in the run's own process saves a Python start-up per step
    (about 3 s each; the benchmark measures it). In production each step is a process of its
    own, so BigQuery steps run side by side."""
    if settings.environment is Environment.LOCAL:
        return dg.in_process_executor
    return dg.multiprocess_executor


@dg.definitions
def defs() -> dg.Definitions:
    return build_definitions(load_settings())
