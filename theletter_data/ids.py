"""The one shape of an id that the platform accepts from the app: `[A-Za-z0-9_-]{1,64}`, the
whole value (no dot, slash, space or control character).

Newsletter ids become lake keys and file names (`serving/v1/newsletters/<newsletter_id>.json`,
`theletter-data preview`), so an id from the app's exports is checked at staging and a row with
another shape is quarantined as `invalid_id:<column>`; every key and path built from an id checks
it again (`require_valid_id`) before touching the lake or the filesystem. The app's ids
(`nl_00012`, `po_0000345`, `su_000000042`, `rd_00000123`, `au_00007`) all fit.
"""

from __future__ import annotations

import re

ID_PATTERN = r"[A-Za-z0-9_-]{1,64}"
"""The whole id must match (DuckDB `regexp_full_match`, Python `re.fullmatch`)."""

_ID = re.compile(ID_PATTERN)


def is_valid_id(value: object) -> bool:
    return isinstance(value, str) and _ID.fullmatch(value) is not None


def require_valid_id(value: object, what: str = "id") -> str:
    """`value` if it is a valid id, else a ValueError that shows a safe, short rendering of it."""
    if not is_valid_id(value):
        raise ValueError(
            f"invalid {what} {describe(value)}: ids must match {ID_PATTERN} (the whole value)"
        )
    assert isinstance(value, str)
    return value


def describe(value: object) -> str:
    """A rendering of an untrusted value for a message: escaped, at most about 40 characters."""
    text = repr(value)
    if len(text) > 40:
        text = f"{text[:37]}... ({len(str(value)):,} characters)"
    return text
