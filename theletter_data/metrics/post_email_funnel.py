"""post_email_funnel: one row per emailed post per Japan-time day, for the 30 days starting with
the day it was first sent; every count is cumulative since the send. Owner: creator-experience
team (authors' dashboard).

Counts are distinct recipients (a reader who opens five times is one open), as Substack and
beehiiv report them:
- sent: recipients SES accepted the email for; delivered: the receiving server accepted it;
  bounced: it bounced (hard_bounced: permanently, e.g. the address does not exist);
  complained: the reader marked it as spam.
- a later stage implies the earlier ones, so that one raw line lost upstream (a Send record
  cut in its object, hence quarantined) never pushes a rate above 1 and never holds back every
  author's dashboard: a recipient with any event of the email but a Reject or a Rendering
  Failure counts as sent, and one who complained, opened, clicked or unsubscribed counts as
  delivered. A post is known from any of its events (each carries its send time).
- unique opens: recipients with an open or a click (a click counts as an open: an email whose
  images were blocked can be clicked without an open pixel). Apple Mail Privacy Protection opens
  every email on delivery through Apple's proxies, so this count overstates reading.
- unique human opens: the same without machine opens (opens whose user agent is the bare
  `Mozilla/5.0` or whose address is Apple's 17.0.0.0/8); unique machine opens: recipients with
  a machine open.
- unique clicks: recipients who clicked at least one link. unsubscribes: recipients who
  unsubscribed through the email's unsubscribe link (SES subscription events).
- rates: delivery rate = delivered / sent; bounce rate = bounced / sent; open rate = unique opens
  / delivered; human open rate = unique human opens / delivered; click rate = unique clicks /
  delivered; click-to-open rate = unique clicks / unique human opens; unsubscribe rate and
  complaint rate = unsubscribes or complaints / delivered. NULL when the denominator is 0.
"""

from theletter_data.metrics.metric_asset import Upstream, metric_asset
from theletter_data.serving.fields import count, instant, integer, rate, text
from theletter_data.serving.sections import (
    SERIES_DAYS,
    DashboardSection,
    PreviewColumn,
    RankedTable,
)
from theletter_data.staging.app_exports import stg_posts
from theletter_data.staging.email_events import stg_email_events
from theletter_data.tables import Column, Table

FUNNEL_DAYS = 30
RECENT_POSTS = 20

_COUNTS = (
    ("sent", "Recipients the email was sent to (or with any later event of it)."),
    ("delivered", "Recipients whose server accepted it (or who opened, clicked, ...)."),
    ("bounced", "Recipients whose delivery bounced."),
    ("hard_bounced", "Recipients with a permanent bounce."),
    ("complained", "Recipients who reported it as spam."),
    ("unique_opens", "Recipients with an open or a click."),
    ("unique_human_opens", "Recipients with a click or an open that is not a machine open."),
    ("unique_machine_opens", "Recipients with a privacy-proxy open."),
    ("unique_clicks", "Recipients who clicked a link."),
    ("unsubscribes", "Recipients who unsubscribed from the email."),
)
_RATES = (
    ("delivery_rate", "delivered / sent"),
    ("bounce_rate", "bounced / sent"),
    ("open_rate", "unique_opens / delivered"),
    ("human_open_rate", "unique_human_opens / delivered"),
    ("click_rate", "unique_clicks / delivered"),
    ("click_to_open_rate", "unique_clicks / unique_human_opens"),
    ("unsubscribe_rate", "unsubscribes / delivered"),
    ("complaint_rate", "complained / delivered"),
)

POST_EMAIL_FUNNEL = Table(
    layer="metrics",
    name="post_email_funnel",
    grain=f"one row per emailed post per day, for the {FUNNEL_DAYS} days from its first send",
    partition_by="date",
    key=("date", "post_id"),
    cluster_by=("newsletter_id", "post_id"),
    rate_columns=tuple(name for name, _ in _RATES),
    columns=(
        Column("date", "DATE", "Japan-time day the counts run up to (inclusive)."),
        Column("newsletter_id", "STRING", "Newsletter."),
        Column("post_id", "STRING", "Post."),
        Column("first_sent_at", "TIMESTAMP", "When the first email of the post was sent."),
        Column(
            "days_since_send", "INT64", f"Days from the first send's day (0 to {FUNNEL_DAYS - 1})."
        ),
        *(Column(name, "INT64", meaning) for name, meaning in _COUNTS),
        *(Column(name, "FLOAT64", meaning, required=False) for name, meaning in _RATES),
    ),
)

post_email_funnel = metric_asset(
    table=POST_EMAIL_FUNNEL,
    upstream=[Upstream(stg_email_events, days_before=FUNNEL_DAYS)],
    params={"funnel_days": FUNNEL_DAYS},
    description=__doc__ or "",
    section=DashboardSection(
        name="recent_posts",
        order=40,
        reads=(Upstream(stg_posts),),  # the titles
        content=RankedTable(
            query="recent_posts",
            title="Recent emails",
            description=f"Posts emailed in the last {SERIES_DAYS} days, newest first (at most "
            f"{RECENT_POSTS}): the email funnel as it stood on as_of, or on day {FUNNEL_DAYS - 1} "
            f"after the first send once the {FUNNEL_DAYS}-day window closed.",
            fields=(
                text("post_id"),
                text("title", nullable=True),
                instant("first_sent_at"),
                integer("days_since_send", minimum=0, maximum=FUNNEL_DAYS - 1),
                count("sent"),
                count("delivered"),
                count(
                    "unique_human_opens",
                    description="Readers who opened (not a privacy-proxy prefetch) or clicked.",
                ),
                count("unique_machine_opens"),
                count("unique_clicks"),
                count("unsubscribes"),
                count("bounced"),
                count("complained"),
                rate("delivery_rate"),
                rate(
                    "open_rate",
                    description="All opens, privacy-proxy prefetches included (what most tools "
                    "show).",
                ),
                rate("human_open_rate"),
                rate("click_rate"),
                rate("click_to_open_rate"),
                rate("unsubscribe_rate"),
            ),
            order_by=("-first_sent_at", "-post_id"),
            limit=RECENT_POSTS,
            columns=(
                PreviewColumn(
                    "Post",
                    lambda p: p["title"] or p["post_id"],
                    "text",
                    sub=lambda p: p["first_sent_at"][:10],
                ),
                PreviewColumn("Sent", "sent"),
                PreviewColumn("Delivered", "delivered"),
                PreviewColumn("Opened", "unique_human_opens"),
                PreviewColumn("Open rate", "human_open_rate", "percent"),
                PreviewColumn("Clicked", "unique_clicks"),
                PreviewColumn("Click rate", "click_rate", "percent"),
                PreviewColumn("Unsubscribed", "unsubscribes"),
                PreviewColumn(
                    "Day", lambda p: f"{p['days_since_send'] + 1} of {FUNNEL_DAYS}", "text"
                ),
            ),
            row_id=lambda p: f"post-{p['post_id']}",
            empty=f"No email sent in the last {SERIES_DAYS} days.",
            note="Opened: readers who opened or clicked, not counting Apple Mail Privacy "
            "Protection's automatic downloads.",
            wide=True,
        ),
    ),
)
