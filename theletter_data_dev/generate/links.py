"""Vocabularies of URLs: external links inside posts, and the pages visitors come from."""

from __future__ import annotations

import numpy as np

from . import vocab
from .clock import Stream

REFERRER_NONE = 0
"""Index of the empty referrer (direct visits, mail apps) in `World.referrers`."""
REFERRER_GMAIL = 1
"""Index of `https://mail.google.com/` (Gmail on the web) in `World.referrers`."""


def _random_token(rng: np.random.Generator, length: int, alphabet: str) -> str:
    return "".join(alphabet[i] for i in rng.integers(len(alphabet), size=length))


_ALNUM = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
_HEXCHARS = "0123456789abcdef"


def external_links(seed: int) -> list[str]:
    rng = np.random.default_rng([seed, int(Stream.VOCAB), 1])
    users = [
        f"{g}{f[:3]}"
        for g, f in zip(
            rng.choice(vocab.GIVEN_NAMES, 200), rng.choice(vocab.FAMILY_NAMES, 200), strict=True
        )
    ]
    links = []
    for i in range(1500):
        template = vocab.EXTERNAL_LINK_SITES[i % len(vocab.EXTERNAL_LINK_SITES)]
        links.append(
            template.format(
                code=_random_token(rng, 11, _ALNUM),
                hex=_random_token(rng, 20, _HEXCHARS),
                user=users[rng.integers(len(users))],
                repo=rng.choice(["toolkit", "api", "examples", "cli", "dotfiles", "notes"]),
                digits="".join(str(d) for d in rng.integers(0, 10, 16)),
            )
        )
    return links


def referrers(seed: int) -> tuple[list[str], dict[str, tuple[np.ndarray, np.ndarray]]]:
    """Referring URLs by kind. Search engines send an origin only; social and blogs a page."""
    rng = np.random.default_rng([seed, int(Stream.VOCAB), 2])
    urls: list[str] = ["", "https://mail.google.com/"]
    groups: dict[str, tuple[np.ndarray, np.ndarray]] = {}

    def add(group: str, entries: list[tuple[str, float]]) -> None:
        first = len(urls)
        urls.extend(u for u, _ in entries)
        w = np.array([w for _, w in entries])
        groups[group] = (np.arange(first, len(urls)), w / w.sum())

    add("search", list(vocab.SEARCH_REFERRERS))
    social: list[tuple[str, float]] = []
    for base, share in vocab.SOCIAL_REFERRERS:
        variants = (
            30
            if base in ("https://t.co/", "https://newspicks.com/news/", "https://note.com/")
            else 1
        )
        for _ in range(variants):
            if base == "https://t.co/":
                url = base + _random_token(rng, 10, _ALNUM)
            elif base == "https://newspicks.com/news/":
                url = f"{base}{rng.integers(9_000_000, 11_000_000)}/"
            elif base == "https://note.com/":
                user = rng.choice(vocab.GIVEN_NAMES) + "_" + rng.choice(vocab.FAMILY_NAMES)
                url = f"{base}{user}/n/n{_random_token(rng, 12, _HEXCHARS)}"
            else:
                url = base
            social.append((url, share / variants))
    add("social", social)
    blogs: list[tuple[str, float]] = []
    for base, share in vocab.BLOG_REFERRERS:
        for _ in range(20):
            user = f"{rng.choice(vocab.GIVEN_NAMES)}{rng.integers(1, 99)}"
            if "qiita" in base:
                url = f"{base}{user}/items/{_random_token(rng, 20, _HEXCHARS)}"
            elif "zenn" in base:
                url = f"{base}{user}/articles/{_random_token(rng, 14, _HEXCHARS)}"
            elif "hatenablog" in base:
                month, day, clock = (
                    rng.integers(1, 13),
                    rng.integers(1, 29),
                    rng.integers(0, 240000),
                )
                url = f"https://{user}.hatenablog.com/entry/2025/{month:02d}/{day:02d}/{clock:06d}"
            elif "togetter" in base:
                url = f"{base}li/{rng.integers(2_300_000, 2_600_000)}"
            else:
                url = f"{base}{_random_token(rng, 8, _HEXCHARS)}"
            blogs.append((url, share / 20))
    add("blog", blogs)
    return urls, groups
