"""newsletter_revenue on hand-made payment events (both warehouses)."""

from __future__ import annotations

from datetime import date, timedelta

from theletter_data.metrics.newsletter_revenue import NEWSLETTER_REVENUE, newsletter_revenue
from theletter_data.staging.payment_events import STG_PAYMENT_EVENTS
from theletter_data_tests.support.rawdata import utc
from theletter_data_tests.support.staged import checks_passed, materialize, rows_of, write_rows

D = date(2026, 11, 20)


def payment(event_id, event_type, amount, customer, newsletter="nl_1", currency="jpy", day=D):
    return {
        "event_date": day, "event_at": utc(f"{day} 03:00:00"), "event_id": event_id,
        "event_type": event_type, "newsletter_id": newsletter, "subscription_id": "su_1",
        "customer_hash": customer, "object_id": f"obj_{event_id}", "amount": amount,
        "currency": currency, "source_object": "payment-events/x.gz",
    }  # fmt: skip


def test_revenue_adds_payments_less_refunds_per_newsletter_day_and_currency(warehouse):
    rows = [
        # nl_1: customer a pays two invoices (two subscriptions), b one, which is partly
        # refunded the same day; c's payment fails; one paid subscription ends.
        payment("e1", "invoice.paid", 800, "a"),
        payment("e2", "invoice.paid", 1500, "a"),
        payment("e3", "invoice.paid", 800, "b"),
        payment("e4", "charge.refunded", 300, "b"),
        payment("e5", "invoice.payment_failed", 800, "c"),
        payment("e6", "customer.subscription.deleted", None, None),
        # nl_2: only a refund (of an earlier payment) in yen, and one payment in US cents.
        payment("e7", "charge.refunded", 500, "d", newsletter="nl_2"),
        payment("e8", "invoice.paid", 1000, "e", newsletter="nl_2", currency="usd"),
        # The next day: c's retry succeeds.
        payment("e9", "invoice.paid", 800, "c", day=D + timedelta(days=1)),
    ]
    write_rows(warehouse, STG_PAYMENT_EVENTS, rows, D, D + timedelta(days=2))

    result = materialize(newsletter_revenue, warehouse, "2026-11-20", "2026-11-21")
    again = materialize(newsletter_revenue, warehouse, "2026-11-20", "2026-11-21")

    assert result.success and again.success and all(checks_passed(again).values())
    figures = [
        (
            r["date"], r["newsletter_id"], r["currency"], r["gross_paid"], r["refunds"],
            r["net_revenue"], r["paid_invoices"], r["paying_customers"], r["failed_payments"],
            r["failed_amount"], r["cancellations"],
        )
        for r in rows_of(warehouse, NEWSLETTER_REVENUE, "date, newsletter_id, currency")
    ]  # fmt: skip
    assert figures == [
        (D, "nl_1", "jpy", 3100, 300, 2800, 3, 2, 1, 800, 1),
        (D, "nl_2", "jpy", 0, 500, -500, 0, 0, 0, 0, 0),
        (D, "nl_2", "usd", 1000, 0, 1000, 1, 1, 0, 0, 0),
        (D + timedelta(days=1), "nl_1", "jpy", 800, 0, 800, 1, 1, 0, 0, 0),
    ]
