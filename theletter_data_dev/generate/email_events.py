"""Everything SES reports about the posts emailed on one day, and the visits their clicks cause.

A send day's cascade (Send, Delivery or Bounce, machine and human opens, clicks, complaints,
unsubscribes) is drawn from that day's random stream alone and spans up to MAX_LAG_DAYS later
days. Generating day D therefore replays the send days D-3..D and keeps the events whose own
timestamp falls on D: the result is identical whichever range D was requested in.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import vocab
from .audience import PHONE, visitor_key
from .clock import (
    DAY_MS,
    HOUR_MS,
    MINUTE_MS,
    Stream,
    day_numbers,
    day_rng,
    day_start_ms,
    hash64,
)
from .columns import Table, concat, split_by_day
from .world import REFERRER_GMAIL, REFERRER_NONE, World

MAX_LAG_DAYS = 3
"""Events later than this many days after the send day are not simulated (opens have decayed)."""

SEND, DELIVERY, BOUNCE, COMPLAINT, REJECT, OPEN, CLICK, DELAY, RENDER, SUBSCRIPTION = range(10)
"""Event types (the `type` column); `ses_lines.TYPE_NAMES` holds SES's names for them."""
GENERAL, SUPPRESSED, MAILBOX_FULL, TRANSIENT, UNDETERMINED = range(5)
"""Bounce kinds (the `kind` column of bounces); see `ses_lines.BOUNCE_KINDS`."""

SES_AGENTS = (*vocab.MAIL_AGENTS, vocab.APPLE_MPP_AGENT, *vocab.BROWSER_AGENTS)
"""User agents of opens and clicks (the `ua` column indexes this)."""
MPP_AGENT = len(vocab.MAIL_AGENTS)
BROWSER_OFFSET = MPP_AGENT + 1

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


@dataclass
class Cascade:
    """One send day's events, by the Japan-time day of their own timestamp."""

    ses: dict[int, Table]
    page_views: dict[int, Table]


def _lognormal(rng: np.random.Generator, median_ms: float, sigma: float, n: int) -> np.ndarray:
    return np.exp(rng.normal(np.log(median_ms), sigma, n))


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
        # Readers who will unsubscribe from this email get the first copies (see world._lifecycle).
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
    events, page_views = _outcomes(world, rng, msg, number)
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


def _events(
    msg: Table,
    idx: np.ndarray,
    kind_of_event: int,
    ms: np.ndarray,
    *,
    ua: np.ndarray | int = -1,
    ip: np.ndarray | int = 0,
    num: np.ndarray | int = 0,
    kind: np.ndarray | int = 0,
    link: np.ndarray | int = -1,
) -> Table:
    n = len(idx)

    def col(value: np.ndarray | int, dtype: type) -> np.ndarray:
        return np.broadcast_to(np.asarray(value, dtype=dtype), (n,)).copy()

    return {
        "type": col(kind_of_event, np.int8),
        "ms": np.asarray(ms, dtype=np.int64),
        "msg_ms": msg["ms"][idx],
        "post": msg["post"][idx],
        "reader": msg["reader"][idx],
        "key": msg["key"][idx],
        "ua": col(ua, np.int16),
        "ip": col(ip, np.uint32),
        "num": col(num, np.int64),
        "kind": col(kind, np.int8),
        "link": col(link, np.int32),
    }


