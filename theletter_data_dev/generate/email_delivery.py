"""What the receiving side does with each message sent: bounce, delay, deliver or complain.

Also the unsubscribes the world decided (at the instant the app export records) and the machine
opens of Apple Mail Privacy Protection. The people who then read and click are
`email_opens_clicks`.
"""

from __future__ import annotations

import numpy as np

from . import vocab
from .clock import HOUR_MS, MINUTE_MS
from .columns import Table
from .email_event_rows import (
    BOUNCE,
    COMPLAINT,
    DELAY,
    DELIVERY,
    GENERAL,
    MAILBOX_FULL,
    MPP_AGENT,
    OPEN,
    REJECT,
    RENDER,
    SEND,
    SUBSCRIPTION,
    SUPPRESSED,
    TRANSIENT,
    UNDETERMINED,
    event_rows,
    lognormal,
)
from .email_opens_clicks import human_opens
from .world import World

# Per recipient domain group: providers with feedback loops report complaints; carriers'
# mailboxes fill up.
COMPLAINT_RATE = {
    "gmail": 0.00015,
    "icloud": 0.0001,
    "yahoo": 0.0006,
    "carrier": 0.0003,
    "microsoft": 0.0008,
    "company": 0.0001,
}
TRANSIENT_RATE = {
    "gmail": 0.0008,
    "icloud": 0.001,
    "yahoo": 0.0015,
    "carrier": 0.004,
    "microsoft": 0.001,
    "company": 0.0015,
}


def delivery_outcomes(
    world: World, rng: np.random.Generator, msg: Table, number: int
) -> tuple[list[Table], list[Table]]:
    """Each message's fate, then its readers' opens and clicks: (SES events, page views)."""
    posts, subs, readers = world.posts, world.subscriptions, world.readers
    m = len(msg["post"])
    reader = msg["reader"]
    group = readers.group[reader]
    group_names = vocab.DOMAIN_GROUPS
    carrier = group == group_names.index("carrier")
    leaving = subs.email_unsub_post[msg["sub"]] == msg["post"]
    invalid = readers.invalid[reader] & ~leaving
    u = rng.random(m)
    render = (u < 2e-5) & ~invalid & ~leaving
    reject = (u >= 2e-5) & (u < 3e-5) & ~invalid & ~leaving
    transient_p = np.array([TRANSIENT_RATE[g] for g in group_names])[group]
    v = rng.random(m)
    ok = ~(invalid | render | reject | leaving)
    transient = ok & (v < transient_p)
    undetermined = ok & (v >= transient_p) & (v < transient_p + 0.0001)
    delayed = ok & ~transient & ~undetermined & (rng.random(m) < 0.003)
    delivered = ~(invalid | render | reject | transient | undetermined)
    t = msg["ms"]
    events: list[Table] = [event_rows(msg, np.arange(m), SEND, t)]
    events.append(event_rows(msg, np.flatnonzero(render), RENDER, t[render]))
    events.append(event_rows(msg, np.flatnonzero(reject), REJECT, t[reject]))

    # Bounces: invalid addresses (General the first time, then SES's suppression list), full
    # mailboxes and expired retries.
    i = np.flatnonzero(invalid)
    first = readers.first_bounce_ms[reader[i]]
    suppressed = posts.published_ms[msg["post"][i]] > first
    kind = np.where(suppressed, SUPPRESSED, GENERAL)
    after = np.where(suppressed, rng.uniform(40, 600, len(i)), lognormal(rng, 2500, 0.7, len(i)))
    events.append(event_rows(msg, i, BOUNCE, t[i] + after.astype(np.int64), kind=kind))
    i = np.flatnonzero(transient)
    kind = np.where(rng.random(len(i)) < 0.7, MAILBOX_FULL, TRANSIENT)
    after = np.where(
        kind == MAILBOX_FULL,
        lognormal(rng, 40 * MINUTE_MS, 1.0, len(i)),
        rng.uniform(10, 14, len(i)) * HOUR_MS,
    )
    events.append(event_rows(msg, i, BOUNCE, t[i] + after.astype(np.int64), kind=kind))
    i = np.flatnonzero(undetermined)
    events.append(
        event_rows(
            msg,
            i,
            BOUNCE,
            t[i] + lognormal(rng, 5000, 1.0, len(i)).astype(np.int64),
            kind=UNDETERMINED,
        )
    )

    # Deliveries: seconds for most, longer at the carriers; 0.3% first report a DeliveryDelay.
    processing = np.clip(lognormal(rng, 1400, 0.8, m) * np.where(carrier, 3.0, 1.0), 150, 120_000)
    processing = np.where(leaving, np.minimum(processing, 8000), processing).astype(np.int64)
    i = np.flatnonzero(delayed)
    delay_at = t[i] + (rng.uniform(4, 30, len(i)) * MINUTE_MS).astype(np.int64)
    delay_kind = np.where(carrier[i], 2, rng.choice(3, size=len(i), p=[0.6, 0.2, 0.2]))
    events.append(event_rows(msg, i, DELAY, delay_at, kind=delay_kind, num=t[i] + 14 * HOUR_MS))
    processing[i] = (
        delay_at
        - t[i]
        + np.clip(lognormal(rng, 35 * MINUTE_MS, 0.8, len(i)), MINUTE_MS, 10 * HOUR_MS).astype(
            np.int64
        )
    )
    delivered_at = t + processing
    d = np.flatnonzero(delivered)
    events.append(event_rows(msg, d, DELIVERY, delivered_at[d], num=processing[d]))

    # Complaints, hours later, mostly from providers with feedback loops.
    complaint_p = np.array([COMPLAINT_RATE[g] for g in group_names])[group[d]]
    i = d[rng.random(len(d)) < complaint_p]
    at = delivered_at[i] + np.clip(
        lognormal(rng, 5 * HOUR_MS, 1.0, len(i)), 10 * MINUTE_MS, 60 * HOUR_MS
    ).astype(np.int64)
    events.append(event_rows(msg, i, COMPLAINT, at, num=at - rng.integers(1000, 90_000, len(i))))

    # Unsubscribes through the email, at the instant the world recorded (the export agrees).
    i = np.flatnonzero(leaving)
    events.append(
        event_rows(
            msg, i, SUBSCRIPTION, subs.end_ms[msg["sub"][i]], kind=subs.unsub_source[msg["sub"][i]]
        )
    )

    # Apple Mail Privacy Protection: the proxy fetches the pixel minutes after delivery.
    i = d[readers.mpp[reader[d]] & (rng.random(len(d)) < 0.97)]
    at = delivered_at[i] + np.minimum(rng.exponential(2.5 * MINUTE_MS, len(i)), 15 * MINUTE_MS - 1)
    apple_ip = (np.uint32(17) << np.uint32(24)) | rng.integers(0, 1 << 24, len(i)).astype(np.uint32)
    events.append(event_rows(msg, i, OPEN, at.astype(np.int64), ua=MPP_AGENT, ip=apple_ip))

    human, clicks, page_views = human_opens(world, rng, msg, d, delivered_at[d], number)
    return events + human + clicks, page_views
