"""Readers and their subscriptions: sign-ups since launch, devices, churn and comebacks.

Sign-ups are drawn per day (more for newsletters that posted or went viral that day). Everything
about one subscription (when it ends, whether the reader comes back, upgrades) comes from hashes
of its identity, so it never depends on how much of the future was simulated. Most readers who
leave do it right after an email (a per-send hazard, about 0.2% of deliveries); the rest leave
from the website.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from . import text, vocab
from .clock import (
    DAY_MS,
    FIRST_DAY,
    HOUR_MS,
    LAUNCH,
    MINUTE_MS,
    NEVER,
    Stream,
    day_number,
    day_numbers,
    day_rng,
    day_start_ms,
    diurnal_offsets,
    hash64,
    hash_normal,
    hash_uniform,
)
from .publishing import Newsletters, Posts, Sends, viral_multipliers

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


@dataclass
class Subscriptions:
    reader: np.ndarray
    nl: np.ndarray
    start_ms: np.ndarray
    end_ms: np.ndarray
    email_unsub_post: np.ndarray
    """The post whose email the reader unsubscribed from (-1 if they left another way)."""
    unsub_source: np.ndarray
    upgrade_ms: np.ndarray
    by_nl: np.ndarray
    nl_bounds: np.ndarray

    def __len__(self) -> int:
        return len(self.reader)

    def of_newsletter(self, nl: int) -> np.ndarray:
        return self.by_nl[self.nl_bounds[nl] : self.nl_bounds[nl + 1]]

    def active(self, nl: int, at_ms: int) -> np.ndarray:
        rows = self.of_newsletter(nl)
        return rows[(self.start_ms[rows] <= at_ms) & (self.end_ms[rows] > at_ms)]


# --- readers ---------------------------------------------------------------------------------


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
            **{k: v[order] for k, v in _reader_traits(rng, domain).items()},
        )
    cols = {k: np.concatenate(v) for k, v in parts.items()}
    n = len(cols["join"])
    group_of_domain = np.array([vocab.DOMAIN_GROUPS.index(g) for _, _, g in vocab.MAIL_DOMAINS])
    group = group_of_domain[cols["domain"]]
    emails = _emails(seed, cols)
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


def _reader_traits(rng: np.random.Generator, domain: np.ndarray) -> dict[str, np.ndarray]:
    """Device, mail client and Apple Mail Privacy Protection, consistent with the address."""
    n = len(domain)
    groups = np.array([vocab.DOMAIN_GROUPS.index(g) for _, _, g in vocab.MAIL_DOMAINS])[domain]
    g = {name: groups == i for i, name in enumerate(vocab.DOMAIN_GROUPS)}
    plat = {name: i for i, name in enumerate(vocab.PLATFORMS)}
    u = rng.random(n)
    platform = np.select(
        [u < 0.62, u < 0.86, u < 0.95, u < 0.99],
        [plat["iphone"], plat["android"], plat["windows"], plat["mac"]],
        plat["ipad"],
    )
    platform = np.where(g["icloud"], np.where(u < 0.88, plat["iphone"], plat["mac"]), platform)
    platform = np.where(g["carrier"], np.where(u < 0.64, plat["iphone"], plat["android"]), platform)
    v = rng.random(n)
    platform = np.where(
        g["company"],
        np.select(
            [v < 0.55, v < 0.72, v < 0.94],
            [plat["windows"], plat["mac"], plat["iphone"]],
            plat["android"],
        ),
        platform,
    )
    apple_device = np.isin(platform, [plat["iphone"], plat["ipad"], plat["mac"]])
    apple_share = np.select(
        [g["icloud"], g["gmail"], g["yahoo"], g["carrier"], g["microsoft"], g["company"]],
        [1.0, 0.55, 0.35, 0.95, 0.4, 0.5],
        0.0,
    )
    apple_mail = apple_device & (rng.random(n) < apple_share)
    mpp = apple_mail & ((rng.random(n) < 0.9) | g["icloud"])
    desktop = np.isin(platform, [plat["windows"], plat["mac"]])
    agent = np.select(
        [
            apple_mail & (platform == plat["mac"]),
            apple_mail,
            g["gmail"],
            g["yahoo"] & (platform == plat["iphone"]),
            g["yahoo"] & desktop,
            (g["microsoft"] | g["company"]) & (platform == plat["windows"]),
            g["microsoft"] & desktop,
            desktop,
        ],
        [
            vocab.MAIL_MAC,
            np.where(rng.random(n) < 0.8, vocab.MAIL_IPHONE, vocab.MAIL_IPHONE_OLD),
            vocab.MAIL_GMAIL_PROXY,
            vocab.MAIL_YAHOO_APP,
            vocab.MAIL_WEB,
            vocab.MAIL_OUTLOOK,
            vocab.MAIL_WEB,
            vocab.MAIL_WEB,
        ],
        vocab.MAIL_ANDROID,
    )
    lo = np.array([vocab.PLATFORM_BROWSERS[p][0] for p in vocab.PLATFORMS])[platform]
    hi = np.array([vocab.PLATFORM_BROWSERS[p][1] for p in vocab.PLATFORMS])[platform]
    browser = lo + (rng.random(n) * (hi - lo)).astype(np.int64)
    octet1 = np.array(vocab.ISP_FIRST_OCTETS, dtype=np.uint32)[
        rng.integers(len(vocab.ISP_FIRST_OCTETS), size=n)
    ]
    isp = (octet1 << np.uint32(24)) | (rng.integers(0, 256, n).astype(np.uint32) << np.uint32(16))
    invalid_rate = np.where(g["carrier"], 0.035, 0.005)
    return {
        "invalid": rng.random(n) < invalid_rate,
        "typo": rng.random(n) < 0.15,
        "engagement": rng.beta(2.0, 2.2, n),
        "platform": platform,
        "mail_agent": agent,
        "mpp": mpp,
        "isp": isp,
        "browser": browser,
        "given": rng.integers(len(vocab.GIVEN_NAMES), size=n),
        "family": rng.integers(len(vocab.FAMILY_NAMES), size=n),
        "pattern": rng.integers(0, 8, size=n),
        "digits": rng.integers(0, 1000, size=n),
        "year": rng.integers(1962, 2006, size=n),
    }


def _emails(seed: int, cols: dict[str, np.ndarray]) -> pa.StringArray:
    """Romaji addresses; later sign-ups that collide with an earlier address get a suffix."""
    given_names = text.vocabulary(vocab.GIVEN_NAMES)
    family_names = text.vocabulary(vocab.FAMILY_NAMES)
    pieces, rows_of = [], []
    for pattern in range(8):
        rows = np.flatnonzero(cols["pattern"] == pattern)
        given = text.take(given_names, cols["given"][rows])
        family = text.take(family_names, cols["family"][rows])
        initial = pc.utf8_slice_codeunits(given, 0, 1)
        digits = cols["digits"][rows]
        d2 = pc.utf8_lpad(text.decimal_strings(digits % 100), 2, "0")
        d3 = pc.utf8_lpad(text.decimal_strings(digits), 3, "0")
        year = text.decimal_strings(cols["year"][rows])
        parts = (
            (given, ".", family),
            (given, ".", family, d2),
            (family, ".", given, d2),
            (given, family, year),
            (initial, ".", family, d3),
            (given, "_", family, d2),
            (family, initial, year),
            (given, "-", pc.utf8_slice_codeunits(family, 0, 4), d3),
        )[pattern]
        pieces.append(text.join(*parts))
        rows_of.append(rows)
    position = np.empty(len(cols["pattern"]), dtype=np.int64)
    position[np.concatenate(rows_of)] = np.arange(len(position))
    local = text.take(pa.concat_arrays(pieces), position)
    domains = [d for d, _, _ in vocab.MAIL_DOMAINS]
    domain = text.take(text.vocabulary(domains), cols["domain"])
    typo = cols["invalid"] & cols["typo"]
    typo_domain = text.take(
        text.vocabulary(vocab.TYPO_DOMAINS), cols["digits"] % len(vocab.TYPO_DOMAINS)
    )
    domain = text.choose(typo, typo_domain, domain)
    emails = text.join(local, "@", domain)
    # Uniqueness: a later reader whose address is taken adds digits (like a real sign-up would).
    # Only a changed address can collide again, so later rounds look at those values alone.
    dup = _later_duplicates(emails)
    attempt = 0
    while dup.any():
        attempt += 1
        rows = np.flatnonzero(dup)
        extra = hash64(seed, int(Stream.READER), rows, attempt) % np.uint64(9000) + np.uint64(1000)
        parts = pc.split_pattern(text.take(emails, rows), "@", max_splits=1)
        fixed = text.join(
            pc.list_element(parts, 0),
            text.decimal_strings(extra.astype(np.int64)),
            "@",
            pc.list_element(parts, 1),
        )
        emails = pc.replace_with_mask(emails, pa.array(dup), fixed)
        suspects = np.flatnonzero(pc.is_in(emails, value_set=fixed).to_numpy(zero_copy_only=False))
        dup = np.zeros(len(dup), dtype=bool)
        dup[suspects[_later_duplicates(text.take(emails, suspects))]] = True
    return emails


def _later_duplicates(values: pa.Array) -> np.ndarray:
    """True for each value already seen earlier in the array."""
    return pd.Series(values.to_numpy(zero_copy_only=False)).duplicated().to_numpy()


# --- subscriptions ---------------------------------------------------------------------------


def build_subscriptions(
    seed: int,
    nls: Newsletters,
    readers: Readers,
    first: dict[str, np.ndarray],
    sends: Sends,
    horizon_ms: int,
) -> Subscriptions:
    n = len(readers)
    slots = np.arange(5)
    reader = np.repeat(np.arange(n), 5).reshape(n, 5)
    nl = np.concatenate([first["first"][:, None], first["extra_nl"]], axis=1)
    start = readers.join_ms[:, None] + np.concatenate(
        [np.zeros((n, 1), dtype=np.int64), first["extra_gap"]], axis=1
    )
    keep = slots[None, :] < first["n_subs"][:, None]
    # The same newsletter twice: only the first counts.
    for a in range(1, 5):
        for b in range(a):
            keep[:, a] &= nl[:, a] != nl[:, b]
    keep &= start < horizon_ms
    reader, nl, start = reader[keep], nl[keep], start[keep]
    key = (reader.astype(np.int64) * 8 + np.broadcast_to(slots, keep.shape)[keep]).astype(np.int64)
    rounds = np.zeros(len(reader), dtype=np.int64)
    cols: dict[str, list[np.ndarray]] = {}
    while not cols or len(reader):  # re-subscriptions, round after round
        end, unsub_post, source, upgrade = _lifecycle(
            seed, nls, readers, sends, reader, nl, start, key, rounds
        )
        for name, value in (
            ("reader", reader),
            ("nl", nl),
            ("start", start),
            ("end", end),
            ("post", unsub_post),
            ("source", source),
            ("upgrade", upgrade),
            ("key", key),
            ("round", rounds),
        ):
            cols.setdefault(name, []).append(value)
        back = (hash_uniform(seed, int(Stream.SUBSCRIPTIONS), key, rounds, 9) < 0.08) & (
            end < horizon_ms
        )
        restart = end + (
            -np.log(1.0 - hash_uniform(seed, int(Stream.SUBSCRIPTIONS), key, rounds, 10))
            * 40
            * DAY_MS
        ).astype(np.int64)
        back &= restart < horizon_ms
        reader, nl, start, key = reader[back], nl[back], restart[back], key[back]
        rounds = rounds[back] + 1
    data = {k: np.concatenate(v) for k, v in cols.items()}
    order = np.lexsort((data["round"], data["key"], data["start"]))
    data = {k: v[order] for k, v in data.items()}
    _first_bounces(readers, sends, data)
    by_nl = np.argsort(data["nl"], kind="stable")
    return Subscriptions(
        reader=data["reader"].astype(np.int32),
        nl=data["nl"].astype(np.int32),
        start_ms=data["start"],
        end_ms=data["end"],
        email_unsub_post=data["post"].astype(np.int32),
        unsub_source=data["source"].astype(np.int8),
        upgrade_ms=data["upgrade"],
        by_nl=by_nl,
        nl_bounds=np.searchsorted(data["nl"][by_nl], np.arange(len(nls) + 1)),
    )


def _lifecycle(
    seed: int,
    nls: Newsletters,
    readers: Readers,
    sends: Sends,
    reader: np.ndarray,
    nl: np.ndarray,
    start: np.ndarray,
    key: np.ndarray,
    rounds: np.ndarray,
) -> tuple[np.ndarray, ...]:
    """When a subscription ends: after the k-th email (a per-send hazard) or from the website."""
    s = int(Stream.SUBSCRIPTIONS)
    engagement = readers.engagement[reader]
    p_send = 0.0021 * (1.55 - engagement)
    u = hash_uniform(seed, s, key, rounds, 1)
    k = np.floor(np.log(1.0 - u) / np.log1p(-p_send)).astype(np.int64) + 1
    k = np.where(readers.invalid[reader], 1 << 40, k)
    idx = sends.after(nl, start, k)
    # At least two minutes: the unsubscribing reader's copy is sent first and delivered by then.
    delay = np.clip(
        np.exp(np.log(45 * MINUTE_MS) + 1.3 * hash_normal(seed, s, key, rounds, 2)),
        2 * MINUTE_MS,
        68 * HOUR_MS,
    ).astype(np.int64)
    email_end = np.where(idx >= 0, sends.ms[np.maximum(idx, 0)] + delay, NEVER)
    web_end = start + (-np.log(1.0 - hash_uniform(seed, s, key, rounds, 3)) * 900 * DAY_MS).astype(
        np.int64
    )
    by_email = (idx >= 0) & (email_end <= web_end)
    end = np.where(by_email, email_end, web_end)
    unsub_post = np.where(by_email, sends.post[np.maximum(idx, 0)], -1)
    source = (hash_uniform(seed, s, key, rounds, 4) < 0.4).astype(np.int8)
    upgrade = start + (-np.log(1.0 - hash_uniform(seed, s, key, rounds, 5)) * 12 * DAY_MS).astype(
        np.int64
    )
    upgrades = nls.paid[nl] & (hash_uniform(seed, s, key, rounds, 6) < 0.12) & (upgrade < end)
    return end, unsub_post, source, np.where(upgrades, upgrade, NEVER)


def _first_bounces(readers: Readers, sends: Sends, data: dict[str, np.ndarray]) -> None:
    """The first email ever sent to each invalid address (it bounces as General)."""
    rows = np.flatnonzero(readers.invalid[data["reader"]])
    idx = sends.after(data["nl"][rows], data["start"][rows], np.ones(len(rows), dtype=np.int64))
    at = np.where(idx >= 0, sends.ms[np.maximum(idx, 0)], NEVER)
    at = np.where(at < data["end"][rows], at, NEVER)
    np.minimum.at(readers.first_bounce_ms, data["reader"][rows], at)


def visitor_key(seed: int, reader: np.ndarray, device: np.ndarray | int) -> np.ndarray:
    """The (hashed) first-party cookie of a reader's device: stable across days and sources."""
    return hash64(seed, int(Stream.READER), reader, device)
