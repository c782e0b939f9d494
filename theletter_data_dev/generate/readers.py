"""Readers: who signs up when (since launch), and the devices and address each one has.

Sign-ups are drawn per day (more for newsletters that posted or went viral that day), each with
the subscriptions the reader intends: the newsletter that brought them, then 0-4 more, which
`subscriptions` turns into rows. A reader's traits come from `reader_traits`, their address
from `reader_emails`; `visitor_key` is the cookie each of their devices carries on the website.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from . import text, vocab
from .clock import (
    DAY_MS,
    FIRST_DAY,
    HOUR_MS,
    LAUNCH,
    NEVER,
    Stream,
    day_number,
    day_numbers,
    day_rng,
    day_start_ms,
    diurnal_offsets,
    hash64,
)
from .newsletters import Newsletters, viral_multipliers
from .posts import Posts
from .reader_emails import reader_emails
from .reader_traits import reader_traits

SIGNUP_RAMP_DAYS = (FIRST_DAY - LAUNCH).days
"""`readers` sign up over this many days (launch to 2025-01-01); sign-ups then slow down."""
PHONE, COMPUTER = 0, 1
"""Devices a reader browses on; each keeps its own anonymous visitor cookie."""


@dataclass
class Readers:
    ids: pa.StringArray
    join_ms: np.ndarray
    emails: pa.StringArray
    group: np.ndarray
    invalid: np.ndarray
    engagement: np.ndarray
    platform: np.ndarray
    mail_agent: np.ndarray
    mpp: np.ndarray
    """Reads in Apple Mail with Mail Privacy Protection: every delivery gets a machine open."""
    isp: np.ndarray
    browser: np.ndarray
    first_bounce_ms: np.ndarray
    """For invalid addresses: the first send, which bounces as General; later ones Suppressed."""

    def __len__(self) -> int:
        return len(self.join_ms)


def _signup_shape(days_since_launch: np.ndarray) -> np.ndarray:
    k = days_since_launch.astype(np.float64)
    base = 1.0 + 4.0 * np.exp(-k / 7.0)
    return base * np.where(k < SIGNUP_RAMP_DAYS, 1.0, np.sqrt(SIGNUP_RAMP_DAYS / np.maximum(k, 1)))


def build_readers(
    seed: int, nls: Newsletters, posts: Posts, total: int, until_n: int
) -> tuple[Readers, dict[str, np.ndarray]]:
    """Everyone who signed up from launch to day `until_n`, in sign-up order (their ids), and
    the subscriptions each one intends: the newsletter that brought them, then 0-4 more."""
    launch_n = day_number(LAUNCH)
    norm = _signup_shape(np.arange(SIGNUP_RAMP_DAYS)).sum()
    published = posts.published_ms != NEVER
    published_day = np.where(published, day_numbers(np.where(published, posts.published_ms, 0)), -1)
    domain_share = np.array([s for _, s, _ in vocab.MAIL_DOMAINS])
    domain_share = domain_share / domain_share.sum()
    parts: dict[str, list[np.ndarray]] = {}

    def add(**cols: np.ndarray) -> None:
        for k, v in cols.items():
            parts.setdefault(k, []).append(v)

    for number in range(launch_n, until_n + 1):
        start = day_start_ms(number)
        eligible = np.flatnonzero(nls.created_ms < start)
        rng = day_rng(seed, number, Stream.JOINS)
        expected = total * _signup_shape(np.array([number - launch_n]))[0] / norm
        if not len(eligible):
            continue
        count = int(rng.poisson(expected))
        todays = published_day == number
        first_pub = np.full(len(nls), NEVER, dtype=np.int64)
        np.minimum.at(first_pub, posts.nl[todays], posts.published_ms[todays])
        posted = first_pub[eligible] != NEVER
        w = (
            nls.weight[eligible]
            * (1.0 + 1.5 * posted)
            * viral_multipliers(seed, len(nls), number)[eligible]
        )
        first = eligible[_weighted(rng, w, count)]
        at = start + diurnal_offsets(rng, count)
        # Many of a post day's sign-ups come in the hours after the post (shared, forwarded).
        posted_first = first_pub[first]
        after_post = np.where(posted_first == NEVER, start, posted_first) + (
            rng.exponential(3.0, count) * HOUR_MS
        ).astype(np.int64)
        drawn_by_post = (
            (posted_first != NEVER) & (rng.random(count) < 0.6) & (after_post < start + DAY_MS)
        )
        at = np.where(drawn_by_post, after_post, at)
        n_subs = rng.choice(5, size=count, p=[0.45, 0.25, 0.15, 0.10, 0.05]) + 1
        extra_nl = eligible[_weighted(rng, nls.weight[eligible], (count, 4))]
        extra_gap = (rng.exponential(20.0, (count, 4)) * DAY_MS).astype(np.int64).cumsum(axis=1)
        order = np.argsort(at, kind="stable")
        domain = rng.choice(len(domain_share), size=count, p=domain_share)
        add(
            join=at[order],
            first=first[order],
            n_subs=n_subs[order],
            extra_nl=extra_nl[order],
            extra_gap=extra_gap[order],
            domain=domain[order],
            **{k: v[order] for k, v in reader_traits(rng, domain).items()},
        )
    cols = {k: np.concatenate(v) for k, v in parts.items()}
    n = len(cols["join"])
    group_of_domain = np.array([vocab.DOMAIN_GROUPS.index(g) for _, _, g in vocab.MAIL_DOMAINS])
    group = group_of_domain[cols["domain"]]
    emails = reader_emails(seed, cols)
    readers = Readers(
        ids=text.join("rd_", pc.utf8_lpad(text.decimal_strings(np.arange(1, n + 1)), 8, "0")),
        join_ms=cols["join"].astype(np.int64),
        emails=emails,
        group=group.astype(np.int8),
        invalid=cols["invalid"],
        engagement=cols["engagement"],
        platform=cols["platform"].astype(np.int8),
        mail_agent=cols["mail_agent"].astype(np.int8),
        mpp=cols["mpp"],
        isp=cols["isp"].astype(np.uint32),
        browser=cols["browser"].astype(np.int16),
        first_bounce_ms=np.full(n, NEVER, dtype=np.int64),
    )
    first = {k: cols[k] for k in ("first", "n_subs", "extra_nl", "extra_gap")}
    return readers, first


def _weighted(
    rng: np.random.Generator, weights: np.ndarray, size: int | tuple[int, ...]
) -> np.ndarray:
    cum = np.cumsum(weights)
    return np.minimum(
        np.searchsorted(cum, rng.random(size) * cum[-1], side="right"), len(weights) - 1
    )


def visitor_key(seed: int, reader: np.ndarray, device: np.ndarray | int) -> np.ndarray:
    """The (hashed) first-party cookie of a reader's device: stable across days and sources."""
    return hash64(seed, int(Stream.READER), reader, device)
