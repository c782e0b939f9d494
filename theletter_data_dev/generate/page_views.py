"""Page loads reported by theLetter's first-party beacon on one Japan-time day.

Traffic per newsletter follows its audience (active subscribers) with spikes after each post and
on viral days, arrives on the readers' daily rhythm, and comes from search, social networks,
other theLetter newsletters, blogs, direct visits and (via email_events) email clicks. Sessions
hold 1-4 page loads; readers keep one visitor id per device. Crawlers and scripts make up
5-9% of the hits with a new visitor id every time.
"""

from __future__ import annotations

import numpy as np

from . import vocab
from .clock import (
    DAY_MS,
    HOUR_MS,
    MINUTE_MS,
    Stream,
    day_rng,
    day_start_ms,
    diurnal_offsets,
    hash64,
)
from .columns import Table, concat
from .readers import COMPUTER, PHONE, visitor_key
from .world import REFERRER_NONE, World

PV_AGENTS = (*vocab.BROWSER_AGENTS, *(ua for ua, _ in vocab.BOT_AGENTS))
BOT_OFFSET = len(vocab.BROWSER_AGENTS)
_BOT_P = np.array([w for _, w in vocab.BOT_AGENTS]) / sum(w for _, w in vocab.BOT_AGENTS)
# How often each browser is seen among anonymous visitors (iPhone-heavy, like Japan).
_ANON_BROWSERS = np.repeat(
    np.arange(len(vocab.BROWSER_AGENTS)), [16, 10, 6, 4, 4, 9, 7, 4, 12, 5, 2, 5, 4, 2]
)

NO_UTM, EMAIL_UTM, X_UTM, FACEBOOK_UTM, LINE_UTM = range(5)
SEARCH, SOCIAL, OTHER_NEWSLETTER, DIRECT, BLOG = range(5)
_BACKGROUND_SOURCES = np.array([0.30, 0.15, 0.08, 0.37, 0.10])
_POST_SOURCES = np.array([0.10, 0.45, 0.10, 0.25, 0.10])


def simulate_page_views(world: World, number: int) -> Table:
    """Organic and bot page views of one day (email click-throughs come from the cascades)."""
    rng = day_rng(world.seed, number, Stream.PAGE_VIEWS)
    nls, posts, subs = world.newsletters, world.posts, world.subscriptions
    start = day_start_ms(number)
    end = start + DAY_MS
    n_nl = len(nls)
    active_rows = np.flatnonzero((subs.start_ms <= start) & (subs.end_ms > start))
    audience = np.bincount(subs.nl[active_rows], minlength=n_nl).astype(np.float64)
    viral = world.viral(number)
    exists = nls.created_ms < start

    # Background: the archive keeps being found and revisited.
    base = np.where(exists, (0.09 * audience + 2.0) * viral, 0.0)
    counts = rng.poisson(base)
    bg_nl = np.repeat(np.arange(n_nl), counts)
    bg_at = start + diurnal_offsets(rng, len(bg_nl))
    bg_post = _archive_pages(world, rng, bg_nl, start)

    # A new post: a burst of visits decaying over a day or two (social shares, search).
    recent = np.flatnonzero((posts.published_ms >= start - 2 * DAY_MS) & (posts.published_ms < end))
    pub = posts.published_ms[recent]
    tau = 5.0 * HOUR_MS
    lo = np.maximum(start - pub, 0) / tau
    hi = (end - pub) / tau
    share = np.exp(-lo) - np.exp(-hi)
    fame = np.exp(
        hash64(world.seed, int(Stream.POSTS), recent, 3).astype(np.float64) / 2**64 * 1.6 - 0.8
    )
    expected = (0.22 * audience[posts.nl[recent]] + 12.0) * fame * viral[posts.nl[recent]] * share
    per_post = rng.poisson(expected)
    p_post = np.repeat(recent, per_post)
    u = rng.random(len(p_post))
    lo_r, hi_r = np.repeat(lo, per_post), np.repeat(hi, per_post)
    x = -np.log(np.exp(-lo_r) - u * (np.exp(-lo_r) - np.exp(-hi_r)))  # truncated exponential
    p_at = np.repeat(pub, per_post) + (x * tau).astype(np.int64)
    p_at = np.clip(p_at, start, end - 1)

    landing_nl = np.concatenate([bg_nl, posts.nl[p_post]]).astype(np.int64)
    landing_post = np.concatenate([bg_post, p_post]).astype(np.int64)
    landing_at = np.concatenate([bg_at, p_at]).astype(np.int64)
    driven = np.concatenate([np.zeros(len(bg_nl), bool), np.ones(len(p_post), bool)])
    human = _sessions(
        world, rng, landing_nl, landing_post, landing_at, driven, active_rows, start, end
    )
    bots = _bots(world, rng, len(human["ms"]), start, end, exists)
    return concat([human, bots])


