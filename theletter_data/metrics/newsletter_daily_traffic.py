"""newsletter_daily_traffic: one row per newsletter per Japan-time day with at least one human
page view. Owner: creator-experience team (authors' dashboard).

Definitions (as Ghost and Plausible count web traffic):
- page views: page loads of the newsletter's site (posts, home and list pages) by people;
  crawlers, link previews and scripts are excluded and counted apart as `bot_page_views`.
- unique visitors: distinct anonymous first-party visitor ids that day. A person on two devices
  counts twice; a visitor who comes back later the same day counts once.
- visits: distinct sessions; a session ends after 30 minutes without a page view.
- post page views: page views of individual posts (the rest are home and list pages).
- page views per visit: page views / visits.
"""

from theletter_data.metrics.metric_asset import Upstream, metric_asset
from theletter_data.sql import read_sql
from theletter_data.staging.page_views import stg_page_views
from theletter_data.tables import Column, Table

NEWSLETTER_DAILY_TRAFFIC = Table(
    layer="metrics",
    name="newsletter_daily_traffic",
    grain="one row per newsletter per day",
    partition_by="date",
    key=("date", "newsletter_id"),
    cluster_by=("newsletter_id",),
    columns=(
        Column("date", "DATE", "Japan-time day."),
        Column("newsletter_id", "STRING", "Newsletter."),
        Column("page_views", "INT64", "Page views by people."),
        Column("unique_visitors", "INT64", "Distinct visitors."),
        Column("visits", "INT64", "Distinct sessions."),
        Column("post_page_views", "INT64", "Page views of posts."),
        Column("bot_page_views", "INT64", "Page loads by automated clients (excluded above)."),
        Column("page_views_per_visit", "FLOAT64", "page_views / visits."),
    ),
)

newsletter_daily_traffic = metric_asset(
    table=NEWSLETTER_DAILY_TRAFFIC,
    sql=read_sql(__file__, "newsletter_daily_traffic"),
    expected_rows_sql=read_sql(__file__, "newsletter_daily_traffic.expected_rows"),
    upstream=[Upstream(stg_page_views)],
    description=__doc__ or "",
)
