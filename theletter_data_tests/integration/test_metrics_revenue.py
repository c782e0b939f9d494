"""newsletter_revenue on hand-made payment events (both warehouses)."""

from __future__ import annotations

from datetime import date, timedelta

from theletter_data.metrics.newsletter_revenue import NEWSLETTER_REVENUE, newsletter_revenue
from theletter_data.serving.documents import build_documents, validate
from theletter_data.serving.preview import render_dashboard
from theletter_data.staging.app_exports import NEWSLETTERS
from theletter_data.staging.payment_events import STG_PAYMENT_EVENTS
from theletter_data_tests.support.rawdata import utc
from theletter_data_tests.support.staged import (
    checks_passed,
    create_empty_tables,
    materialize,
    rows_of,
    write_rows,
)

D = date(2026, 11, 20)


def payment(event_id, event_type, amount, customer, newsletter="nl_1", currency="jpy", day=D):
    return {
        "event_date": day, "event_at": utc(f"{day} 03:00:00"), "event_id": event_id,
        "event_type": event_type, "newsletter_id": newsletter, "subscription_id": "su_1",
        "customer_hash": customer, "object_id": f"obj_{event_id}", "amount": amount,
        "currency": currency, "source_object": "payment-events/x.gz",
    }  # fmt: skip


ROWS = [
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


def test_revenue_adds_payments_less_refunds_per_newsletter_day_and_currency(warehouse):
    write_rows(warehouse, STG_PAYMENT_EVENTS, ROWS, D, D + timedelta(days=2))

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


def test_the_revenue_section_keeps_currencies_apart_and_counts_customers_once(warehouse):
    """The documents as of D+1 on both warehouses: the period's table has a row per currency
    (amounts never added across them), a customer who paid on both days counts once, the
    daily series counts every currency's events; a newsletter without payments has none."""
    after = D + timedelta(days=1)
    rows = [*ROWS, payment("e10", "invoice.paid", 800, "a", day=after)]
    write_rows(warehouse, STG_PAYMENT_EVENTS, rows, D, after + timedelta(days=1))
    materialize(newsletter_revenue, warehouse, str(D), str(after))
    new = {"snapshot_date": after, "created_at": utc("2026-01-01 00:00:00")}
    write_rows(warehouse, NEWSLETTERS.table, [
        {**new, "newsletter_id": n, "slug": n} for n in ("nl_1", "nl_2", "nl_3")
    ], after, after + timedelta(days=1))  # fmt: skip
    create_empty_tables(warehouse)  # the other sections' tables

    docs = build_documents(warehouse, after)

    for doc in docs.values():
        validate(doc)
    fields = ("currency", "gross_paid", "refunds", "net_revenue", "paid_invoices",
              "paying_customers", "failed_payments", "failed_amount", "cancellations")  # fmt: skip
    table = {
        n: [tuple(r[f] for f in fields) for r in docs[n]["revenue"]["by_currency"]] for n in docs
    }
    assert table == {
        # a paid on D and D+1: 3 customers, where the daily counts add up to 4.
        "nl_1": [("jpy", 4700, 300, 4400, 5, 3, 1, 800, 1)],
        "nl_2": [("usd", 1000, 0, 1000, 1, 1, 0, 0, 0), ("jpy", 0, 500, -500, 0, 0, 0, 0, 0)],
        "nl_3": [],
    }
    daily = {
        n: [(d["date"], d["paid_invoices"], d["failed_payments"], d["cancellations"])
            for d in docs[n]["revenue"]["daily"]]
        for n in docs
    }  # fmt: skip
    assert daily == {
        "nl_1": [(str(D), 3, 1, 1), (str(after), 2, 0, 0)],
        "nl_2": [(str(D), 1, 0, 0)],
        "nl_3": [],
    }
    assert docs["nl_3"]["revenue"] == {"days": 30, "by_currency": [], "daily": []}
    page = render_dashboard(docs["nl_2"])
    assert '<section class="wide" id="revenue-by_currency">' in page
    assert '<section id="revenue-daily">' in page
    assert '<tr id="revenue-usd"><td>USD</td><td>10.00 USD</td>' in page
    assert "-500 JPY" in page
    assert "No payments yet." in render_dashboard(docs["nl_3"])
