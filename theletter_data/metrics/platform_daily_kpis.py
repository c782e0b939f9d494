"""platform_daily_kpis: one row per Japan-time day for the whole platform. Owner: business team
(business overview).

- active readers: distinct email recipients who read (an open that is not a privacy-proxy
  machine open) or clicked that day; unique visitors and page views: human traffic on all
  newsletter sites (a reader who reads the email and visits the site is in both).
- emails sent, delivered, bounced, spam complaints: SES events of the day; bounce rate =
  bounced / sent; complaint rate = complaints / delivered (mailbox providers start filtering
  above about 0.1%).
- newsletters total: newsletters that exist at the end of the day; active: that sent an email
  or had human page views that day; sending: that sent an email that day.
- posts published that day; new and ended subscriptions that day; active (and paid)
  subscriptions at the end of the day; subscribed readers: distinct readers with at least one
  active subscription.
"""

from theletter_data.metrics.metric_asset import BUSINESS, Upstream, metric_asset
from theletter_data.metrics.overview import recent_days_table
from theletter_data.staging.app_exports import stg_newsletters, stg_posts, stg_subscriptions
from theletter_data.staging.email_events import stg_email_events
from theletter_data.staging.page_views import stg_page_views
from theletter_data.tables import Column, Table

_COUNTS = (
    ("active_readers", "Recipients who read (not machine opens) or clicked an email."),
    ("unique_visitors", "Distinct human visitors of newsletter sites."),
    ("page_views", "Human page views."),
    ("emails_sent", "Emails sent."),
    ("emails_delivered", "Emails delivered."),
    ("emails_bounced", "Emails bounced."),
    ("spam_complaints", "Spam complaints."),
)
_NEWSLETTERS_AND_SUBSCRIPTIONS = (
    ("newsletters_total", "Newsletters existing at the end of the day."),
    ("newsletters_active", "Newsletters that sent an email or had human page views."),
    ("newsletters_sending", "Newsletters that sent an email."),
    ("posts_published", "Posts published."),
    ("new_subscriptions", "Subscriptions started."),
    ("ended_subscriptions", "Subscriptions ended."),
    ("active_subscriptions", "Active subscriptions at the end of the day."),
    ("paid_subscriptions", "Active paid subscriptions at the end of the day."),
    ("subscribed_readers", "Distinct readers with an active subscription."),
)

PLATFORM_DAILY_KPIS = Table(
    layer="metrics",
    name="platform_daily_kpis",
    grain="one row per day",
    partition_by="date",
    key=("date",),
    rate_columns=("bounce_rate", "complaint_rate"),
    columns=(
        Column("date", "DATE", "Japan-time day."),
        *(Column(name, "INT64", text) for name, text in _COUNTS),
        Column("bounce_rate", "FLOAT64", "emails_bounced / emails_sent.", required=False),
        Column("complaint_rate", "FLOAT64", "spam_complaints / emails_delivered.", required=False),
        *(Column(name, "INT64", text) for name, text in _NEWSLETTERS_AND_SUBSCRIPTIONS),
    ),
)

platform_daily_kpis = metric_asset(
    table=PLATFORM_DAILY_KPIS,
    upstream=[
        Upstream(stg_email_events),
        Upstream(stg_page_views),
        Upstream(stg_subscriptions),
        Upstream(stg_newsletters),
        Upstream(stg_posts),
    ],
    description=__doc__ or "",
    owner=BUSINESS,
    overview=recent_days_table(
        PLATFORM_DAILY_KPIS,
        columns=(
            "active_readers",
            "unique_visitors",
            "emails_sent",
            "emails_delivered",
            "bounce_rate",
            "complaint_rate",
            "newsletters_active",
            "new_subscriptions",
            "ended_subscriptions",
            "active_subscriptions",
        ),
        plotted=(
            "active_readers",
            "unique_visitors",
            "emails_sent",
            "bounce_rate",
            "complaint_rate",
            "newsletters_active",
            "active_subscriptions",
        ),
    ),
)
