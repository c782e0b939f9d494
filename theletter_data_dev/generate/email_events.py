"""Everything SES reports about the posts emailed on one day, and the visits their clicks cause.

A send day's cascade (Send, Delivery or Bounce, machine and human opens, clicks, complaints,
unsubscribes) is drawn from that day's random stream alone and spans up to MAX_LAG_DAYS later
days. Generating day D therefore replays the send days D-3..D and keeps the events whose own
timestamp falls on D: the result is identical whichever range D was requested in.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .clock import DAY_MS, Stream, day_numbers, day_rng, day_start_ms, hash64
from .columns import Table, concat, split_by_day
from .email_delivery import delivery_outcomes
from .world import World

MAX_LAG_DAYS = 3
"""Events later than this many days after the send day are not simulated (opens have decayed)."""


@dataclass
class Cascade:
    """One send day's events, by the Japan-time day of their own timestamp."""

    ses: dict[int, Table]
    page_views: dict[int, Table]


def simulate_send_day(world: World, number: int) -> Cascade:
    """Send every post published (and emailed) on day `number` and simulate what follows."""
    rng = day_rng(world.seed, number, Stream.EMAIL)
    posts, subs = world.posts, world.subscriptions
    start = day_start_ms(number)
    todays = np.flatnonzero(
        posts.emailed & (posts.published_ms >= start) & (posts.published_ms < start + DAY_MS)
    )
    todays = todays[np.argsort(posts.published_ms[todays], kind="stable")]
    batches_post, batches_sub, batches_ms = [], [], []
    for post in todays:
        at = int(posts.published_ms[post])
        recipients = subs.active(int(posts.nl[post]), at)
        if not len(recipients):
            continue
        recipients = recipients[rng.permutation(len(recipients))]
        # Readers who will unsubscribe from this email get the first copies (see
        # subscriptions._lifecycle).
        leaving = subs.email_unsub_post[recipients] == post
        recipients = recipients[np.argsort(~leaving, kind="stable")]
        m = len(recipients)
        rate = rng.uniform(250.0, 400.0)  # SES sending quota, messages per second
        offsets = np.arange(m) * (1000.0 / rate) + rng.uniform(0, 30, m) + rng.integers(500, 4000)
        batches_post.append(np.full(m, post, dtype=np.int32))
        batches_sub.append(recipients)
        batches_ms.append(at + offsets.astype(np.int64))
    if not batches_post:
        return Cascade({}, {})
    msg = {
        "post": np.concatenate(batches_post),
        "sub": np.concatenate(batches_sub),
        "ms": np.concatenate(batches_ms),
    }
    m = len(msg["post"])
    msg["reader"] = subs.reader[msg["sub"]]
    msg["key"] = hash64(world.seed, int(Stream.EMAIL), number, np.arange(m))
    events, page_views = delivery_outcomes(world, rng, msg, number)
    ses = concat(events)
    cap = day_start_ms(number + MAX_LAG_DAYS + 1)
    keep = ses["ms"] < cap
    ses = {k: v[keep] for k, v in ses.items()}
    pv = concat(page_views)
    if pv:
        keep = pv["ms"] < cap
        pv = {k: v[keep] for k, v in pv.items()}
    return Cascade(
        split_by_day(ses, day_numbers(ses["ms"])),
        split_by_day(pv, day_numbers(pv["ms"])) if pv else {},
    )
