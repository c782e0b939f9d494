"""Subscriptions: which newsletters each reader follows, from when, until when, paid or free.

Everything about one subscription (when it ends, whether the reader comes back, upgrades) comes
from hashes of its identity, so it never depends on how much of the future was simulated. Most
readers who leave do it right after an email (a per-send hazard, about 0.2% of deliveries); the
rest leave from the website.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .clock import DAY_MS, HOUR_MS, MINUTE_MS, NEVER, Stream, hash_normal, hash_uniform
from .newsletters import Newsletters
from .posts import Sends
from .readers import Readers


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
