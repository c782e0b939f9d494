"""Payments: the Stripe webhook events of paid subscriptions, in Stripe's own format.

A subscription on a paid newsletter that upgraded (`upgrade_ms`, the app's `plan = 'paid'`) is
billed monthly at its newsletter's price, every 30 days from the upgrade, while it lasts: each
cycle's invoice is paid at once, or (3%) its payment fails and Stripe's retry pays it 3 days
later if the reader is still subscribed. 1% of paid invoices are refunded in full 2 to 30 hours
later. When a paid subscription ends, Stripe deletes its subscription at that instant.

Everything comes from hashes of the subscription's row and the cycle, so a day's events do not
depend on the range generated. The billing service's metadata (`newsletter_id`,
`subscription_id`) names the app's ids, as docs/lake-layout.md says.
"""

from __future__ import annotations

import json

import numpy as np
import pyarrow as pa

from .clock import DAY_MS, HOUR_MS, NEVER, Stream, day_start_ms, hash64, hash_uniform
from .columns import Table
from .world import World

CYCLE_MS = 30 * DAY_MS
RETRY_MS = 3 * DAY_MS
FAILED_SHARE = 0.03
REFUNDED_SHARE = 0.01
MONTHLY_PRICES_JPY = (500, 800, 1000, 1500)
API_VERSION = "2024-06-20"
PAID, FAILED, REFUNDED, DELETED = 0, 1, 2, 3
_TYPES = (
    "invoice.paid",
    "invoice.payment_failed",
    "charge.refunded",
    "customer.subscription.deleted",
)


