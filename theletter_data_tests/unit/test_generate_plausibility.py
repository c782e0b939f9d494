"""The demo-lake generator's plausibility: Apple's privacy prefetches, email rates, page-view
traffic, very different audiences, and Stripe's monthly payments.

Everything is checked against the files actually written, the way the platform's loaders will
read them, at a small size; the lake they read is generated once per session (the `generated`
fixture, support/generated_lake.py).
"""

from __future__ import annotations

import re
import statistics
from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta

from theletter_data_tests.support.generated_lake import BOT, END, SIZE, START, Run, jst_day, ts

# --- plausibility -------------------------------------------------------------------------------


def _messages(generated: Run) -> dict[str, dict[str, list[dict]]]:
    """messageId -> eventType -> records, for messages sent in the first three days (whose
    opens and clicks have had time to happen inside the generated range)."""
    out: dict[str, dict[str, list[dict]]] = defaultdict(lambda: defaultdict(list))
    for r in generated.records("ses_events"):
        out[r["mail"]["messageId"]][r["eventType"]].append(r)
    return {
        m: e
        for m, e in out.items()
        if "Send" in e
        and jst_day(ts(e["Send"][0]["mail"]["timestamp"])) <= START + timedelta(days=2)
    }


def test_apple_machine_opens_look_like_apple_privacy_protection(generated: Run) -> None:
    messages = _messages(generated)
    machine = human = 0
    for events in messages.values():
        for r in events.get("Open", []):
            o = r["open"]
            if o["userAgent"] == "Mozilla/5.0":
                machine += 1
                assert o["ipAddress"].startswith("17.")
                delivered = ts(events["Delivery"][0]["delivery"]["timestamp"])
                assert timedelta(0) <= ts(o["timestamp"]) - delivered <= timedelta(minutes=15)
            else:
                human += 1
                assert not o["ipAddress"].startswith("17.")
    delivered = sum("Delivery" in e for e in messages.values())
    with_machine = sum(
        any(o["open"]["userAgent"] == "Mozilla/5.0" for o in e.get("Open", []))
        for e in messages.values()
    )
    assert machine and human
    assert 0.25 < with_machine / delivered < 0.55


def test_email_rates_are_plausible(generated: Run) -> None:
    messages = _messages(generated)
    sent = len(messages)
    delivered = sum("Delivery" in e for e in messages.values())
    bounced = sum("Bounce" in e for e in messages.values())
    human = {
        m
        for m, e in messages.items()
        if any(o["open"]["userAgent"] != "Mozilla/5.0" for o in e.get("Open", []))
    }
    clicked = sum("Click" in messages[m] for m in human)
    assert sent > 1000
    assert 0.96 < delivered / sent < 0.995
    assert 0.003 < bounced / sent < 0.03
    assert 0.2 < len(human) / delivered < 0.6
    assert 0.05 < clicked / len(human) < 0.3
    assert all("Click" not in e for m, e in messages.items() if m not in human)


def test_page_view_traffic_is_plausible(generated: Run) -> None:
    views = generated.records("page_views")
    bots = [r for r in views if BOT.search(r["user_agent"])]
    assert 0.03 < len(bots) / len(views) < 0.12
    humans = [r for r in views if not BOT.search(r["user_agent"])]
    email = [r for r in humans if r["utm_medium"] == "email"]
    home = [r for r in humans if r["post_id"] is None]
    assert email and all(r["utm_campaign"] == r["post_id"] for r in email)
    assert 0.05 < len(home) / len(humans) < 0.4
    referrers = {r["referrer"].split("/")[2] for r in humans if r["referrer"]}
    for host in ("www.google.com", "t.co", "b.hatena.ne.jp"):
        assert host in referrers
    assert any(h.endswith(".theletter.jp") for h in referrers)
    sessions = Counter(r["session_id"] for r in humans)
    assert statistics.mean(sessions.values()) < 3
    visitors = Counter(r["visitor_id"] for r in humans)
    assert max(visitors.values()) > 3, "readers come back with the same visitor id"
    assert len({r["visitor_id"] for r in bots}) == len(bots), "bots get a new id per hit"


def test_newsletters_have_very_different_audiences(generated: Run) -> None:
    subs = generated.snapshot("subscriptions", END).to_pylist()
    active = Counter(r["newsletter_id"] for r in subs if r["unsubscribed_at"] is None)
    sizes = sorted(active.values())
    assert sizes[-1] > 5 * statistics.median(sizes)
    newsletters = generated.snapshot("newsletters", END).to_pylist()
    assert len(newsletters) == SIZE["newsletters"]
    assert all(re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)+", n["slug"]) for n in newsletters)
    emails = {r["email"] for r in subs}
    assert any(e.endswith("@docomo.ne.jp") or e.endswith("@ezweb.ne.jp") for e in emails)
    assert len({r["reader_id"] for r in subs}) == len({(r["reader_id"], r["email"]) for r in subs})


def test_paid_subscribers_pay_monthly_in_stripes_format(generated: Run) -> None:
    """The payment provider's webhooks (docs/lake-layout.md): each invoice, refund or deletion
    is of a subscription the day's export shows on the paid plan, at its newsletter's price."""
    events = generated.records("payment_events")
    totals = generated.report.streams["payment_events"]
    assert len(events) == totals.records + totals.duplicate_lines > 20
    assert {e["type"] for e in events} >= {"invoice.paid", "customer.subscription.deleted"}
    price_of: dict[str, set[int]] = defaultdict(set)
    for e in events:
        assert (
            e["object"] == "event" and e["livemode"] is True and re.fullmatch(r"evt_\w+", e["id"])
        )
        at = datetime.fromtimestamp(e["created"], UTC)
        obj = e["data"]["object"]
        meta = obj.get("subscription_details", {}).get("metadata") or obj["metadata"]
        subs = generated.snapshot("subscriptions", jst_day(at)).to_pylist()
        (sub,) = [s for s in subs if s["subscription_id"] == meta["subscription_id"]]
        assert sub["newsletter_id"] == meta["newsletter_id"] and sub["plan"] == "paid"
        assert obj["currency"] == "jpy"
        if e["type"] == "customer.subscription.deleted":
            assert sub["unsubscribed_at"].replace(microsecond=0) == at  # Stripe's are seconds
        else:
            assert sub["unsubscribed_at"] is None or sub["unsubscribed_at"] > at
            assert obj.get("customer_email", obj.get("receipt_email")) == sub["email"]
        if e["type"].startswith("invoice."):
            price_of[meta["newsletter_id"]].add(obj["amount_due"])
    assert price_of and all(len(prices) == 1 for prices in price_of.values())
