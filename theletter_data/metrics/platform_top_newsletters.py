"""platform_top_newsletters: per Japan-time day, the 20 newsletters whose subscriptions grew most
over the 30 days up to that day. Owner: business team (business overview).

- net change: subscriptions started minus ended in the last 30 (and 7) days, that day included;
- growth rate: the 30-day net change over the active subscriptions 30 days before (empty when
  there were none: a newsletter launched within the month);
- page views: human page views of the newsletter's site over the same 30 days.
Ties rank by newsletter id, so the ranking is the same on every run.
"""

from collections.abc import Mapping, Sequence
from typing import Any

from theletter_data.metrics.metric_asset import BUSINESS, Upstream, metric_asset
from theletter_data.metrics.newsletter_daily_traffic import newsletter_daily_traffic
from theletter_data.metrics.newsletter_subscriber_growth import newsletter_subscriber_growth
from theletter_data.metrics.overview import latest_day_table
from theletter_data.staging.app_exports import stg_newsletters
from theletter_data.tables import Column, Table

TOP = 20
WINDOW_DAYS = 30

PLATFORM_TOP_NEWSLETTERS = Table(
    layer="metrics",
    name="platform_top_newsletters",
    grain=f"one row per day per newsletter among the {TOP} that grew most over {WINDOW_DAYS} days",
    partition_by="date",
    key=("date", "rank"),
    columns=(
        Column("date", "DATE", "Japan-time day the 30 days run up to (inclusive)."),
        Column("rank", "INT64", "1 = grew most."),
        Column("newsletter_id", "STRING", "Newsletter."),
        Column("newsletter_name", "STRING", "Display name that day.", required=False),
        Column("subscribers", "INT64", "Active subscriptions at the end of the day."),
        Column("net_change_7d", "INT64", "Net change over the last 7 days.", signed=True),
        Column("net_change_30d", "INT64", "Net change over the last 30 days.", signed=True),
        Column(
            "growth_rate_30d",
            "FLOAT64",
            "net_change_30d / active subscriptions 30 days before.",
            required=False,
        ),
        Column("page_views_30d", "INT64", "Human page views over the last 30 days."),
    ),
)


def _why_no_growth_rate(rows: Sequence[Mapping[str, Any]]) -> str | None:
    """Say why a growth rate is blank rather than leave an empty cell unexplained."""
    if not any(row["growth_rate_30d"] is None for row in rows):
        return None
    return (
        f"growth_rate_30d is empty where nothing was subscribed {WINDOW_DAYS} days before the "
        f"day: a newsletter launched within the month, or subscriber history shorter than "
        f"{WINDOW_DAYS} days (the demo's four weeks)."
    )


platform_top_newsletters = metric_asset(
    table=PLATFORM_TOP_NEWSLETTERS,
    upstream=[
        Upstream(newsletter_subscriber_growth, days_before=WINDOW_DAYS),
        Upstream(newsletter_daily_traffic, days_before=WINDOW_DAYS - 1),
        Upstream(stg_newsletters),
    ],
    params={"top": TOP, "window_days": WINDOW_DAYS},
    description=__doc__ or "",
    owner=BUSINESS,
    overview=latest_day_table(
        PLATFORM_TOP_NEWSLETTERS,
        columns=(
            "rank",
            "newsletter_name",
            "subscribers",
            "net_change_7d",
            "net_change_30d",
            "growth_rate_30d",
            "page_views_30d",
        ),
        order_by="rank",
        limit=10,
        note=_why_no_growth_rate,
    ),
)
