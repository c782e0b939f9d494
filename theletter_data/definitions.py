"""The code location's one entry point: every asset of the graph, with the resources of the
environment this process runs in (see settings.py)."""

import dagster as dg

from theletter_data.metrics.newsletter_daily_traffic import newsletter_daily_traffic
from theletter_data.metrics.newsletter_subscriber_cohorts import newsletter_subscriber_cohorts
from theletter_data.metrics.newsletter_subscriber_growth import newsletter_subscriber_growth
from theletter_data.metrics.newsletter_traffic_sources import newsletter_traffic_sources
from theletter_data.metrics.platform_daily_kpis import platform_daily_kpis
from theletter_data.metrics.post_email_funnel import post_email_funnel
from theletter_data.raw.assets import raw_assets
from theletter_data.resources import resources_for
from theletter_data.settings import Settings, load_settings
from theletter_data.staging.app_exports import stg_newsletters, stg_posts, stg_subscriptions
from theletter_data.staging.email_events import stg_email_events
from theletter_data.staging.page_views import stg_page_views

STAGING_ASSETS = [stg_email_events, stg_page_views, stg_newsletters, stg_posts, stg_subscriptions]
DAILY_METRIC_ASSETS = [
    newsletter_daily_traffic,
    newsletter_traffic_sources,
    post_email_funnel,
    newsletter_subscriber_growth,
    platform_daily_kpis,
]
WEEKLY_METRIC_ASSETS = [newsletter_subscriber_cohorts]

daily_refresh_job = dg.define_asset_job(
    "daily_refresh",
    selection=dg.AssetSelection.assets(*STAGING_ASSETS, *DAILY_METRIC_ASSETS),
    description="Stage a day's raw logs and exports and rebuild that day's metrics.",
)
weekly_cohorts_job = dg.define_asset_job(
    "weekly_cohorts",
    selection=dg.AssetSelection.assets(*WEEKLY_METRIC_ASSETS),
    description="Measure the weekly subscriber cohorts at the end of a week.",
)


def build_definitions(settings: Settings) -> dg.Definitions:
    return dg.Definitions(
        assets=[*raw_assets, *STAGING_ASSETS, *DAILY_METRIC_ASSETS, *WEEKLY_METRIC_ASSETS],
        jobs=[daily_refresh_job, weekly_cohorts_job],
        resources=resources_for(settings),
    )


@dg.definitions
def defs() -> dg.Definitions:
    return build_definitions(load_settings())
