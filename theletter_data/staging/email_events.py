"""stg_email_events: one row per Amazon SES event per recipient, on the Japan-time day of the
event's own timestamp. Owner: platform team.

Typed from SES's event-publishing records (send, delivery, bounce, complaint, reject, open,
click, delivery_delay, rendering_failure, subscription), first delivered copy only: Firehose
delivers at least once, and a copy is the same message, event type, event time, recipient and
(for clicks) link. Recipients are an HMAC-SHA256 pseudonym (`recipient_hash`), never an address;
links keep only scheme, host and path; IP addresses are dropped. Opens made by Apple Mail
Privacy Protection's proxies are flagged `is_machine_open`; every other open gets its mail app
and kind of device from its user agent (`email_client`, `device_class`: staging/email_clients.py).

The per-type fields docs/lake-layout.md lists are typed too: a reject's reason, the receiving
server's diagnostic of a bounce or delay (for the row's own recipient) and its response to a
delivery with SES's processing time, a click's link tags, a rendering failure's message and
template, a subscription event's source and contact list. The servers' free text quotes
addresses (`550 5.1.1 <hanako@example.jp>: Recipient address rejected`): the recipient's own
address and any word holding an at sign are masked as `<email>`, then the text is cut to 1,000
characters. Link tags are SES's map of tag name to tag values, kept as JSON text
(`{"link_type":["post"]}`); a `linkTags` of another shape, or with characters SES does not
allow in a tag, is not SES's: the click is staged without tags.
"""

from __future__ import annotations

from theletter_data.raw.assets import raw_ses_events
from theletter_data.raw.sources import SES_EVENTS
from theletter_data.sql import read_sql
from theletter_data.staging.email_clients import (
    CLIENT_RULES,
    DEVICE_CLASSES,
    DEVICE_RULES,
    EMAIL_CLIENTS,
    first_match_sql,
)
from theletter_data.staging.lines.asset import line_stream_asset
from theletter_data.staging.lines.declaration import LineStaging
from theletter_data.staging.quarantine import EMAIL_PATTERN
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
        Column(
            "email_client",
            "STRING",
            "A person's open: the mail app (staging/email_clients.py).",
            required=False,
            accepted_values=EMAIL_CLIENTS,
        ),
        Column(
            "device_class",
            "STRING",
            "A person's open: mobile, desktop, webmail or unknown.",
            required=False,
            accepted_values=DEVICE_CLASSES,
        ),
        Column("unsubscribe_all", "BOOL", "Subscription event: unsubscribed.", required=False),
        Column("ses_reject_reason", "STRING", "Reject: SES's reason.", required=False),
        Column(
            "diagnostic_code",
            "STRING",
            "Bounce or delay: the receiving server's diagnostic, addresses masked.",
            required=False,
        ),
        Column(
            "smtp_response",
            "STRING",
            "Delivery: the receiving server's response, addresses masked.",
            required=False,
        ),
        Column(
            "processing_time_ms",
            "INT64",
            "Delivery: milliseconds from SES accepting the message to its delivery.",
            required=False,
        ),
        Column(
            "link_tags",
            "STRING",
            "Click: SES link tags as JSON text, tag name to list of values.",
            required=False,
        ),
        Column(
            "error_message",
            "STRING",
            "Rendering failure: SES's message, addresses masked.",
            required=False,
        ),
        Column("template_name", "STRING", "Rendering failure: the template.", required=False),
        Column(
            "subscription_source",
            "STRING",
            "Subscription event: how the reader acted (e.g. UnsubscribeHeader).",
            required=False,
        ),
        Column("contact_list", "STRING", "Subscription event: SES contact list.", required=False),
        Column("source_object", "STRING", "Lake key of the object the event was read from."),
    ),
)

LINK_TAG_PATTERN = r"[A-Za-z0-9_-]{1,256}"
"""What SES allows in a tag's name and value (ASCII letters, digits, `_`, `-`; 256 at most)."""
FREE_TEXT_CHARACTERS = 1_000
"""Diagnostics, SMTP responses and error messages are cut to this many characters (masked
first)."""

_AGENT = 'lower(r."open".userAgent)'

EMAIL_EVENTS = LineStaging(
    stream=SES_EVENTS,
    table=STG_EMAIL_EVENTS,
    projection_sql=read_sql(__file__, "email_events")
    .replace("/* email client rules */", first_match_sql(CLIENT_RULES, _AGENT, "other"))
    .replace("/* device class rules */", first_match_sql(DEVICE_RULES, _AGENT, "unknown")),
    params={"free_text_characters": FREE_TEXT_CHARACTERS},
    patterns={"email_pattern": EMAIL_PATTERN, "link_tag_pattern": LINK_TAG_PATTERN},
)

stg_email_events = line_stream_asset(
    EMAIL_EVENTS, upstream=raw_ses_events, description=__doc__ or ""
)
