"""stg_payment_events on hand-built Stripe webhook events: amounts, pseudonyms, retries,
quarantine, unknown newsletters and records that arrive after their day's window."""

from __future__ import annotations

from collections import Counter
from datetime import date, datetime

from theletter_data.staging.lines.stage import stage_day
from theletter_data.staging.payment_events import PAYMENT_EVENTS
from theletter_data_tests.support.rawdata import firehose_key, put_export, put_lines, utc

D = date(2026, 11, 20)
AT = utc("2026-11-20 03:00:00")  # 12:00 JST on D
EMAIL = "Hanako.Sato@example.jp"
PRICE = {"id": "price_1QmonthNL1", "recurring": {"interval": "month", "interval_count": 1}}
METADATA = {"newsletter_id": "nl_1", "subscription_id": "su_000000042"}


def stripe_event(
    event_type: str,
    at: datetime,
    *,
    event_id: str,
    amount: int = 800,
    previous_refunded: int | None = None,
    metadata: dict | None = None,
    email: str | None = EMAIL,
    currency: str = "jpy",
    livemode: bool = True,
) -> dict:
    """A Stripe webhook event as Stripe documents it (API version 2024-06-20), with the object
    of its type; `metadata` is what theLetter's billing service writes."""
    meta = dict(METADATA if metadata is None else metadata)
    if event_type.startswith("invoice."):
        paid = event_type == "invoice.paid"
        obj: dict = {
            "id": f"in_{event_id}",
            "object": "invoice",
            "amount_due": amount,
            "amount_paid": amount if paid else 0,
            "amount_remaining": 0 if paid else amount,
            "billing_reason": "subscription_cycle",
            "currency": currency,
            "customer": "cus_Q1a2b3",
            "customer_email": email,
            "status": "paid" if paid else "open",
            "subscription": "sub_1Qx",
            "subscription_details": {"metadata": meta},
            "lines": {
                "object": "list",
                "data": [{"id": "il_1", "amount": amount, "currency": currency, "price": PRICE}],
            },
        }
    elif event_type == "charge.refunded":
        obj = {
            "id": f"ch_{event_id}",
            "object": "charge",
            "amount": 800,
            "amount_captured": 800,
            "amount_refunded": amount,
            "currency": currency,
            "customer": "cus_Q1a2b3",
            "billing_details": {"email": email, "name": None},
            "receipt_email": email,
            "invoice": "in_paid",
            "metadata": meta,
            "refunded": amount == 800,
        }
    else:
        obj = {
            "id": "sub_1Qx",
            "object": "subscription",
            "currency": currency,
            "customer": "cus_Q1a2b3",
            "status": "canceled",
            "metadata": meta,
            "items": {"object": "list", "data": [{"id": "si_1", "price": PRICE}]},
        }
    data: dict = {"object": obj}
    if previous_refunded is not None:
        data["previous_attributes"] = {"amount_refunded": previous_refunded}
    return {
        "id": f"evt_{event_id}",
        "object": "event",
        "api_version": "2024-06-20",
        "created": int(at.timestamp()),
        "data": data,
        "livemode": livemode,
        "pending_webhooks": 1,
        "request": {"id": None, "idempotency_key": None},
        "type": event_type,
    }


def stage(resources, day: date = D):
    return stage_day(
        PAYMENT_EVENTS,
        day,
        lake=resources["lake"],
        engine=resources["ingest_engine"],
        pseudonymizer=resources["pseudonymizer"],
        warehouse=resources["warehouse"],
    )


def staged_rows(resources) -> dict[str, dict]:
    rows = (
        resources["warehouse"]
        .query("SELECT * FROM staging.stg_payment_events WHERE event_date = @d", {"d": D})
        .to_pylist()
    )
    return {r["event_id"]: r for r in rows}


def test_the_four_types_are_typed_and_bad_events_quarantined(resources):
    good = [
        stripe_event("invoice.paid", AT, event_id="paid"),
        stripe_event("invoice.payment_failed", AT, event_id="failed", amount=1500),
        # A charge refunded in two parts: 300, then 500 more (Stripe's running total is 800).
        stripe_event("charge.refunded", AT, event_id="refund1", amount=300, previous_refunded=0),
        stripe_event("charge.refunded", AT, event_id="refund2", amount=800, previous_refunded=300),
        stripe_event("customer.subscription.deleted", AT, event_id="deleted", email=None),
    ]
    bad = {
        "test_mode_event": stripe_event("invoice.paid", AT, event_id="test", livemode=False),
        "unknown_event_type": stripe_event("customer.created", AT, event_id="cust"),
        "invalid_id:newsletter_id": stripe_event(
            "invoice.paid", AT, event_id="dots", metadata={**METADATA, "newsletter_id": "../nl_1"}
        ),
        "missing_field:subscription_id": stripe_event(
            "invoice.paid", AT, event_id="nosub", metadata={"newsletter_id": "nl_1"}
        ),
        "invalid_amount": stripe_event("invoice.paid", AT, event_id="neg", amount=-800),
        "invalid_currency": stripe_event("invoice.paid", AT, event_id="cur", currency="JPY"),
        "missing_field:customer_email": stripe_event(
            "invoice.paid", AT, event_id="noemail", email=None
        ),
    }
    put_lines(
        resources["lake"],
        firehose_key("payment-events", utc("2026-11-20 03:05:00")),
        # The endpoint received `paid` twice (Stripe retried it): one row.
        [*good, good[0], *bad.values(), '{"id": "evt_cut", "type": "invoice.pa', ""],
    )

    result = stage(resources)

    assert (result.records_read, result.staged, result.duplicates, result.quarantined) == (
        14,
        5,
        1,
        8,
    )
    assert result.blank_lines == 1
    assert result.quarantine_reasons == {**{reason: 1 for reason in bad}, "malformed_json": 1}
    rows = staged_rows(resources)
    amounts = {k: (r["event_type"], r["amount"], r["currency"]) for k, r in rows.items()}
    assert amounts == {
        "evt_paid": ("invoice.paid", 800, "jpy"),
        "evt_failed": ("invoice.payment_failed", 1500, "jpy"),
        "evt_refund1": ("charge.refunded", 300, "jpy"),
        "evt_refund2": ("charge.refunded", 500, "jpy"),
        "evt_deleted": ("customer.subscription.deleted", None, "jpy"),
    }
    assert rows["evt_paid"]["invoice_id"] == "in_paid" == rows["evt_refund1"]["invoice_id"]
    assert rows["evt_deleted"]["object_id"] == "sub_1Qx"
    assert rows["evt_deleted"]["invoice_id"] is None
    assert {
        (r["price_id"], r["billing_interval"]) for k, r in rows.items() if "refund" not in k
    } == {("price_1QmonthNL1", "month")}
    assert {(r["newsletter_id"], r["subscription_id"]) for r in rows.values()} == {
        ("nl_1", "su_000000042")
    }
    # The same pseudonym as a subscriber's (`reader_hash`): case and spaces do not matter.
    expected = resources["pseudonymizer"].hash(EMAIL)
    assert {r["customer_hash"] for k, r in rows.items() if k != "evt_deleted"} == {expected}
    assert rows["evt_deleted"]["customer_hash"] is None
    assert all("@" not in str(v) for r in rows.values() for v in r.values())
    quarantined = resources["warehouse"].query(
        "SELECT reason, excerpt FROM staging.quarantine WHERE stream = 'payment_events'"
    )
    excerpts = dict(zip(*quarantined.to_pydict().values(), strict=True))
    assert excerpts["test_mode_event"].startswith('{"id": "evt_test"')
    assert "example.jp" not in str(excerpts)


