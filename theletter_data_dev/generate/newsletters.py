"""Newsletters: who publishes, how popular, how often, in which time slot, paid or free.

Newsletters are all created between launch (2024-10-01) and 2025-01-01, with heavy-tailed
popularity, a posting cadence and a preferred time slot; their settings edits follow a renewal
process drawn from hashes. Split from the posts (`posts`) because a newsletter is decided once,
from one random stream, while posts are decided day by day.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import vocab
from .clock import (
    DAY_MS,
    FIRST_DAY,
    HOUR_MS,
    LAUNCH,
    NEVER,
    Stream,
    day_number,
    day_rng,
    day_start_ms,
    hash_uniform,
)


@dataclass
class Newsletters:
    ids: list[str]
    slugs: list[str]
    names: list[str]
    categories: list[str]
    topics: list[str]
    authors: list[str]
    created_ms: np.ndarray
    weight: np.ndarray
    """Popularity: heavy-tailed, decides sign-ups, page views and subscriber counts."""
    cadence: np.ndarray
    weekday: np.ndarray
    parity: np.ndarray
    slot: np.ndarray
    stop_ms: np.ndarray
    """Dormant newsletters post regularly until this instant, then almost never."""
    open_rate: np.ndarray
    click_rate: np.ndarray
    email_share: np.ndarray
    paid: np.ndarray
    edit_nl: np.ndarray
    edit_ms: np.ndarray

    def __len__(self) -> int:
        return len(self.ids)


def viral_multipliers(seed: int, n: int, number: int) -> np.ndarray:
    """A newsletter occasionally goes viral for a day (a post shared widely)."""
    rng = day_rng(seed, number, Stream.VIRAL)
    hit = rng.random(n) < 0.004
    return np.where(hit, rng.uniform(4.0, 15.0, n), 1.0)


def build_newsletters(seed: int, n: int, until_n: int) -> Newsletters:
    """`n` newsletters, ids in creation order; a quarter are launch partners (bigger, earlier)."""
    rng = np.random.default_rng([seed, n, int(Stream.NEWSLETTERS)])
    launch = day_start_ms(day_number(LAUNCH))
    first = day_start_ms(day_number(FIRST_DAY))
    partner = rng.random(n) < 0.25
    created = np.where(
        partner,
        launch + rng.integers(8 * HOUR_MS, 3 * DAY_MS, n),
        rng.integers(launch + DAY_MS, first - DAY_MS, n),
    )
    order = np.argsort(created, kind="stable")
    created, partner = created[order], partner[order]
    weight = rng.lognormal(0.0, 1.35, n) * np.where(partner, 2.0, 1.0)
    cadence_names = [c for c, _ in vocab.CADENCES]
    cadence = rng.choice(len(cadence_names), size=n, p=[s for _, s in vocab.CADENCES])
    dormant = cadence == cadence_names.index("dormant")
    stop = np.where(dormant, created + (rng.exponential(25.0, n) * DAY_MS).astype(np.int64), NEVER)
    slugs, names, categories, topics = _names(rng, n)
    author_numbers = np.arange(1, n + 1)
    shared = np.flatnonzero(rng.random(n) < 0.05)
    shared = shared[shared > 0]
    author_numbers[shared] = 1 + (rng.random(len(shared)) * shared).astype(np.int64)
    edit_nl, edit_ms = _renewals(
        seed, Stream.NEWSLETTERS, created, 45 * DAY_MS, day_start_ms(until_n + 1)
    )
    return Newsletters(
        ids=[f"nl_{i + 1:05d}" for i in range(n)],
        slugs=slugs,
        names=names,
        categories=categories,
        topics=topics,
        authors=[f"au_{int(a):05d}" for a in author_numbers],
        created_ms=created.astype(np.int64),
        weight=weight,
        cadence=cadence.astype(np.int8),
        weekday=rng.integers(0, 7, n).astype(np.int8),
        parity=rng.integers(0, 2, n).astype(np.int8),
        slot=rng.choice(3, size=n, p=[0.4, 0.45, 0.15]).astype(np.int8),
        stop_ms=stop.astype(np.int64),
        open_rate=rng.uniform(0.28, 0.52, n),
        click_rate=rng.uniform(0.08, 0.22, n),
        email_share=rng.uniform(0.82, 0.99, n),
        paid=rng.random(n) < 0.35,
        edit_nl=edit_nl,
        edit_ms=edit_ms,
    )


def _names(rng: np.random.Generator, n: int) -> tuple[list[str], list[str], list[str], list[str]]:
    slugs: list[str] = []
    names: list[str] = []
    categories: list[str] = []
    topics: list[str] = []
    seen: set[str] = set()
    while len(slugs) < n:
        tslug, ten, tja, category = vocab.TOPICS[rng.integers(len(vocab.TOPICS))]
        sslug, sen, sja = vocab.SUFFIXES[rng.integers(len(vocab.SUFFIXES))]
        pslug, pen, pja = vocab.PLACES[rng.integers(len(vocab.PLACES))]
        family = vocab.FAMILY_NAMES[rng.integers(len(vocab.FAMILY_NAMES))]
        japanese = rng.random() < 0.45
        pattern = rng.choice(3, p=[0.45, 0.3, 0.25])
        if pattern == 0:
            slug, name = (
                f"{pslug}-{tslug}-{sslug}",
                (pja + tja + sja if japanese else f"{pen} {ten} {sen}"),
            )
        elif pattern == 1:
            slug, name = f"{tslug}-{sslug}", (tja + sja if japanese else f"{ten} {sen}")
        else:
            slug, name = f"{family}-{tslug}-{sslug}", f"{family.title()}'s {ten} {sen}"
        if slug in seen:
            slug = f"{slug}-{len(slugs) + 1}"
        seen.add(slug)
        slugs.append(slug)
        names.append(name)
        categories.append(category)
        topics.append(tja)
    return slugs, names, categories, topics


def _renewals(
    seed: int, stream: Stream, start: np.ndarray, mean_gap_ms: int, horizon_ms: int
) -> tuple[np.ndarray, np.ndarray]:
    """Instants of a renewal process per entity (settings edits), from hashes: no range effect."""
    owners, instants = [], []
    current = start.astype(np.float64)
    alive = np.arange(len(start))
    k = 0
    while len(alive):
        gap = -np.log(1.0 - hash_uniform(seed, int(stream), alive, k)) * mean_gap_ms
        current = current + gap
        keep = current < horizon_ms
        alive, current = alive[keep], current[keep]
        owners.append(alive)
        instants.append(current.astype(np.int64))
        k += 1
    return np.concatenate(owners), np.concatenate(instants)