def _outcomes(
    world: World, rng: np.random.Generator, msg: Table, number: int
) -> tuple[list[Table], list[Table]]:
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
    events: list[Table] = [_events(msg, np.arange(m), SEND, t)]
    events.append(_events(msg, np.flatnonzero(render), RENDER, t[render]))
    events.append(_events(msg, np.flatnonzero(reject), REJECT, t[reject]))

    # Bounces: invalid addresses (General the first time, then SES's suppression list), full
    # mailboxes and expired retries.
    i = np.flatnonzero(invalid)
    first = readers.first_bounce_ms[reader[i]]
    suppressed = posts.published_ms[msg["post"][i]] > first
    kind = np.where(suppressed, SUPPRESSED, GENERAL)
    after = np.where(suppressed, rng.uniform(40, 600, len(i)), _lognormal(rng, 2500, 0.7, len(i)))
    events.append(_events(msg, i, BOUNCE, t[i] + after.astype(np.int64), kind=kind))
    i = np.flatnonzero(transient)
    kind = np.where(rng.random(len(i)) < 0.7, MAILBOX_FULL, TRANSIENT)
    after = np.where(
        kind == MAILBOX_FULL,
        _lognormal(rng, 40 * MINUTE_MS, 1.0, len(i)),
        rng.uniform(10, 14, len(i)) * HOUR_MS,
    )
    events.append(_events(msg, i, BOUNCE, t[i] + after.astype(np.int64), kind=kind))
    i = np.flatnonzero(undetermined)
    events.append(
        _events(
            msg,
            i,
            BOUNCE,
            t[i] + _lognormal(rng, 5000, 1.0, len(i)).astype(np.int64),
            kind=UNDETERMINED,
        )
    )

    # Deliveries: seconds for most, longer at the carriers; 0.3% first report a DeliveryDelay.
    processing = np.clip(_lognormal(rng, 1400, 0.8, m) * np.where(carrier, 3.0, 1.0), 150, 120_000)
    processing = np.where(leaving, np.minimum(processing, 8000), processing).astype(np.int64)
    i = np.flatnonzero(delayed)
    delay_at = t[i] + (rng.uniform(4, 30, len(i)) * MINUTE_MS).astype(np.int64)
    delay_kind = np.where(carrier[i], 2, rng.choice(3, size=len(i), p=[0.6, 0.2, 0.2]))
    events.append(_events(msg, i, DELAY, delay_at, kind=delay_kind, num=t[i] + 14 * HOUR_MS))
    processing[i] = (
        delay_at
        - t[i]
        + np.clip(_lognormal(rng, 35 * MINUTE_MS, 0.8, len(i)), MINUTE_MS, 10 * HOUR_MS).astype(
            np.int64
        )
    )
    delivered_at = t + processing
    d = np.flatnonzero(delivered)
    events.append(_events(msg, d, DELIVERY, delivered_at[d], num=processing[d]))

    # Complaints, hours later, mostly from providers with feedback loops.
    complaint_p = np.array([COMPLAINT_RATE[g] for g in group_names])[group[d]]
    i = d[rng.random(len(d)) < complaint_p]
    at = delivered_at[i] + np.clip(
        _lognormal(rng, 5 * HOUR_MS, 1.0, len(i)), 10 * MINUTE_MS, 60 * HOUR_MS
    ).astype(np.int64)
    events.append(_events(msg, i, COMPLAINT, at, num=at - rng.integers(1000, 90_000, len(i))))

    # Unsubscribes through the email, at the instant the world recorded (the export agrees).
    i = np.flatnonzero(leaving)
    events.append(
        _events(
            msg, i, SUBSCRIPTION, subs.end_ms[msg["sub"][i]], kind=subs.unsub_source[msg["sub"][i]]
        )
    )

    # Apple Mail Privacy Protection: the proxy fetches the pixel minutes after delivery.
    i = d[readers.mpp[reader[d]] & (rng.random(len(d)) < 0.97)]
    at = delivered_at[i] + np.minimum(rng.exponential(2.5 * MINUTE_MS, len(i)), 15 * MINUTE_MS - 1)
    apple_ip = (np.uint32(17) << np.uint32(24)) | rng.integers(0, 1 << 24, len(i)).astype(np.uint32)
    events.append(_events(msg, i, OPEN, at.astype(np.int64), ua=MPP_AGENT, ip=apple_ip))

    human, clicks, page_views = _human_opens(world, rng, msg, d, delivered_at[d], number)
    return events + human + clicks, page_views


def _reader_ip(rng: np.random.Generator, world: World, reader: np.ndarray) -> np.ndarray:
    return world.readers.isp[reader] | rng.integers(0, 1 << 16, len(reader)).astype(np.uint32)