def test_unknown_newsletters_and_records_after_the_window(resources):
    lake = resources["lake"]
    put_export(
        lake,
        "newsletters",
        D,
        [{"newsletter_id": "nl_1", "slug": "tokyo-tech", "name": "Tokyo Tech"}],
    )
    put_export(
        lake,
        "newsletters",
        date(2026, 11, 21),
        [{"newsletter_id": "nl_1", "slug": "tokyo-tech", "name": "Tokyo Tech"}],
    )
    stranger = {**METADATA, "newsletter_id": "nl_999"}
    put_lines(
        lake,
        firehose_key("payment-events", utc("2026-11-20 03:05:00")),
        [
            stripe_event("invoice.paid", AT, event_id="known"),
            stripe_event("invoice.paid", AT, event_id="stranger", metadata=stranger),
        ],
    )
    # D's window closes 3 hours after its end (18:00 UTC): this copy arrives 19:30 UTC, on D+1.
    put_lines(
        lake,
        firehose_key("payment-events", utc("2026-11-20 19:30:00"), "late"),
        [stripe_event("invoice.paid", utc("2026-11-20 14:00:00"), event_id="late")],
    )

    day = stage(resources)
    next_day = stage(resources, date(2026, 11, 21))

    assert (day.records_read, day.staged, day.quarantined) == (2, 1, 1)
    assert day.quarantine_reasons == {"unknown_newsletter": 1}
    assert day.newsletters_checked_against == D
    assert set(staged_rows(resources)) == {"evt_known"}
    assert (next_day.records_read, next_day.staged, next_day.quarantined) == (1, 0, 1)
    assert next_day.quarantine_reasons == {"arrived_after_window": 1}
    assert next_day.late_records == {D: (1, utc("2026-11-20 19:00:00"))}


def test_a_day_without_payments_is_staged_empty(resources):
    """A small platform has days without a payment: no object is no stopped producer here."""
    put_lines(
        resources["lake"],
        firehose_key("payment-events", utc("2026-11-20 03:05:00")),
        [stripe_event("invoice.paid", AT, event_id="paid")],
    )

    quiet = stage(resources, date(2026, 11, 23))

    assert (quiet.objects, quiet.records_read, quiet.staged, quiet.declared_empty) == (
        0,
        0,
        0,
        False,
    )
    assert quiet.reconciles


def test_fields_of_another_shape_are_quarantined_not_guessed(resources):
    """Attacks on the guards: numbers written otherwise than Stripe writes them."""
    cases = {
        "fraction": ({"amount": "800.5"}, "invalid_amount"),
        "amount-text": ({"amount": "eight hundred"}, "invalid_amount"),
        "huge": ({"amount": 10**30}, "invalid_amount"),
        "iso-created": ({"created": "2026-11-20T03:00:00Z"}, "invalid_timestamp"),
        # Milliseconds, not Stripe's seconds (13 digits): not read as the year 57,857.
        "millis": ({"created": int(AT.timestamp()) * 1000}, "invalid_timestamp"),
        "livemode-missing": ({"livemode": None}, "test_mode_event"),
        "space-id": ({"id": "evt 1"}, "invalid_id:id"),
    }
    lines = []
    for name, (change, _) in cases.items():
        event = stripe_event("invoice.paid", AT, event_id=name.replace("-", "_"))
        if "amount" in change:
            event["data"]["object"]["amount_paid"] = change["amount"]
        else:
            event.update(change)
            if change.get("livemode", True) is None:
                del event["livemode"]
        lines.append(event)
    put_lines(resources["lake"], firehose_key("payment-events", utc("2026-11-20 03:05:00")), lines)

    result = stage(resources)

    assert (result.records_read, result.staged) == (7, 0)
    assert result.quarantine_reasons == dict(Counter(reason for _, reason in cases.values()))
