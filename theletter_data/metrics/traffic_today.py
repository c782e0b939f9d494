"""newsletter_traffic_today and newsletter_traffic_sources_today: today's traffic per newsletter,
so far. Owner: creator-experience team (authors' dashboard).

The intraday twins of newsletter_daily_traffic and newsletter_traffic_sources (the same SQL, the
same definitions), computed every three hours from stg_page_views_today, so that an author sees
the day's page views, visitors and sources a few hours after they happen rather than the next
morning. Each holds only the current Japan-time day; the complete day lands in the daily tables.
"""

from dataclasses import replace

from theletter_data.metrics.metric_asset import current_day_metric_asset
from theletter_data.metrics.newsletter_daily_traffic import NEWSLETTER_DAILY_TRAFFIC
from theletter_data.metrics.newsletter_traffic_sources import NEWSLETTER_TRAFFIC_SOURCES
from theletter_data.staging.page_views_today import stg_page_views_today

_TODAY = {"staging.stg_page_views": "staging.stg_page_views_today"}

NEWSLETTER_TRAFFIC_TODAY = replace(
    NEWSLETTER_DAILY_TRAFFIC,
    name="newsletter_traffic_today",
    grain="one row per newsletter with human page views on the current day, so far",
)
NEWSLETTER_TRAFFIC_SOURCES_TODAY = replace(
    NEWSLETTER_TRAFFIC_SOURCES,
    name="newsletter_traffic_sources_today",
    grain="one row per newsletter, source category and referring domain on the current day, so far",
)

newsletter_traffic_today = current_day_metric_asset(
    table=NEWSLETTER_TRAFFIC_TODAY,
    same_as=NEWSLETTER_DAILY_TRAFFIC,
    reading=_TODAY,
    upstream=[stg_page_views_today],
    description=__doc__ or "",
)
newsletter_traffic_sources_today = current_day_metric_asset(
    table=NEWSLETTER_TRAFFIC_SOURCES_TODAY,
    same_as=NEWSLETTER_TRAFFIC_SOURCES,
    reading=_TODAY,
    upstream=[stg_page_views_today],
    description=__doc__ or "",
)
