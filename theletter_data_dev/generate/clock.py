"""Time and randomness conventions shared by every part of the generator.

All instants are int64 milliseconds since the Unix epoch (UTC). A "day number" is a Japan-time
calendar day counted from 1970-01-01, so `day_number(ms)` is the partition an event belongs to.

Randomness comes from two deterministic sources, never from the clock:
* per-day generators (`day_rng`) for things that happen on a day (joins, posts, page views);
* counter-based hashes (`hash64`) for attributes of one entity (a subscription's lifetime, a
  message's id), so they do not depend on how many other draws happened before them.
Both make a day's data a function of (seed, newsletters, readers, day) only.
"""

from __future__ import annotations

from datetime import date
from enum import IntEnum

import numpy as np

DAY_MS = 86_400_000
HOUR_MS = 3_600_000
MINUTE_MS = 60_000
JST_OFFSET_MS = 9 * HOUR_MS
NEVER = np.iinfo(np.int64).max
"""Sentinel instant for "has not happened" (an open subscription, an unpublished draft)."""

LAUNCH = date(2024, 10, 1)
"""theLetter's launch: the world's history is simulated from here."""
FIRST_DAY = date(2025, 1, 1)
"""The first day the generator writes (the platform's first partition)."""

_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()


def day_number(day: date) -> int:
    return day.toordinal() - _EPOCH_ORDINAL


def day_of(number: int) -> date:
    return date.fromordinal(int(number) + _EPOCH_ORDINAL)


def day_start_ms(number: int) -> int:
    """The UTC instant at which the Japan-time day `number` starts."""
    return int(number) * DAY_MS - JST_OFFSET_MS


def day_numbers(ms: np.ndarray) -> np.ndarray:
    """The Japan-time day number of each instant."""
    return (ms + JST_OFFSET_MS) // DAY_MS


class Stream(IntEnum):
    """Independent random streams; the value is part of every seed, so never renumber them."""

    NEWSLETTERS = 1
    POSTS = 2
    DRAFTS = 3
    VIRAL = 4
    JOINS = 5
    SUBSCRIPTIONS = 6
    READER = 7
    EMAIL = 10
    PAGE_VIEWS = 11
    BOTS = 12
    PAYMENTS = 13
    FIREHOSE = 20
    VOCAB = 30
    APP_LOGS = 40


def day_rng(seed: int, number: int, stream: Stream, *extra: int) -> np.random.Generator:
    return np.random.default_rng([seed, int(number), int(stream), *extra])


_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)


def _mix(x: np.ndarray) -> np.ndarray:
    """splitmix64's finaliser: a bijective, well-spread scramble of 64-bit integers."""
    x = x ^ (x >> np.uint64(30))
    x = x * _M1
    x = x ^ (x >> np.uint64(27))
    x = x * _M2
    return x ^ (x >> np.uint64(31))


def hash64(*parts: int | np.ndarray) -> np.ndarray:
    """A 64-bit hash of a tuple of integers (scalars or arrays broadcast together)."""
    with np.errstate(over="ignore"):
        h = np.uint64(0x243F6A8885A308D3)
        for part in parts:
            value = np.asarray(part).astype(np.uint64, copy=False)
            h = _mix(h ^ (value + _GOLDEN))
        return np.asarray(h, dtype=np.uint64)


def uniform(h: np.ndarray) -> np.ndarray:
    """Map hashes to floats in [0, 1)."""
    return (h >> np.uint64(11)).astype(np.float64) * (1.0 / (1 << 53))


def hash_uniform(*parts: int | np.ndarray) -> np.ndarray:
    return uniform(hash64(*parts))


def hash_normal(*parts: int | np.ndarray) -> np.ndarray:
    """Standard normal draws from two hashes (Box-Muller), for entity-level lognormals."""
    u1 = 1.0 - hash_uniform(*parts, 0x51)
    u2 = hash_uniform(*parts, 0x52)
    return np.sqrt(-2.0 * np.log(u1)) * np.cos(2.0 * np.pi * u2)


HOUR_WEIGHTS = np.array(
    [
        2.0,
        1.2,
        0.7,
        0.4,
        0.3,
        0.4,
        1.0,
        2.6,
        3.6,
        3.0,
        2.4,
        2.4,
        3.2,
        2.8,
        2.3,
        2.2,
        2.3,
        2.5,
        2.8,
        3.2,
        3.8,
        4.2,
        4.0,
        3.0,
    ]
)
"""Japanese readers' day: quiet nights, the commute (7-9), lunch, and the evening peak (20-23)."""
_HOUR_P = HOUR_WEIGHTS / HOUR_WEIGHTS.sum()


def diurnal_offsets(rng: np.random.Generator, n: int) -> np.ndarray:
    """Milliseconds after Japan-time midnight, following the readers' daily rhythm."""
    hours = rng.choice(24, size=n, p=_HOUR_P)
    return hours * HOUR_MS + rng.integers(0, HOUR_MS, size=n)
