"""The rows SES events are simulated as, before `ses_lines` words them as SES's JSON.

One row per event: its type and instant, the message it belongs to, and small integer codes
(user agent, bounce kind, link) that index vocabularies instead of carrying text. Shared by the
send-day cascade (`email_events`, `email_delivery`, `email_opens_clicks`), the SES wording
(`ses_lines`) and the mailer's logs (`app_logs`).
"""

from __future__ import annotations

import numpy as np

from . import vocab
from .columns import Table

SEND, DELIVERY, BOUNCE, COMPLAINT, REJECT, OPEN, CLICK, DELAY, RENDER, SUBSCRIPTION = range(10)
"""Event types (the `type` column); `ses_wording.TYPE_NAMES` holds SES's names for them."""
GENERAL, SUPPRESSED, MAILBOX_FULL, TRANSIENT, UNDETERMINED = range(5)
"""Bounce kinds (the `kind` column of bounces); see `ses_wording.BOUNCE_KINDS`."""

SES_AGENTS = (*vocab.MAIL_AGENTS, vocab.APPLE_MPP_AGENT, *vocab.BROWSER_AGENTS)
"""User agents of opens and clicks (the `ua` column indexes this)."""
MPP_AGENT = len(vocab.MAIL_AGENTS)
BROWSER_OFFSET = MPP_AGENT + 1


def lognormal(rng: np.random.Generator, median_ms: float, sigma: float, n: int) -> np.ndarray:
    """`n` draws of a lognormal delay given its median (not its mean)."""
    return np.exp(rng.normal(np.log(median_ms), sigma, n))


def event_rows(
    msg: Table,
    idx: np.ndarray,
    kind_of_event: int,
    ms: np.ndarray,
    *,
    ua: np.ndarray | int = -1,
    ip: np.ndarray | int = 0,
    num: np.ndarray | int = 0,
    kind: np.ndarray | int = 0,
    link: np.ndarray | int = -1,
) -> Table:
    """Events of one type for the messages `idx` of `msg`; a scalar code applies to all."""
    n = len(idx)

    def col(value: np.ndarray | int, dtype: type) -> np.ndarray:
        return np.broadcast_to(np.asarray(value, dtype=dtype), (n,)).copy()

    return {
        "type": col(kind_of_event, np.int8),
        "ms": np.asarray(ms, dtype=np.int64),
        "msg_ms": msg["ms"][idx],
        "post": msg["post"][idx],
        "reader": msg["reader"][idx],
        "key": msg["key"][idx],
        "ua": col(ua, np.int16),
        "ip": col(ip, np.uint32),
        "num": col(num, np.int64),
        "kind": col(kind, np.int8),
        "link": col(link, np.int32),
    }
