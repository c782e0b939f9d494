"""Posts: what each newsletter publishes, when, whether it is emailed, and the drafts before.

Posts are decided per publication day from that day's random stream (so a day's posts never
depend on later days) and drafted up to DRAFT_LEAD_DAYS before they go out; a few drafts are
abandoned. `Sends` indexes the emailed posts, so that a subscription can find "the k-th email
after t" (when it ends, when an invalid address first bounces).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import vocab
from .clock import (
    HOUR_MS,
    LAUNCH,
    MINUTE_MS,
    NEVER,
    Stream,
    day_number,
    day_of,
    day_rng,
    day_start_ms,
    diurnal_offsets,
    hash64,
)
from .newsletters import Newsletters

DRAFT_LEAD_DAYS = 3
"""Posts are drafted at most this many days before they are published."""
_BIG = np.int64(1) << np.int64(41)  # instants stay below 2**41 ms (year 2039)


@dataclass
class Posts:
    ids: list[str]
    nl: np.ndarray
    titles: list[str]
    created_ms: np.ndarray
    draft_edit_ms: np.ndarray
    published_ms: np.ndarray
    """NEVER for drafts that are never published."""
    post_edit_ms: np.ndarray
    emailed: np.ndarray
    links: np.ndarray
    """(n, 2) indices of the external links each post carries."""

    def __len__(self) -> int:
        return len(self.ids)


def _posting_probability(nls: Newsletters, number: int, start_ms: int) -> np.ndarray:
    """Chance that each newsletter publishes on day `number`, from its cadence."""
    weekday = day_of(number).weekday()
    week = (number + 3) // 7  # Monday-based week count
    names = [c for c, _ in vocab.CADENCES]
    cadence = nls.cadence
    p = np.zeros(len(nls))
    weekend = weekday >= 5
    p[cadence == names.index("daily")] = 0.35 if weekend else 0.9
    p[cadence == names.index("twice_weekly")] = 0.18 if weekend else 0.44
    weekly = cadence == names.index("weekly")
    p[weekly] = np.where(nls.weekday[weekly] == weekday, 0.93, 0.015)
    biweekly = cadence == names.index("biweekly")
    p[biweekly] = np.where(
        (nls.weekday[biweekly] == weekday) & (nls.parity[biweekly] == week % 2), 0.9, 0.01
    )
    p[cadence == names.index("irregular")] = 0.09
    dormant = cadence == names.index("dormant")
    p[dormant] = np.where(nls.stop_ms[dormant] > start_ms, 0.2, 0.004)
    return p


def _publish_offsets(rng: np.random.Generator, slots: np.ndarray) -> np.ndarray:
    """Time of day of publication: the 7-9 am commute, the 6-10 pm evening, or around lunch."""
    n = len(slots)
    morning = 7 * HOUR_MS + np.clip(rng.normal(65, 25, n), 10, 150) * MINUTE_MS
    evening = 18 * HOUR_MS + rng.triangular(0, 160, 240, n) * MINUTE_MS
    midday = 11 * HOUR_MS + 30 * MINUTE_MS + rng.uniform(0, 100, n) * MINUTE_MS
    anytime = 8 * HOUR_MS + rng.uniform(0, 15 * 60, n) * MINUTE_MS
    chosen = np.choose(slots, [morning, evening, midday])
    return np.where(rng.random(n) < 0.85, chosen, anytime).astype(np.int64)


def build_posts(seed: int, nls: Newsletters, last_publish_day: int, n_links: int) -> Posts:
    """Every post published up to `last_publish_day` and every draft begun before, ids in
    creation order (so a post's id never depends on later days)."""
    columns: dict[str, list[np.ndarray]] = {
        k: [] for k in ("nl", "created", "draft_edit", "published", "post_edit", "emailed")
    }
    titles: list[str] = []
    issue = np.zeros(len(nls), dtype=np.int64)
    first_day = day_number(LAUNCH)
    for number in range(first_day, last_publish_day + 1):
        start = day_start_ms(number)
        rng = day_rng(seed, number, Stream.POSTS)
        posting = (rng.random(len(nls)) < _posting_probability(nls, number, start)) & (
            nls.created_ms < start
        )
        nl = np.flatnonzero(posting)
        published = start + _publish_offsets(rng, nls.slot[nl])
        lag = np.clip(
            np.exp(rng.normal(np.log(18 * HOUR_MS), 0.9, len(nl))),
            10 * MINUTE_MS,
            (DRAFT_LEAD_DAYS * 24 - 1) * HOUR_MS,
        ).astype(np.int64)
        created = np.maximum(published - lag, nls.created_ms[nl] + MINUTE_MS)
        draft_edit = created + ((published - created) * rng.uniform(0.3, 0.95, len(nl))).astype(
            np.int64
        )
        edited = rng.random(len(nl)) < 0.12
        post_edit = np.where(
            edited,
            published
            + np.clip(
                np.exp(rng.normal(np.log(2 * HOUR_MS), 1.0, len(nl))), MINUTE_MS, 48 * HOUR_MS
            ).astype(np.int64),
            NEVER,
        )
        emailed = rng.random(len(nl)) < nls.email_share[nl]
        issue[nl] += 1
        titles.extend(_titles(rng, nls, nl, issue[nl], number))
        for key, value in zip(
            columns, (nl, created, draft_edit, published, post_edit, emailed), strict=True
        ):
            columns[key].append(value)
        if number > last_publish_day - DRAFT_LEAD_DAYS:
            continue
        # Drafts that are started and never published.
        drng = day_rng(seed, number, Stream.DRAFTS)
        nl = np.flatnonzero((drng.random(len(nls)) < 0.012) & (nls.created_ms < start))
        created = start + diurnal_offsets(drng, len(nl))
        draft_edit = created + (drng.uniform(0, 36, len(nl)) * HOUR_MS).astype(np.int64)
        titles.extend(_titles(drng, nls, nl, issue[nl] + 1, number))
        never = np.full(len(nl), NEVER, dtype=np.int64)
        for key, value in zip(
            columns, (nl, created, draft_edit, never, never, np.zeros(len(nl), bool)), strict=True
        ):
            columns[key].append(value)
    data = {k: np.concatenate(v) for k, v in columns.items()}
    order = np.argsort(data["created"], kind="stable")
    data = {k: v[order] for k, v in data.items()}
    n = len(order)
    links = (
        hash64(seed, int(Stream.POSTS), np.arange(n)[:, None], np.arange(2)[None, :])
        % np.uint64(n_links)
    ).astype(np.int64)
    return Posts(
        ids=[f"po_{i + 1:07d}" for i in range(n)],
        nl=data["nl"].astype(np.int32),
        titles=[titles[i] for i in order],
        created_ms=data["created"].astype(np.int64),
        draft_edit_ms=data["draft_edit"].astype(np.int64),
        published_ms=data["published"].astype(np.int64),
        post_edit_ms=data["post_edit"].astype(np.int64),
        emailed=data["emailed"].astype(bool),
        links=links,
    )


def _titles(
    rng: np.random.Generator,
    nls: Newsletters,
    nl: np.ndarray,
    issue: np.ndarray,
    number: int,
) -> list[str]:
    month = day_of(number).month
    out = []
    templates = rng.integers(len(vocab.TITLE_TEMPLATES), size=len(nl))
    phrases = rng.integers(len(vocab.TITLE_PHRASES), size=len(nl))
    places = rng.integers(len(vocab.PLACES), size=len(nl))
    counts = rng.integers(3, 11, size=len(nl))
    for i, n in enumerate(nl):
        topic = nls.topics[n]
        out.append(
            vocab.TITLE_TEMPLATES[templates[i]].format(
                n=int(issue[i]),
                topic=topic,
                phrase=vocab.TITLE_PHRASES[phrases[i]],
                place=vocab.PLACES[places[i]][2],
                k=int(counts[i]),
                month=month,
            )
        )
    return out


class Sends:
    """Emailed posts ordered by (newsletter, send time), to find "the k-th send after t"."""

    def __init__(self, posts: Posts, n_newsletters: int) -> None:
        rows = np.flatnonzero(posts.emailed & (posts.published_ms != NEVER))
        key = posts.nl[rows].astype(np.int64) * _BIG + posts.published_ms[rows]
        order = np.argsort(key, kind="stable")
        self.post = rows[order]
        self.key = key[order]
        self.ms = posts.published_ms[self.post]
        self.nl_end = np.searchsorted(self.key, (np.arange(n_newsletters) + 1) * _BIG)

    def after(self, nl: np.ndarray, at_ms: np.ndarray, k: np.ndarray) -> np.ndarray:
        """Index of the k-th send (k >= 1) of each newsletter strictly after `at_ms`, or -1."""
        if len(self.key) == 0 or len(nl) == 0:
            return np.full(len(nl), -1, dtype=np.int64)
        first = np.searchsorted(self.key, nl.astype(np.int64) * _BIG + at_ms, side="right")
        end = self.nl_end[nl]
        idx = first + np.minimum(k, 1 << 40) - 1
        return np.where(idx < end, idx, -1)
