"""stg_email_events: one row per Amazon SES event per recipient, on the Japan-time day of the
event's own timestamp. Owner: platform team.

Typed from SES's event-publishing records (send, delivery, bounce, complaint, reject, open,
click, delivery_delay, rendering_failure, subscription), first delivered copy only: Firehose
delivers at least once, and a copy is the same message, event type, event time, recipient and
(for clicks) link. Recipients are an HMAC-SHA256 pseudonym (`recipient_hash`), never an address;
links keep only scheme, host and path; IP addresses are dropped. Opens made by Apple Mail
Privacy Protection's proxies are flagged `is_machine_open`.
"""

from __future__ import annotations

from theletter_data.raw.assets import raw_ses_events
from theletter_data.raw.sources import SES_EVENTS
from theletter_data.sql import read_sql
from theletter_data.staging.lines.asset import line_stream_asset
from theletter_data.staging.lines.declaration import LineStaging
from theletter_data.tables import Column, Table

EVENT_TYPES = (
    "send", "delivery", "bounce", "complaint", "reject", "open", "click",
    "delivery_delay", "rendering_failure", "subscription",
)  # fmt: skip

STG_EMAIL_EVENTS = Table(
    layer="staging",
    name="stg_email_events",
    grain="one row per SES event per recipient",
    partition_by="event_date",
    key=("event_date", "event_id"),
    cluster_by=("newsletter_id", "event_type"),
    columns=(
        Column("event_date", "DATE", "Japan-time day of the event's own timestamp."),
        Column("event_at", "TIMESTAMP", "When the event happened (UTC)."),
        Column("event_id", "STRING", "Fingerprint of message, type, instant, recipient and link."),
        Column("event_type", "STRING", "Event type, snake_case.", accepted_values=EVENT_TYPES),
        Column("message_id", "STRING", "SES message id (one message per recipient)."),
        Column("sent_at", "TIMESTAMP", "When SES accepted the message for sending."),
        Column("newsletter_id", "STRING", "Newsletter the email belongs to (SES tag)."),
        Column("post_id", "STRING", "Post the email carries (SES tag).", required=False),
        Column("recipient_hash", "STRING", "HMAC-SHA256 pseudonym of the recipient address."),
        Column("bounce_type", "STRING", "Permanent, Transient or Undetermined.", required=False),
        Column("bounce_sub_type", "STRING", "SES bounce sub-type.", required=False),
        Column("complaint_type", "STRING", "Feedback type of a complaint.", required=False),
        Column("delay_type", "STRING", "Reason of a delivery delay.", required=False),
        Column("link_url", "STRING", "Clicked link without query string.", required=False),
        Column("user_agent", "STRING", "User agent of an open or click.", required=False),
        Column("is_machine_open", "BOOL", "Open made by a mail privacy proxy.", required=False),
        Column("unsubscribe_all", "BOOL", "Subscription event: unsubscribed.", required=False),
        Column("source_object", "STRING", "Lake key of the object the event was read from."),
    ),
)

EMAIL_EVENTS = LineStaging(
    stream=SES_EVENTS, table=STG_EMAIL_EVENTS, projection_sql=read_sql(__file__, "email_events")
)

stg_email_events = line_stream_asset(
    EMAIL_EVENTS, upstream=raw_ses_events, description=__doc__ or ""
)
