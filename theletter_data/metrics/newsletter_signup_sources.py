"""newsletter_signup_sources: one row per newsletter, Japan-time day, signup page, traffic source
and post with a subscription started or turned paid that day. Owner: creator-experience team
(authors' dashboard).

Where subscribers come from, as Ghost's member attribution and Substack's "subscribers from this
post" report it: a subscription is attributed to the page the reader signed up on and to the
source of the visit that brought them there, which the app records when the reader subscribes
(docs/lake-layout.md; Ghost likewise attributes a member to the last post or page they viewed
before signing up, and to the referrer of that visit). Attribution never changes afterwards.

- signup_page: post (the reader signed up on a post's page: `post_id` is that post), home (the
  newsletter's home page), page (another page of its site), import (added by the author: no
  visit), unknown (not recorded by the app).
- source_category: the traffic source of the visit, categorised as newsletter_traffic_sources
  categorises page views (staging/referrers.py: email, direct, other_newsletter, search,
  social, referral; never internal, since the app records the visit's outside referrer); import
  for imported readers; unknown when not recorded.
- post_id: the post, or '(none)' when the reader did not sign up on a post's page.
- signups: subscriptions started on the day (Ghost's "signups", Substack's "subscribers" from a
  post). A reader who leaves and comes back starts a new subscription and counts again.
- free_signups, paid_signups: those signups by their plan at the end of the day: a reader who
  subscribed paid at once (or upgraded the same day) is a paid signup. Apart, as Ghost shows
  free signups and paid conversions, and Substack free and paid subscribers.
- paid_conversions: subscriptions that turned from free to paid on the day (free in the day
  before's snapshot, paid in the day's), attributed to where their reader signed up, as
  Substack credits a post with the paid subscribers it brought. None on the platform's first
  snapshot day (there is no day before to compare with).
"""

from theletter_data.metrics.metric_asset import Upstream, metric_asset
from theletter_data.metrics.newsletter_traffic_sources import SOURCE_LABELS
from theletter_data.serving.fields import category, count
from theletter_data.serving.sections import (
    SHORT_PERIOD_DAYS,
    Constant,
    DashboardSection,
    PreviewColumn,
    RankedTable,
)
from theletter_data.staging.app_exports import SIGNUP_SOURCES, stg_subscriptions
from theletter_data.staging.referrers import SOURCE_CATEGORIES
from theletter_data.tables import Column, Table

SIGNUP_PAGES = (*SIGNUP_SOURCES, "unknown")
"""Where the reader signed up (stg_subscriptions.signup_source), unknown when not recorded."""
SIGNUP_CATEGORIES = (*SOURCE_CATEGORIES, "import", "unknown")
"""The traffic sources of page views, and imported or unrecorded signups."""
SIGNUP_LABELS = {**SOURCE_LABELS, "import": "Imported by you", "unknown": "Not recorded"}
"""What the preview calls each signup source."""

NEWSLETTER_SIGNUP_SOURCES = Table(
    layer="metrics",
    name="newsletter_signup_sources",
    grain="one row per newsletter per day per signup page per traffic source per post",
    partition_by="date",
    key=("date", "newsletter_id", "signup_page", "source_category", "post_id"),
    cluster_by=("newsletter_id",),
    columns=(
        Column("date", "DATE", "Japan-time day."),
        Column("newsletter_id", "STRING", "Newsletter."),
        Column(
            "signup_page", "STRING", "Page the reader signed up on.", accepted_values=SIGNUP_PAGES
        ),
        Column(
            "source_category",
            "STRING",
            "Traffic source of the visit the reader signed up in.",
            accepted_values=SIGNUP_CATEGORIES,
        ),
        Column("post_id", "STRING", "Post whose page the reader signed up on, or '(none)'."),
        Column("signups", "INT64", "Subscriptions started on the day."),
        Column("free_signups", "INT64", "Of them, on the free plan at the end of the day."),
        Column("paid_signups", "INT64", "Of them, on the paid plan at the end of the day."),
        Column("paid_conversions", "INT64", "Subscriptions that turned paid on the day."),
    ),
)

newsletter_signup_sources = metric_asset(
    table=NEWSLETTER_SIGNUP_SOURCES,
    upstream=[Upstream(stg_subscriptions, days_before=1)],
    description=__doc__ or "",
    section=DashboardSection(
        name="signup_sources",
        order=35,
        description="Where new subscribers came from: the traffic source of the visit they "
        "signed up in, as the app recorded it.",
        content=(
            Constant(key="days", constant=SHORT_PERIOD_DAYS),
            RankedTable(
                key="by_source",
                query="signups_by_source",
                title=f"Where subscribers came from, last {SHORT_PERIOD_DAYS} days",
                description="Subscriptions started, by the source of the visit the reader "
                "signed up in (import: added by the author; unknown: not recorded), most first.",
                fields=(
                    category("category", SIGNUP_CATEGORIES, "source_category"),
                    count("signups"),
                    count("free_signups"),
                    count("paid_signups"),
                    count("paid_conversions"),
                ),
                order_by=("-signups", "source_category"),
                columns=(
                    PreviewColumn("Source", lambda r: SIGNUP_LABELS[r["category"]], "text"),
                    PreviewColumn("Signups", "signups"),
                    PreviewColumn("Free", "free_signups"),
                    PreviewColumn("Paid", "paid_signups"),
                    PreviewColumn("Upgraded to paid", "paid_conversions"),
                ),
                bar="signups",
                row_id=lambda r: f"signup-source-{r['category']}",
                empty="No new subscribers yet.",
                note="Free and paid: the plan at the end of the signup day. Upgrades to paid "
                "are credited to where the reader first signed up.",
            ),
        ),
    ),
)
