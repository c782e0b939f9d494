"""stg_payment_events: one row per payment event of a paid subscription, on the Japan-time day
Stripe created the event. Owner: platform team.

Typed from the payment provider's (Stripe's) webhook events, first delivered copy of each event
id: Stripe retries a webhook until the endpoint answers, and Firehose delivers at least once.
Four types are staged: an invoice paid (`amount` is what was paid) or whose payment failed
(`amount` is what was due), a charge refunded (`amount` is this refund's own amount: Stripe's
running total `amount_refunded` less the one before) and a subscription deleted (no amount).
Amounts are in the currency's minor unit, as Stripe gives them (yen have none: 800 is ¥800).

The customer's email is an HMAC-SHA256 pseudonym (`customer_hash`, as a subscriber's
`reader_hash`), never an address. The newsletter and the app's subscription come from the
metadata theLetter's billing service writes on each Stripe subscription and payment; both must
be app ids (`theletter_data.ids`), and the newsletter one the app has. Test-mode events
(`livemode: false`) and types the platform does not stage are quarantined, never counted.
"""

from __future__ import annotations

from theletter_data.ids import ID_PATTERN
from theletter_data.raw.assets import RAW_ASSETS
from theletter_data.raw.sources import line_stream
from theletter_data.sql import read_sql
from theletter_data.staging.lines.asset import line_stream_asset
from theletter_data.staging.lines.declaration import LineStaging
from theletter_data.tables import Column, Table

EVENT_TYPES = (
    "invoice.paid",
    "invoice.payment_failed",
    "charge.refunded",
    "customer.subscription.deleted",
)
CURRENCY_PATTERN = r"[a-z]{3}"
"""Stripe writes ISO 4217 codes in lower case (`jpy`)."""

STG_PAYMENT_EVENTS = Table(
    layer="staging",
    name="stg_payment_events",
    grain="one row per payment event",
    partition_by="event_date",
    key=("event_date", "event_id"),
    cluster_by=("newsletter_id", "event_type"),
    columns=(
        Column("event_date", "DATE", "Japan-time day Stripe created the event."),
        Column("event_at", "TIMESTAMP", "When Stripe created the event (UTC)."),
        Column("event_id", "STRING", "Stripe's event id (evt_...)."),
        Column("event_type", "STRING", "Stripe's event type.", accepted_values=EVENT_TYPES),
        Column("newsletter_id", "STRING", "Newsletter the subscription is to."),
        Column("subscription_id", "STRING", "The app's subscription (stg_subscriptions)."),
        Column(
            "customer_hash",
            "STRING",
            "HMAC-SHA256 pseudonym of the customer's email; NULL on a subscription deleted.",
            required=False,
        ),
        Column(
            "object_id", "STRING", "The Stripe invoice, charge or subscription (in_, ch_, sub_)."
        ),
        Column("invoice_id", "STRING", "The invoice paid, failed or refunded.", required=False),
        Column(
            "amount",
            "INT64",
            "Paid, due or refunded, in the currency's minor unit; NULL on a subscription deleted.",
            required=False,
        ),
        Column("currency", "STRING", "ISO 4217 code, lower case (jpy)."),
        Column("price_id", "STRING", "Stripe price of the subscription's plan.", required=False),
        Column("billing_interval", "STRING", "The plan's interval: month or year.", required=False),
        Column("source_object", "STRING", "Lake key of the object the event was read from."),
    ),
)

PAYMENT_EVENTS = LineStaging(
    stream=line_stream("payment_events"),
    table=STG_PAYMENT_EVENTS,
    projection_sql=read_sql(__file__, "payment_events"),
    # Paid readers are billed on the day they upgraded, monthly: a small platform has days
    # without a single payment, and a day without objects is no sign of a stopped endpoint.
    quiet_days=True,
    params={"event_types": list(EVENT_TYPES)},
    patterns={"id_pattern": ID_PATTERN, "currency_pattern": CURRENCY_PATTERN},
)

stg_payment_events = line_stream_asset(
    PAYMENT_EVENTS, upstream=RAW_ASSETS["payment_events"], description=__doc__ or ""
)