def simulate_payments(world: World, number: int) -> Table:
    """The payment events of Japan-time day `number`, as columns (`ms`, `kind`, `sub`, `cycle`)."""
    seed, subs = world.seed, world.subscriptions
    start, end = day_start_ms(number), day_start_ms(number + 1)
    s = np.flatnonzero((subs.upgrade_ms != NEVER) & (subs.start_ms < end))
    up, ends = subs.upgrade_ms[s], subs.end_ms[s]
    parts: list[Table] = []

    def add(mask: np.ndarray, ms: np.ndarray, kind: int, cycle: np.ndarray) -> None:
        mask = mask & (ms >= start) & (ms < end)
        parts.append(
            {
                "ms": ms[mask],
                "kind": np.full(int(mask.sum()), kind, dtype=np.int8),
                "sub": s[mask],
                "cycle": cycle[mask],
            }
        )

    # The cycles whose invoice, retry or refund can fall on the day (at most two of them).
    first = np.maximum(0, -((up - (start - RETRY_MS - 2 * DAY_MS)) // CYCLE_MS))
    for cycle in (first, first + 1):
        due = up + cycle * CYCLE_MS
        billed = due < ends
        failed = hash_uniform(seed, int(Stream.PAYMENTS), s, cycle, 1) < FAILED_SHARE
        paid_ms = np.where(failed, due + RETRY_MS, due)
        paid = billed & (paid_ms < ends)
        add(billed & ~failed, due, PAID, cycle)
        add(billed & failed, due, FAILED, cycle)
        add(paid & failed, paid_ms, PAID, cycle)
        refunded = paid & (hash_uniform(seed, int(Stream.PAYMENTS), s, cycle, 2) < REFUNDED_SHARE)
        delay = (2 + 28 * hash_uniform(seed, int(Stream.PAYMENTS), s, cycle, 3)) * HOUR_MS
        add(refunded, paid_ms + delay.astype(np.int64), REFUNDED, cycle)
    add(ends < NEVER, ends, DELETED, np.zeros(len(s), dtype=np.int64))
    table = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
    order = np.lexsort((table["kind"], table["cycle"], table["sub"], table["ms"]))
    return {k: v[order] for k, v in table.items()}


def _hex(*parts: int | np.ndarray) -> str:
    return f"{int(hash64(*parts)):016x}"


class PaymentLines:
    """Formats payment rows as Stripe's webhook events (one JSON object per line)."""

    def __init__(self, world: World) -> None:
        self.world = world
        nls = world.newsletters
        price = hash_uniform(world.seed, int(Stream.PAYMENTS), np.arange(len(nls)), 4)
        self.prices = [MONTHLY_PRICES_JPY[int(p * len(MONTHLY_PRICES_JPY))] for p in price]
        self.price_ids = [
            f"price_{_hex(world.seed, int(Stream.PAYMENTS), i, 5)}" for i in range(len(nls))
        ]

    def __call__(self, rows: Table) -> pa.Array:
        return pa.array(
            [
                json.dumps(self.event(int(ms), int(kind), int(sub), int(cycle))) + "\n"
                for ms, kind, sub, cycle in zip(
                    rows["ms"], rows["kind"], rows["sub"], rows["cycle"], strict=True
                )
            ],
            pa.string(),
        )

    def event(self, ms: int, kind: int, sub: int, cycle: int) -> dict:
        w = self.world
        seed, subs, readers = w.seed, w.subscriptions, w.readers
        nl, reader = int(subs.nl[sub]), int(subs.reader[sub])
        email = readers.emails[reader].as_py()
        amount, created = self.prices[nl], ms // 1000
        metadata = {"newsletter_id": w.newsletters.ids[nl], "subscription_id": f"su_{sub + 1:09d}"}
        customer = f"cus_{_hex(seed, int(Stream.PAYMENTS), reader, 6)[:14]}"
        stripe_sub = f"sub_{_hex(seed, int(Stream.PAYMENTS), sub, 7)[:14]}"
        invoice = f"in_{_hex(seed, int(Stream.PAYMENTS), sub, cycle, 8)[:14]}"
        price = {
            "id": self.price_ids[nl],
            "object": "price",
            "currency": "jpy",
            "recurring": {"interval": "month", "interval_count": 1},
            "unit_amount": amount,
        }
        obj: dict
        if kind in (PAID, FAILED):
            paid = kind == PAID
            obj = {
                "id": invoice,
                "object": "invoice",
                "amount_due": amount,
                "amount_paid": amount if paid else 0,
                "amount_remaining": 0 if paid else amount,
                "billing_reason": "subscription_create" if cycle == 0 else "subscription_cycle",
                "currency": "jpy",
                "customer": customer,
                "customer_email": email,
                "status": "paid" if paid else "open",
                "subscription": stripe_sub,
                "subscription_details": {"metadata": metadata},
                "lines": {
                    "object": "list",
                    "data": [{"id": f"il_{invoice[3:]}", "amount": amount, "price": price}],
                },
            }
        elif kind == REFUNDED:
            obj = {
                "id": f"ch_{_hex(seed, int(Stream.PAYMENTS), sub, cycle, 9)[:14]}",
                "object": "charge",
                "amount": amount,
                "amount_captured": amount,
                "amount_refunded": amount,
                "billing_details": {"email": email},
                "currency": "jpy",
                "customer": customer,
                "invoice": invoice,
                "metadata": metadata,
                "receipt_email": email,
                "refunded": True,
            }
        else:
            obj = {
                "id": stripe_sub,
                "object": "subscription",
                "canceled_at": created,
                "currency": "jpy",
                "customer": customer,
                "ended_at": created,
                "items": {
                    "object": "list",
                    "data": [{"id": f"si_{stripe_sub[4:]}", "price": price}],
                },
                "metadata": metadata,
                "status": "canceled",
            }
        data: dict = {"object": obj}
        if kind == REFUNDED:
            data["previous_attributes"] = {"amount_refunded": 0, "refunded": False}
        return {
            "id": f"evt_{_hex(seed, int(Stream.PAYMENTS), sub, cycle, kind, ms)[:16]}",
            "object": "event",
            "api_version": API_VERSION,
            "created": created,
            "data": data,
            "livemode": True,
            "pending_webhooks": 1,
            "request": {"id": None, "idempotency_key": None},
            "type": _TYPES[kind],
        }
