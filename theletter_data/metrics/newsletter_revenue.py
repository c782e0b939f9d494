"""newsletter_revenue: one row per newsletter, Japan-time day and currency with a payment event.
Owner: business team (and the authors of paid newsletters).

What a paid newsletter earned, from the payment provider's events (stg_payment_events), on the
day Stripe recorded each event:
- gross_paid: amounts of the invoices paid that day (first payments, renewals and retries that
  succeeded), in the currency's minor unit (yen: whole yen).
- refunds: amounts refunded that day, whichever day the refunded payment was made.
- net_revenue: gross_paid - refunds (negative on a day of refunds without payments). Before
  the provider's fees and taxes, which these events do not carry.
- paid_invoices, paying_customers: invoices paid, and the distinct customers (pseudonymised
  emails) who paid them.
- failed_payments, failed_amount: invoice payments that failed that day and the amount that
  could not be collected; a retry that succeeds later counts as paid on its own day.
- cancellations: paid subscriptions the provider ended that day.
"""

from theletter_data.metrics.metric_asset import BUSINESS, Upstream, metric_asset
from theletter_data.staging.payment_events import stg_payment_events
from theletter_data.tables import Column, Table

NEWSLETTER_REVENUE = Table(
    layer="metrics",
    name="newsletter_revenue",
    grain="one row per newsletter per day per currency",
    partition_by="date",
    key=("date", "newsletter_id", "currency"),
    cluster_by=("newsletter_id",),
    columns=(
        Column("date", "DATE", "Japan-time day."),
        Column("newsletter_id", "STRING", "Newsletter."),
        Column("currency", "STRING", "ISO 4217 code, lower case (jpy)."),
        Column("gross_paid", "INT64", "Invoices paid, minor units."),
        Column("refunds", "INT64", "Refunded, minor units."),
        Column("net_revenue", "INT64", "gross_paid - refunds, minor units.", signed=True),
        Column("paid_invoices", "INT64", "Invoices paid."),
        Column("paying_customers", "INT64", "Distinct customers who paid."),
        Column("failed_payments", "INT64", "Invoice payments that failed."),
        Column("failed_amount", "INT64", "Amount not collected, minor units."),
        Column("cancellations", "INT64", "Paid subscriptions ended."),
    ),
)

newsletter_revenue = metric_asset(
    table=NEWSLETTER_REVENUE,
    upstream=[Upstream(stg_payment_events)],
    description=__doc__ or "",
    owner=BUSINESS,
)
