"""The quarantine: raw records that could not be staged, with why and where they came from.

Nothing is deleted from the lake, so a quarantined record can be replayed after a fix; the
quarantine holds the pointer (object key, line fingerprint), the reason and an excerpt with email
addresses masked, never the record itself.
"""

from __future__ import annotations

from theletter_data.sql import duckdb_string
from theletter_data.tables import Column, Table

QUARANTINE = Table(
    layer="staging",
    name="quarantine",
    grain="one row per stream, raw object, distinct bad line and reason, on the day that judged it",
    partition_by="event_date",
    key=("event_date", "stream", "source_object", "line_sha256", "reason"),
    cluster_by=("stream",),
    columns=(
        Column(
            "event_date",
            "DATE",
            "The partition whose run quarantined the line: its event "
            "day, or for unparseable or out-of-window lines the Japan-time day it arrived.",
        ),
        Column("stream", "STRING", "Raw stream: ses_events, page_views, appdb_<table>."),
        Column("source_object", "STRING", "Lake key of the object holding the line."),
        Column("line_sha256", "STRING", "SHA-256 of the line as read ('' for a whole object)."),
        Column(
            "reason",
            "STRING",
            "Why it was not staged, e.g. malformed_json, "
            "missing_field:mail.messageId, arrived_after_window, truncated_object.",
        ),
        Column(
            "occurrences",
            "INT64",
            "Raw records with this line in this object (0 for an "
            "object-level entry, whose lost records cannot be counted).",
        ),
        Column(
            "line_number",
            "INT64",
            "1-based line in the object when the reader knows it.",
            required=False,
        ),
        Column(
            "excerpt",
            "STRING",
            "The line with email addresses masked, then cut to 300 characters.",
            required=False,
        ),
    ),
)

_FULLWIDTH_AT = "\uff20"
_WORD = rf"""[^\s@{_FULLWIDTH_AT}"<>()\[\]{{}},;:\\/]"""
_AT = rf"(?:@|{_FULLWIDTH_AT}|%40|\\u0040)"
EMAIL_PATTERN = f"{_WORD}*{_AT}{_WORD}*"
"""RE2 (DuckDB): every word holding an `@` (also written as the full-width at sign, `%40` or
`\\u0040`), with what surrounds it up to a space, a quote or punctuation. Wider than an address
on purpose: `hanako@localhost`, a cut `hanako.sato@ex` or a lone `@example.jp` is masked too,
and nothing of an address is left for a later cut to expose."""

EXCERPT_CHARACTERS = 300
_MASKED_WINDOW = EXCERPT_CHARACTERS + 1_000
"""Only this much of a line is masked (a 10 MB line is not scanned whole): a word reaching past
it would need more than 1,000 characters before its `@` to leave a part in the excerpt unmasked,
far beyond an address's 64-character local part."""


def masked_excerpt_sql(expression: str) -> str:
    """DuckDB SQL: a raw line's email addresses masked, then its first 300 characters (masking
    first: an address that straddles the cut leaves nothing of itself)."""
    masked = (
        f"regexp_replace(left({expression}, {_MASKED_WINDOW}), "
        f"{duckdb_string(EMAIL_PATTERN)}, '<email>', 'g')"
    )
    return f"left({masked}, {EXCERPT_CHARACTERS})"
