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
from theletter_data.sql import read_sql
from theletter_data.staging.email_events import stg_email_events
from theletter_data.tables import Column, Table

FUNNEL_DAYS = 30

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
    grain="one row per emailed post per day, for the 30 days from its first send",
    partition_by="date",
    key=("date", "post_id"),
    cluster_by=("newsletter_id", "post_id"),
    rate_columns=tuple(name for name, _ in _RATES),
    columns=(
        Column("date", "DATE", "Japan-time day the counts run up to (inclusive)."),
        Column("newsletter_id", "STRING", "Newsletter."),
        Column("post_id", "STRING", "Post."),
        Column("first_sent_at", "TIMESTAMP", "When the first email of the post was sent."),
        Column("days_since_send", "INT64", "Days from the first send's day (0 to 29)."),
        *(Column(name, "INT64", text) for name, text in _COUNTS),
        *(Column(name, "FLOAT64", text, required=False) for name, text in _RATES),
    ),
)

post_email_funnel = metric_asset(
    table=POST_EMAIL_FUNNEL,
    sql=read_sql(__file__, "post_email_funnel"),
    expected_rows_sql=read_sql(__file__, "post_email_funnel.expected_rows"),
    upstream=[Upstream(stg_email_events, days_before=FUNNEL_DAYS)],
    description=__doc__ or "",
)
