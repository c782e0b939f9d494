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

from typing import Any

from theletter_data.metrics.metric_asset import BUSINESS, Upstream, metric_asset
from theletter_data.serving.fields import count, day, integer, text
from theletter_data.serving.sections import (
    SERIES_DAYS,
    SHORT_PERIOD_DAYS,
    Constant,
    DailySeries,
    DashboardSection,
    PreviewColumn,
    RankedTable,
)
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

# Stripe's currencies whose minor unit is not a hundredth (stripe.com/docs/currencies).
_ZERO_DECIMAL = frozenset(
    [
        "bif",
        "clp",
        "djf",
        "gnf",
        "jpy",
        "kmf",
        "krw",
        "mga",
        "pyg",
        "rwf",
        "ugx",
        "vnd",
        "vuv",
        "xaf",
        "xof",
        "xpf",
    ]
)
_THREE_DECIMAL = frozenset(["bhd", "jod", "kwd", "omr", "tnd"])


def money(minor: int, currency: str) -> str:
    """An amount in minor units as the author reads it: `12,300 JPY`, `10.00 USD`."""
    exponent = 0 if currency in _ZERO_DECIMAL else 3 if currency in _THREE_DECIMAL else 2
    return f"{minor / 10**exponent:,.{exponent}f} {currency.upper()}"


def _money(column: str) -> Any:
    return lambda row: money(row[column], row["currency"])


def _amount(name: str, description: str, *, signed: bool = False) -> Any:
    return integer(name, minimum=None if signed else 0, description=description)


newsletter_revenue = metric_asset(
    table=NEWSLETTER_REVENUE,
    upstream=[Upstream(stg_payment_events)],
    description=__doc__ or "",
    owner=BUSINESS,
    # Amounts of two currencies are never added: the period's table has a row per currency,
    # and the daily series counts events, which any currency's add up.
    section=DashboardSection(
        name="revenue",
        order=55,
        description="What readers paid, from the payment provider's events, on the day it "
        "recorded each. Amounts are in the currency's minor unit (yen: whole yen; dollars: "
        "cents), before the provider's fees and taxes.",
        # Paying customers of the period are counted once, from the staged events.
        reads=(Upstream(stg_payment_events, days_before=SHORT_PERIOD_DAYS - 1),),
        content=(
            Constant(key="days", constant=SHORT_PERIOD_DAYS),
            RankedTable(
                key="by_currency",
                query="revenue_by_currency",
                title=f"Revenue, last {SHORT_PERIOD_DAYS} days",
                description="One row per currency the newsletter was paid or refunded in, the "
                "largest net revenue first.",
                fields=(
                    text("currency", description="ISO 4217 code, lower case."),
                    _amount("gross_paid", "Invoices paid, minor units."),
                    _amount("refunds", "Refunded, minor units."),
                    _amount("net_revenue", "gross_paid - refunds, minor units.", signed=True),
                    count("paid_invoices"),
                    count(
                        "paying_customers",
                        description="Distinct customers who paid over the period.",
                    ),
                    count("failed_payments"),
                    _amount("failed_amount", "Amount not collected, minor units."),
                    count("cancellations", description="Paid subscriptions ended."),
                ),
                order_by=("-net_revenue", "currency"),
                columns=(
                    PreviewColumn("Currency", lambda r: r["currency"].upper(), "text"),
                    PreviewColumn("Paid", _money("gross_paid"), "text"),
                    PreviewColumn("Refunded", _money("refunds"), "text"),
                    PreviewColumn("Net", _money("net_revenue"), "text"),
                    PreviewColumn("Paying customers", "paying_customers"),
                    PreviewColumn("Failed payments", "failed_payments"),
                    PreviewColumn("Cancellations", "cancellations"),
                ),
                row_id=lambda r: f"revenue-{r['currency']}",
                empty="No payments yet.",
                note="Net: paid less refunded, before the payment provider's fees and taxes.",
                wide=True,  # amounts with their currency: a half-width card wraps them
            ),
            DailySeries(
                key="daily",
                query="revenue_daily",
                title=f"Payments, last {SERIES_DAYS} days",
                description=f"The last {SERIES_DAYS} days with a payment event, oldest first; "
                "counts of every currency.",
                fields=(
                    day("date"),
                    count("paid_invoices"),
                    count("failed_payments"),
                    count("cancellations"),
                ),
                lines=(
                    ("Paid invoices", "paid_invoices"),
                    ("Failed payments", "failed_payments"),
                    ("Cancellations", "cancellations"),
                ),
            ),
        ),
    ),
)