def _archive_pages(
    world: World, rng: np.random.Generator, nl: np.ndarray, before_ms: int
) -> np.ndarray:
    """A page of the newsletter: its home page, or a post, recent ones far more often."""
    out = np.full(len(nl), -1, dtype=np.int64)
    u = rng.random(len(nl))
    home = rng.random(len(nl)) < 0.15
    for n in np.unique(nl):
        rows = np.flatnonzero(nl == n)
        published = world.published_posts(int(n), before_ms)
        if not len(published):
            continue
        age_days = (before_ms - world.posts.published_ms[published]) / DAY_MS
        weights = np.cumsum((1.0 + age_days / 4.0) ** -1.6)
        chosen = published[
            np.minimum(np.searchsorted(weights, u[rows] * weights[-1]), len(published) - 1)
        ]
        out[rows] = np.where(home[rows], -1, chosen)
    return out


def _sessions(
    world: World,
    rng: np.random.Generator,
    nl: np.ndarray,
    post: np.ndarray,
    at: np.ndarray,
    driven: np.ndarray,
    active_rows: np.ndarray,
    start: int,
    end: int,
) -> Table:
    seed = world.seed
    subs, readers = world.subscriptions, world.readers
    n = len(nl)
    source = np.where(driven, _choice(rng, _POST_SOURCES, n), _choice(rng, _BACKGROUND_SOURCES, n))
    # Who: subscribers of the newsletter for direct and cross-newsletter visits, mostly
    # strangers from search, social and blogs.
    reader_share = np.where((source == DIRECT) | (source == OTHER_NEWSLETTER), 0.6, 0.2)
    as_reader = rng.random(n) < reader_share
    by_nl = active_rows[np.argsort(subs.nl[active_rows], kind="stable")]
    bounds = np.searchsorted(subs.nl[by_nl], np.arange(len(world.newsletters) + 1))
    size = bounds[nl + 1] - bounds[nl]
    as_reader &= size > 0
    pick = bounds[nl] + np.minimum((rng.random(n) * size).astype(np.int64), np.maximum(size - 1, 0))
    reader = np.full(n, -1, dtype=np.int64)
    reader[as_reader] = subs.reader[by_nl[pick[as_reader]]]
    known = np.maximum(reader, 0)
    # Some readers also visit from a computer: a second device, with its own visitor id.
    has_computer = hash64(seed, int(Stream.READER), known, 7) % np.uint64(100) < np.uint64(40)
    second_device = as_reader & has_computer & (rng.random(n) < 0.35)
    pool = max(5 * world.reader_target, 1000)
    anon = (pool * rng.random(n) ** 1.35).astype(np.int64)  # some strangers come back often
    visitor = np.where(
        as_reader,
        visitor_key(seed, known, np.where(second_device, COMPUTER, PHONE)),
        hash64(seed, int(Stream.PAGE_VIEWS), anon, 1),
    )
    lo, hi = vocab.PLATFORM_BROWSERS["windows"][0], vocab.PLATFORM_BROWSERS["mac"][1]
    computer_agent = lo + (hash64(seed, int(Stream.READER), known, 8) % np.uint64(hi - lo)).astype(
        np.int64
    )
    phone_agent = np.zeros(n, dtype=np.int64)
    phone_agent[as_reader] = readers.browser[reader[as_reader]]
    anon_pick = hash64(seed, int(Stream.PAGE_VIEWS), anon, 2) % np.uint64(len(_ANON_BROWSERS))
    agent = np.where(
        as_reader,
        np.where(second_device, computer_agent, phone_agent),
        _ANON_BROWSERS[anon_pick.astype(np.int64)],
    )

    # Where from.
    ref_kind = np.zeros(n, dtype=np.int8)
    ref_a = np.full(n, REFERRER_NONE, dtype=np.int64)
    ref_b = np.full(n, -1, dtype=np.int64)
    utm = np.zeros(n, dtype=np.int8)
    for group, code in (("search", SEARCH), ("social", SOCIAL), ("blog", BLOG)):
        rows = np.flatnonzero(source == code)
        indices, p = world.referrer_groups[group]
        ref_a[rows] = indices[_choice(rng, p, len(rows))]
    social = np.flatnonzero(source == SOCIAL)
    tagged = rng.random(len(social)) < 0.25
    utm[social[tagged]] = rng.choice(
        [X_UTM, FACEBOOK_UTM, LINE_UTM], size=int(tagged.sum()), p=[0.6, 0.15, 0.25]
    )
    direct = np.flatnonzero(source == DIRECT)
    utm[direct[rng.random(len(direct)) < 0.06]] = LINE_UTM  # shared in LINE chats: no referrer
    others = np.flatnonzero(source == OTHER_NEWSLETTER)
    other_nl = _other_newsletters(world, rng, nl[others], start)
    ref_kind[others] = np.where(other_nl >= 0, 1, 0)
    ref_a[others] = np.where(other_nl >= 0, other_nl, REFERRER_NONE)
    ref_b[others] = np.where(
        other_nl >= 0, _archive_pages(world, rng, np.maximum(other_nl, 0), start), -1
    )

    # 1-4 pages per session, less than 30 minutes apart; pages past midnight are not generated.
    pages = _choice(rng, np.array([0.55, 0.25, 0.12, 0.08]), n) + 1
    total = int(pages.sum())
    owner = np.repeat(np.arange(n), pages)
    first_row = np.cumsum(pages) - pages
    step = np.arange(total) - np.repeat(first_row, pages)
    gaps = np.clip(np.exp(rng.normal(np.log(45_000), 0.9, total)), 3000, 25 * MINUTE_MS).astype(
        np.int64
    )
    gaps[first_row] = 0
    offset = np.cumsum(gaps)
    offset -= np.repeat(offset[first_row], pages)
    page = np.where(step == 0, post[owner], -1)
    nav = np.flatnonzero(step > 0)
    page[nav] = np.where(
        rng.random(len(nav)) < 0.7, _archive_pages(world, rng, nl[owner[nav]], start), -1
    )
    page_utm = np.where(step == 0, utm[owner], NO_UTM).astype(np.int8)
    prev = np.roll(np.arange(total), 1)
    session = rng.integers(0, 2**63, n, dtype=np.int64).astype(np.uint64)
    rows = {
        "ms": at[owner] + offset,
        "nl": nl[owner].astype(np.int32),
        "post": page.astype(np.int32),
        "utm": page_utm,
        "ref_kind": np.where(step == 0, ref_kind[owner], 1).astype(np.int8),
        "ref_a": np.where(step == 0, ref_a[owner], nl[owner]).astype(np.int32),
        "ref_b": np.where(step == 0, ref_b[owner], page[prev]).astype(np.int32),
        "ref_utm": np.where(step == 0, NO_UTM, page_utm[prev]).astype(np.int8),
        "ua": agent[owner].astype(np.int16),
        "visitor": visitor[owner],
        "session": session[owner],
        "id_hi": rng.integers(0, 2**63, total, dtype=np.int64).astype(np.uint64) * np.uint64(2),
        "id_lo": rng.integers(0, 2**63, total, dtype=np.int64).astype(np.uint64) * np.uint64(3),
    }
    keep = rows["ms"] < end
    return {k: v[keep] for k, v in rows.items()}


