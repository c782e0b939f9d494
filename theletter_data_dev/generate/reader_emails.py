"""Readers' email addresses: romaji names at Japanese providers, typos, unique to the reader.

An address is assembled column-wise (see `text`) from the name picks of `reader_traits`; a later
sign-up whose address is taken adds digits, as a real sign-up form would make them.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from . import text, vocab
from .clock import Stream, hash64


def reader_emails(seed: int, cols: dict[str, np.ndarray]) -> pa.StringArray:
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
