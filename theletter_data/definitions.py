"""The code location's one entry point: every asset of the graph, its checks and automation,
with the resources of the environment this process runs in (see settings.py)."""

from datetime import timedelta

import dagster as dg

from theletter_data.automation.alerts import freshness_alerts, run_failure_alerts
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
from theletter_data.metrics.newsletter_daily_traffic import newsletter_daily_traffic
from theletter_data.metrics.newsletter_subscriber_cohorts import newsletter_subscriber_cohorts
from theletter_data.metrics.newsletter_subscriber_growth import newsletter_subscriber_growth
from theletter_data.metrics.newsletter_traffic_sources import newsletter_traffic_sources
from theletter_data.metrics.platform_daily_kpis import platform_daily_kpis
from theletter_data.metrics.platform_top_newsletters import platform_top_newsletters
from theletter_data.metrics.post_email_funnel import post_email_funnel
from theletter_data.metrics.traffic_today import (
    newsletter_traffic_sources_today,
    newsletter_traffic_today,
)
from theletter_data.partitions import TIMEZONE
from theletter_data.raw.assets import raw_appdb_exports, raw_assets
from theletter_data.resources import resources_for
from theletter_data.serving.dashboard_documents import newsletter_dashboard_documents
from theletter_data.settings import Environment, Settings, load_settings
from theletter_data.sizing import max_runtime
from theletter_data.staging.app_exports import stg_newsletters, stg_posts, stg_subscriptions
from theletter_data.staging.app_logs import stg_app_logs
from theletter_data.staging.email_events import stg_email_events
from theletter_data.staging.page_views import stg_page_views
from theletter_data.staging.page_views_today import stg_page_views_today

STAGING_ASSETS = [
    stg_email_events,
    stg_page_views,
    stg_app_logs,
    stg_newsletters,
    stg_posts,
    stg_subscriptions,
]
DAILY_METRIC_ASSETS = [
    newsletter_daily_traffic,
    newsletter_traffic_sources,
    post_email_funnel,
    newsletter_subscriber_growth,
    platform_daily_kpis,
    platform_top_newsletters,
]
WEEKLY_METRIC_ASSETS = [newsletter_subscriber_cohorts]
INTRADAY_ASSETS = [stg_page_views_today, newsletter_traffic_today, newsletter_traffic_sources_today]
SERVING_ASSETS = [newsletter_dashboard_documents]
ALL_ASSETS = [
    *raw_assets,
    *STAGING_ASSETS,
    *DAILY_METRIC_ASSETS,
    *WEEKLY_METRIC_ASSETS,
    *INTRADAY_ASSETS,
    *SERVING_ASSETS,
]


FRESHNESS_CHECKS = [
    partition_freshness_checks(
        [*STAGING_ASSETS, *DAILY_METRIC_ASSETS, *SERVING_ASSETS],
        DAILY_DEADLINE_CRON,
        name="partition_freshness_daily",
    ),
    partition_freshness_checks(
        WEEKLY_METRIC_ASSETS, WEEKLY_DEADLINE_CRON, name="partition_freshness_weekly"
    ),
]
"""Each daily (weekly) partition must have landed by 10:00 JST: see
automation/partition_freshness.py, which also says why these are not Dagster's own."""
partition_freshness = partition_freshness_job(FRESHNESS_CHECKS)


def _assets_without_freshness_checks(*assets: dg.AssetsDefinition) -> dg.AssetSelection:
    """Jobs materialize assets with their data checks; a freshness check judges *now* against a
    deadline, which only its sensor should do (not a backfill of last month)."""
    return dg.AssetSelection.assets(*assets) - dg.AssetSelection.checks(*FRESHNESS_CHECKS)


daily_refresh_job = dg.define_asset_job(
    "daily_refresh",
    selection=_assets_without_freshness_checks(*STAGING_ASSETS, *DAILY_METRIC_ASSETS),
    description="Stage a day's raw logs and exports and rebuild that day's metrics "
    "(backfills, the demo; day to day, the sensor and automation do this).",
    # A day takes minutes and a year's backfill in one run 22 minutes (README, Performance);
    # three hung attempts from 03:00 JST still fail before the 10:00 deadline.
    tags=max_runtime(timedelta(hours=2)),
)
weekly_cohorts_job = dg.define_asset_job(
    "weekly_cohorts",
    selection=_assets_without_freshness_checks(*WEEKLY_METRIC_ASSETS),
    description="Measure the weekly subscriber cohorts at the end of a week.",
    tags=max_runtime(timedelta(hours=1)),  # SQL on the warehouse, minutes
)
publish_dashboards_job = dg.define_asset_job(
    "publish_dashboards",
    selection=_assets_without_freshness_checks(*SERVING_ASSETS),
    description="Publish the authors' dashboard documents as of a day (the demo, a manual "
    "refresh; day to day, automation does this after the metrics).",
    tags=max_runtime(timedelta(hours=1)),  # two days of metrics to JSON documents, minutes
)
intraday_refresh_job = dg.define_asset_job(
    "intraday_refresh",
    selection=dg.AssetSelection.assets(*INTRADAY_ASSETS),
    description="Stage today's page views so far and rebuild today's traffic tables.",
    # Every 3 hours, tables never older than 4 h: a hung run is failed and retried in time.
    tags=max_runtime(timedelta(hours=1)),
)


def automation(settings: Settings) -> tuple[list[dg.ScheduleDefinition], list[dg.SensorDefinition]]:
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
            target=dg.AssetSelection.assets(*DAILY_METRIC_ASSETS, *WEEKLY_METRIC_ASSETS),
            default_status=sensor_status,
            description="Rebuilds metric partitions after their staged inputs change.",
        ),
        dg.AutomationConditionSensorDefinition(
            "dashboards_automation",
            target=dg.AssetSelection.assets(*SERVING_ASSETS),
            default_status=sensor_status,
            description="Publishes the authors' dashboard documents (newsletter_dashboard_"
            "documents) for the latest days once the metrics they read are rebuilt.",
        ),
        freshness_checks_sensor(FRESHNESS_CHECKS, partition_freshness, sensor_status),
        freshness_alerts(
            [
                key
                for asset in ALL_ASSETS
                if isinstance(asset, dg.AssetsDefinition)
                for key in asset.keys
            ],
            [key for checks in FRESHNESS_CHECKS for key in checks.check_keys],
            sensor_status,
        ),
        run_failure_alerts(sensor_status),
    ]
    schedules = [intraday]
    if settings.reads_app_database:
        schedules.append(appdb_extract_schedule(schedule_status))
    return schedules, sensors


def assets_for(settings: Settings) -> list[dg.AssetsDefinition | dg.AssetSpec]:
    """Every asset; with the app database configured, its tables are extracted (materializable)
    instead of arriving as exports (external)."""
    if not settings.reads_app_database:
        return ALL_ASSETS
    exports = {spec.key for spec in raw_appdb_exports.values()}
    kept = [a for a in ALL_ASSETS if not (isinstance(a, dg.AssetSpec) and a.key in exports)]
    return [appdb_extract, *kept]


def build_definitions(settings: Settings) -> dg.Definitions:
    schedules, sensors = automation(settings)
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
        assets=assets_for(settings),
        asset_checks=FRESHNESS_CHECKS,
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
