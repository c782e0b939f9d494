"""newsletter_subscriber_growth: one row per newsletter per Japan-time day on which it had
subscribers or a change. Owner: creator-experience team (authors' dashboard).

From the app's nightly snapshot of that day, as Substack's and beehiiv's subscriber charts count:
- new subscribers: subscriptions that started that day; lost subscribers: subscriptions that
  ended that day (a reader who joins and leaves the same day is in both);
  net change = new - lost.
- total subscribers: subscriptions active at the end of the day; paid subscribers: those on a
  paid plan. Day over day, total changes by exactly the net change.
"""

from theletter_data.metrics.metric_asset import Upstream, metric_asset
from theletter_data.serving.fields import count, day, integer
from theletter_data.serving.sections import SERIES_DAYS, DailySeries, DashboardSection, Figures
from theletter_data.staging.app_exports import stg_subscriptions
from theletter_data.tables import Column, Table

NEWSLETTER_SUBSCRIBER_GROWTH = Table(
    layer="metrics",
    name="newsletter_subscriber_growth",
    grain="one row per newsletter per day",
    partition_by="date",
    key=("date", "newsletter_id"),
    cluster_by=("newsletter_id",),
    columns=(
        Column("date", "DATE", "Japan-time day."),
        Column("newsletter_id", "STRING", "Newsletter."),
        Column("new_subscribers", "INT64", "Subscriptions started that day."),
        Column("lost_subscribers", "INT64", "Subscriptions ended that day."),
        Column("net_change", "INT64", "new - lost (may be negative).", signed=True),
        Column("total_subscribers", "INT64", "Active subscriptions at the end of the day."),
        Column("paid_subscribers", "INT64", "Active paid subscriptions at the end of the day."),
    ),
)

newsletter_subscriber_growth = metric_asset(
    table=NEWSLETTER_SUBSCRIBER_GROWTH,
    upstream=[Upstream(stg_subscriptions)],
    description=__doc__ or "",
    section=DashboardSection(
        name="subscribers",
        order=20,
        content=(
            Figures(
                query="subscribers_latest",
                fields=(
                    count(
                        "total",
                        "total_subscribers",
                        label="Subscribers",
                        description="Active subscriptions at the end of as_of.",
                    ),
                    count("paid", "paid_subscribers", label="Paid subscribers"),
                ),
            ),
            DailySeries(
                key="daily",
                query="subscribers_daily",
                title=f"Subscribers, last {SERIES_DAYS} days",
                description=f"The last {SERIES_DAYS} days, oldest first.",
                fields=(
                    day("date"),
                    count("new", "new_subscribers"),
                    count("lost", "lost_subscribers"),
                    integer("net", "net_change"),
                    count("total", "total_subscribers"),
                    count("paid", "paid_subscribers"),
                ),
                lines=(("Subscribers", "total"),),
                gaps="carry",
                axis="fit",
                summed=(("new", "new"), ("lost", "lost")),
            ),
        ),
    ),
)