def _human_opens(
    world: World,
    rng: np.random.Generator,
    msg: Table,
    d: np.ndarray,
    delivered_at: np.ndarray,
    number: int,
) -> tuple[list[Table], list[Table], list[Table]]:
    """People reading: engagement x newsletter quality, 1-3 opens over days, then clicks."""
    posts, readers, nls = world.posts, world.readers, world.newsletters
    reader = msg["reader"][d]
    nl = posts.nl[msg["post"][d]]
    p_open = np.clip(nls.open_rate[nl] * readers.engagement[reader] * 2.0, 0.0, 0.97)
    opener = rng.random(len(d)) < p_open
    o, base, reader, nl = d[opener], delivered_at[opener], reader[opener], nl[opener]
    n = len(o)
    mode = rng.choice(3, size=n, p=[0.4, 0.42, 0.18])
    first = np.choose(
        mode,
        [
            rng.exponential(25 * MINUTE_MS, n),
            _lognormal(rng, 4 * HOUR_MS, 0.8, n),
            rng.uniform(20, 68, n) * HOUR_MS,
        ],
    ).astype(np.int64)
    at = base + np.maximum(first, 2000)
    # Few people read at 1-6 am: most of those opens move to the next morning's commute.
    local_hour = (at + 9 * HOUR_MS) % DAY_MS // HOUR_MS
    night = (local_hour >= 1) & (local_hour < 6) & (rng.random(n) < 0.8)
    morning = at - (at + 9 * HOUR_MS) % DAY_MS + (6 * HOUR_MS + 30 * MINUTE_MS)
    at = np.where(night, morning + rng.integers(0, 2 * HOUR_MS, n), at)
    n_opens = rng.choice(3, size=n, p=[0.62, 0.27, 0.11]) + 1
    gaps = np.clip(_lognormal(rng, 3 * HOUR_MS, 1.2, 2 * n), 30_000, 48 * HOUR_MS).reshape(n, 2)
    times = np.concatenate(
        [at[:, None], at[:, None] + np.cumsum(gaps, axis=1).astype(np.int64)], axis=1
    )
    use = np.arange(3)[None, :] < n_opens[:, None]
    which = np.broadcast_to(np.arange(n)[:, None], (n, 3))[use]
    agent = readers.mail_agent[reader[which]].astype(np.int64)
    proxy = agent == vocab.MAIL_GMAIL_PROXY
    prefix = np.array(
        [(a << 24) | (b << 16) for a, b in vocab.GOOGLE_PROXY_PREFIXES], dtype=np.uint32
    )
    ip = np.where(
        proxy,
        prefix[rng.integers(len(prefix), size=len(which))]
        | rng.integers(0, 1 << 16, len(which)).astype(np.uint32),
        _reader_ip(rng, world, reader[which]),
    )
    opens = [_events(msg, o[which], OPEN, times[use], ua=agent, ip=ip)]

    # Clicks, a minute or so after the first open: the post itself (utm-tagged) or a link in it.
    clicker = rng.random(n) < nls.click_rate[nl] * (0.5 + readers.engagement[reader])
    c = np.flatnonzero(clicker)
    two = rng.random(len(c)) < 0.25
    first_click = at[c] + np.clip(
        _lognormal(rng, 50_000, 1.0, len(c)), 3000, 30 * MINUTE_MS
    ).astype(np.int64)
    second_click = first_click + np.clip(
        _lognormal(rng, 90_000, 0.9, len(c)), 5000, 20 * MINUTE_MS
    ).astype(np.int64)
    rows = np.concatenate([c, c[two]])
    click_at = np.concatenate([first_click, second_click[two]])
    is_post = np.concatenate([rng.random(len(c)) < 0.8, rng.random(int(two.sum())) < 0.4])
    message = o[rows]
    post = msg["post"][message]
    external = posts.links[post, rng.integers(0, 2, len(rows))]
    browser = readers.browser[reader[rows]].astype(np.int64)
    click_ip = _reader_ip(rng, world, reader[rows])
    clicks = [
        _events(
            msg,
            message,
            CLICK,
            click_at,
            ua=BROWSER_OFFSET + browser,
            ip=click_ip,
            kind=(~is_post).astype(np.int8),
            link=np.where(is_post, -1, external),
        )
    ]
    visits = _click_visits(world, rng, msg, message[is_post], click_at[is_post], number)
    return opens, clicks, [visits]


