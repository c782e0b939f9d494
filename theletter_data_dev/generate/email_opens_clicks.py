"""People reading an email: human opens over the following days, clicks, and the visits they cause.

A reader opens with a chance from their engagement and the newsletter's quality, one to three
times; some click the post (a page view on the website, sometimes followed by a page or two
more) or one of its external links.
"""

from __future__ import annotations

import numpy as np

from . import vocab
from .clock import DAY_MS, HOUR_MS, MINUTE_MS, Stream, day_start_ms, hash64
from .columns import Table
from .email_event_rows import BROWSER_OFFSET, CLICK, OPEN, event_rows, lognormal
from .readers import PHONE, visitor_key
from .world import REFERRER_GMAIL, REFERRER_NONE, World


def _reader_ip(rng: np.random.Generator, world: World, reader: np.ndarray) -> np.ndarray:
    return world.readers.isp[reader] | rng.integers(0, 1 << 16, len(reader)).astype(np.uint32)


def human_opens(
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
            lognormal(rng, 4 * HOUR_MS, 0.8, n),
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
    gaps = np.clip(lognormal(rng, 3 * HOUR_MS, 1.2, 2 * n), 30_000, 48 * HOUR_MS).reshape(n, 2)
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
    opens = [event_rows(msg, o[which], OPEN, times[use], ua=agent, ip=ip)]

    # Clicks, a minute or so after the first open: the post itself (utm-tagged) or a link in it.
    clicker = rng.random(n) < nls.click_rate[nl] * (0.5 + readers.engagement[reader])
    c = np.flatnonzero(clicker)
    two = rng.random(len(c)) < 0.25
    first_click = at[c] + np.clip(lognormal(rng, 50_000, 1.0, len(c)), 3000, 30 * MINUTE_MS).astype(
        np.int64
    )
    second_click = first_click + np.clip(
        lognormal(rng, 90_000, 0.9, len(c)), 5000, 20 * MINUTE_MS
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
        event_rows(
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
    gaps = np.clip(lognormal(rng, 45_000, 0.9, total), 3000, 20 * MINUTE_MS).astype(np.int64)
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