def _other_newsletters(
    world: World, rng: np.random.Generator, nl: np.ndarray, before_ms: int
) -> np.ndarray:
    """Another theLetter newsletter recommending this one (popular ones recommend more)."""
    nls = world.newsletters
    exists = np.flatnonzero(nls.created_ms < before_ms)
    if len(exists) < 2:
        return np.full(len(nl), -1, dtype=np.int64)
    cum = np.cumsum(nls.weight[exists])
    chosen = exists[
        np.minimum(np.searchsorted(cum, rng.random(len(nl)) * cum[-1]), len(exists) - 1)
    ]
    return np.where(chosen == nl, -1, chosen)


def _bots(
    world: World, rng: np.random.Generator, humans: int, start: int, end: int, exists: np.ndarray
) -> Table:
    share = rng.uniform(0.05, 0.09)
    n = int(rng.poisson(humans * share / (1.0 - share)))
    candidates = np.flatnonzero(exists)
    if n == 0 or not len(candidates):
        return {}
    archive = np.array(
        [len(world.published_posts(int(c), start)) for c in candidates], dtype=np.float64
    )
    cum = np.cumsum(archive + 3.0)
    nl = candidates[np.minimum(np.searchsorted(cum, rng.random(n) * cum[-1]), len(candidates) - 1)]
    post = np.full(n, -1, dtype=np.int64)
    u = rng.random(n)
    for c in np.unique(nl):
        rows = np.flatnonzero(nl == c)
        published = world.published_posts(int(c), start)
        if len(published):
            chosen = published[
                np.minimum((u[rows] * len(published)).astype(np.int64), len(published) - 1)
            ]
            post[rows] = np.where(rng.random(len(rows)) < 0.75, chosen, -1)
    zeros = np.zeros(n, dtype=np.int8)
    return {
        "ms": np.sort(start + rng.integers(0, end - start, n)),
        "nl": nl.astype(np.int32),
        "post": post.astype(np.int32),
        "utm": zeros,
        "ref_kind": zeros,
        "ref_a": np.full(n, REFERRER_NONE, dtype=np.int32),
        "ref_b": np.full(n, -1, dtype=np.int32),
        "ref_utm": zeros,
        "ua": (BOT_OFFSET + _choice(rng, _BOT_P, n)).astype(np.int16),
        "visitor": rng.integers(0, 2**63, n, dtype=np.int64).astype(np.uint64),
        "session": rng.integers(0, 2**63, n, dtype=np.int64).astype(np.uint64),
        "id_hi": rng.integers(0, 2**63, n, dtype=np.int64).astype(np.uint64) * np.uint64(2),
        "id_lo": rng.integers(0, 2**63, n, dtype=np.int64).astype(np.uint64) * np.uint64(3),
    }


def _choice(rng: np.random.Generator, p: np.ndarray, n: int) -> np.ndarray:
    return np.minimum(np.searchsorted(np.cumsum(p), rng.random(n) * p.sum()), len(p) - 1)