def _click_visits(
    world: World,
    rng: np.random.Generator,
    msg: Table,
    message: np.ndarray,
    click_at: np.ndarray,
    number: int,
) -> Table:
    """A click on the post opens it a second later, sometimes followed by a page or two more."""
    posts, readers = world.posts, world.readers
    seed = world.seed
    n = len(message)
    post = msg["post"][message].astype(np.int64)
    nl = posts.nl[post].astype(np.int64)
    reader = msg["reader"][message]
    gmail_web = (readers.mail_agent[reader] == vocab.MAIL_GMAIL_PROXY) & np.isin(
        readers.platform[reader], [vocab.PLATFORMS.index("windows"), vocab.PLATFORMS.index("mac")]
    )
    extra = rng.choice(3, size=n, p=[0.6, 0.25, 0.15])
    pages = extra + 1
    total = int(pages.sum())
    owner = np.repeat(np.arange(n), pages)
    step = np.arange(total) - np.repeat(np.cumsum(pages) - pages, pages)
    gaps = np.clip(_lognormal(rng, 45_000, 0.9, total), 3000, 20 * MINUTE_MS).astype(np.int64)
    gaps[step == 0] = rng.integers(300, 2500, int((step == 0).sum()))
    start = np.cumsum(gaps)
    group_start = np.repeat(start[np.cumsum(pages) - pages] - gaps[step == 0], pages)
    ms = click_at[owner] + (start - group_start)
    page = np.where(step == 0, post[owner], -1)
    nav = np.flatnonzero(step > 0)
    page[nav] = _other_pages(world, rng, nl[owner[nav]], day_start_ms(number))
    utm = (step == 0).astype(np.int8)
    prev_page = np.roll(page, 1)
    prev_utm = np.roll(utm, 1)
    key = msg["key"][message][owner]
    return {
        "ms": ms.astype(np.int64),
        "nl": nl[owner].astype(np.int32),
        "post": page.astype(np.int32),
        "utm": utm,
        "ref_kind": (step > 0).astype(np.int8),
        "ref_a": np.where(
            step > 0, nl[owner], np.where(gmail_web[owner], REFERRER_GMAIL, REFERRER_NONE)
        ).astype(np.int32),
        "ref_b": np.where(step > 0, prev_page, -1).astype(np.int32),
        "ref_utm": np.where(step > 0, prev_utm, 0).astype(np.int8),
        "ua": readers.browser[reader][owner].astype(np.int16),
        "visitor": visitor_key(seed, reader[owner], PHONE),
        "session": hash64(seed, int(Stream.EMAIL), key, 11),
        "id_hi": hash64(seed, int(Stream.EMAIL), key, owner, step, 12),
        "id_lo": hash64(seed, int(Stream.EMAIL), key, owner, step, 13),
    }


def _other_pages(
    world: World, rng: np.random.Generator, nl: np.ndarray, before_ms: int
) -> np.ndarray:
    """Internal navigation: a recent post of the same newsletter (or its home page, -1)."""
    out = np.full(len(nl), -1, dtype=np.int64)
    u = rng.random(len(nl))
    pick = rng.random(len(nl))
    for n in np.unique(nl):
        rows = np.flatnonzero(nl == n)
        recent = world.published_posts(int(n), before_ms)[-12:]
        if len(recent):
            chosen = recent[
                np.minimum((pick[rows] * len(recent)).astype(np.int64), len(recent) - 1)
            ]
            out[rows] = np.where(u[rows] < 0.7, chosen, -1)
    return out
