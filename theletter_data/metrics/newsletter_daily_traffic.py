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
from theletter_data.serving.fields import count, day
from theletter_data.serving.sections import (
    SERIES_DAYS,
    SHORT_PERIOD_DAYS,
    DailySeries,
    DashboardSection,
    Figures,
)
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

_DISTINCT = "Distinct visitors over the whole period (not a sum of daily uniques)."


def _period(days: int, period: str) -> Figures:
    """Page views and distinct visitors of the last `days` days (traffic_totals.sql)."""
    return Figures(
        key=f"last_{days}_days",
        query="traffic_totals",
        constants={"days": days},
        fields=(
            count("page_views", f"page_views_{period}", label=f"Page views, last {days} days"),
            count(
                "unique_visitors",
                f"unique_visitors_{period}",
                label=f"Unique visitors, last {days} days",
                description=_DISTINCT,
            ),
        ),
    )


newsletter_daily_traffic = metric_asset(
    table=NEWSLETTER_DAILY_TRAFFIC,
    upstream=[Upstream(stg_page_views)],
    description=__doc__ or "",
    section=DashboardSection(
        name="traffic",
        order=10,
        # The distinct visitors of a period are counted from the staged page views.
        reads=(Upstream(stg_page_views, days_before=SERIES_DAYS - 1),),
        content=(
            _period(SHORT_PERIOD_DAYS, "short_period"),
            _period(SERIES_DAYS, "series"),
            DailySeries(
                key="daily",
                query="traffic_daily",
                title=f"Traffic, last {SERIES_DAYS} days",
                description=f"The last {SERIES_DAYS} days with human page views, oldest first.",
                fields=(
                    day("date"),
                    count("page_views"),
                    count("unique_visitors"),
                    count("visits"),
                ),
                lines=(("Page views", "page_views"), ("Unique visitors", "unique_visitors")),
                note="Page views by people: crawlers and link previews are excluded.",
            ),
        ),
    ),
)
