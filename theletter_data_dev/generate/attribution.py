"""Where each subscription was signed up, as the app records it (docs/lake-layout.md): the page
of the newsletter's site whose form the reader used and the referrer of that visit.

Shares, roughly as small publishers see them in Ghost's and Substack's attribution reports:
about 3% of subscriptions are imported by their author (no page, no referrer); of the others,
a post's page brings most while the newsletter has a post out in the last two days (65%), and
about 30% otherwise; about 7% sign up on another page (about, archive); the rest on the home
page. The visit came from social networks, search, other newsletters on theLetter, blogs,
webmail (a forwarded email) or directly; a post's page gets more of social, the home page more of
direct and search. Everything comes from hashes of the subscription's number, so a
subscription's attribution never changes between snapshots.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from . import text
from .clock import DAY_MS, Stream, hash64, hash_uniform
from .world import REFERRER_GMAIL, World

IMPORTED_SHARE = 0.03
PAGE_SHARE = 0.07
POST_SHARE_AFTER_A_POST, POST_SHARE = 0.65, 0.30
RECENT_POST_MS = 2 * DAY_MS
_SOURCES = ("post", "home", "page", "import")
POST, HOME, PAGE, IMPORT = range(4)
DIRECT, SEARCH, SOCIAL, OTHER_NEWSLETTER, BLOG, WEBMAIL = range(6)
# Where the visit came from, for a signup on a post's page / on another page.
_FROM_POST = np.array([0.22, 0.14, 0.38, 0.12, 0.09, 0.05])
_FROM_ELSEWHERE = np.array([0.40, 0.25, 0.15, 0.10, 0.06, 0.04])
_EARLIER_POSTS = 8
"""A post signup that is not on the newest post is on one of the newsletter's 8 before it."""


def signup_attribution(world: World, rows: np.ndarray) -> dict[str, pa.Array]:
    """`signup_source`, `signup_post_id` and `signup_referrer` of subscriptions `rows`."""
    subs, posts, nls = world.subscriptions, world.posts, world.newsletters
    n = len(rows)
    s = int(Stream.SUBSCRIPTIONS)

    def u(k: int) -> np.ndarray:
        return hash_uniform(world.seed, s, rows, 0x40 + k)

    nl, start = subs.nl[rows], subs.start_ms[rows]
    # The newsletter's posts published before the signup: world.post_by_nl is ordered by
    # (newsletter, published time), so one sorted key finds the newest of each.
    order = world.post_by_nl
    keys = (posts.nl[order].astype(np.int64) << 42) + posts.published_ms[order]
    newest_at = np.searchsorted(keys, (nl.astype(np.int64) << 42) + start, side="left") - 1
    count = newest_at - world.post_nl_bounds[nl] + 1
    newest = np.where(count > 0, order[np.maximum(newest_at, 0)], -1)
    back = (u(1) * np.minimum(np.maximum(count, 1), _EARLIER_POSTS + 1)).astype(np.int64)
    earlier = np.where(count > 0, order[np.maximum(newest_at - back, 0)], -1)
    has_post = newest >= 0
    recent = has_post & (start - posts.published_ms[np.maximum(newest, 0)] < RECENT_POST_MS)
    post_share = np.where(recent, POST_SHARE_AFTER_A_POST, np.where(has_post, POST_SHARE, 0.0))
    draw = u(2)
    web = draw >= IMPORTED_SHARE
    on_post = web & (u(3) < post_share)
    on_page = web & ~on_post & (u(4) < PAGE_SHARE / (1 - POST_SHARE))
    source = np.where(~web, IMPORT, np.where(on_post, POST, np.where(on_page, PAGE, HOME)))
    post = np.where(on_post, np.where(recent & (u(5) < 0.8), newest, earlier), -1)

    came_from = np.where(
        on_post,
        np.searchsorted(np.cumsum(_FROM_POST), u(6) * _FROM_POST.sum(), side="right"),
        np.searchsorted(np.cumsum(_FROM_ELSEWHERE), u(6) * _FROM_ELSEWHERE.sum(), side="right"),
    )
    came_from = np.where(web, came_from, DIRECT)
    referrer = np.full(n, -1, dtype=np.int64)
    for group, code in (("search", SEARCH), ("social", SOCIAL), ("blog", BLOG)):
        picked = np.flatnonzero(came_from == code)
        indices, p = world.referrer_groups[group]
        cumulative = np.cumsum(p)
        at = np.searchsorted(cumulative, u(7)[picked] * cumulative[-1], side="right")
        referrer[picked] = indices[np.minimum(at, len(indices) - 1)]
    referrer[came_from == WEBMAIL] = REFERRER_GMAIL
    urls = text.vocabulary(world.referrers)
    referrer_url = urls.take(pa.array(np.maximum(referrer, 0), mask=referrer < 0))
    # Another newsletter on theLetter: its home page.
    others = came_from == OTHER_NEWSLETTER
    other = (hash64(world.seed, s, rows, 0x48) % np.uint64(len(nls))).astype(np.int64)
    other = np.where(other == nl, (other + 1) % len(nls), other)
    other_url = text.join(
        "https://", text.take(text.vocabulary(nls.slugs), other), ".theletter.jp/"
    )
    referrer_url = text.choose(others, other_url, referrer_url)
    post_ids = text.vocabulary(posts.ids)
    return {
        "signup_source": text.take(text.vocabulary(_SOURCES), source),
        "signup_post_id": post_ids.take(pa.array(np.maximum(post, 0), mask=post < 0)),
        "signup_referrer": referrer_url,
    }
