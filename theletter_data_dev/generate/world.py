"""The simulated theLetter: newsletters, posts, readers and subscriptions since launch.

The history is built forward from the launch date (2024-10-01), one Japan-time day at a time, with
per-day random streams, and entity attributes from counter-based hashes. Nothing that happens on
a day depends on anything later, so the state at the end of any day is the same whether the world
was built up to that day or a year beyond it: this is what makes a day's output independent of
the requested range.

`newsletters` is the number of newsletters (all created before 2025-01-01, the first day the
generator writes); `readers` is the number of readers signed up by 2025-01-01. Sign-ups continue
afterwards at a slowing pace, and subscriptions end by unsubscribing (most often right after a
send) and sometimes start again as new rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import numpy as np

from .clock import NEVER, day_number, day_start_ms
from .links import REFERRER_GMAIL, REFERRER_NONE, external_links, referrers
from .newsletters import Newsletters, build_newsletters, viral_multipliers
from .posts import DRAFT_LEAD_DAYS, Posts, Sends, build_posts
from .readers import Readers, build_readers
from .subscriptions import Subscriptions, build_subscriptions

__all__ = ["REFERRER_GMAIL", "REFERRER_NONE", "World", "build_world"]


@dataclass
class World:
    seed: int
    reader_target: int
    """The `readers` parameter (fixed, unlike the number of readers simulated so far)."""
    until: int
    """The last day number simulated (posts are known up to DRAFT_LEAD_DAYS later)."""
    newsletters: Newsletters
    posts: Posts
    readers: Readers
    subscriptions: Subscriptions
    external_links: list[str]
    referrers: list[str]
    referrer_groups: dict[str, tuple[np.ndarray, np.ndarray]]
    """group -> (indices into `referrers`, sampling probabilities)."""
    post_by_nl: np.ndarray
    """Published posts ordered by (newsletter, published time)."""
    post_nl_bounds: np.ndarray

    def published_posts(self, nl: int, before_ms: int) -> np.ndarray:
        rows = self.post_by_nl[self.post_nl_bounds[nl] : self.post_nl_bounds[nl + 1]]
        return rows[self.posts.published_ms[rows] < before_ms]

    def viral(self, number: int) -> np.ndarray:
        return viral_multipliers(self.seed, len(self.newsletters), number)


def build_world(seed: int, newsletters: int, readers: int, until: date) -> World:
    """Simulate theLetter from launch to the end of `until` (Japan time)."""
    until_n = day_number(until)
    nls = build_newsletters(seed, newsletters, until_n)
    links = external_links(seed)
    posts = build_posts(seed, nls, until_n + DRAFT_LEAD_DAYS, len(links))
    sends = Sends(posts, len(nls))
    rdrs, first = build_readers(seed, nls, posts, readers, until_n)
    subs = build_subscriptions(seed, nls, rdrs, first, sends, day_start_ms(until_n + 1))
    urls, groups = referrers(seed)
    published = np.flatnonzero(posts.published_ms != NEVER)
    order = published[np.lexsort((posts.published_ms[published], posts.nl[published]))]
    bounds = np.searchsorted(posts.nl[order], np.arange(len(nls) + 1))
    return World(seed, readers, until_n, nls, posts, rdrs, subs, links, urls, groups, order, bounds)
