"""The quarantine: raw records that could not be staged, with why and where they came from.

Nothing is deleted from the lake, so a quarantined record can be replayed after a fix; the
quarantine holds the pointer (object key, line fingerprint), the reason and an excerpt with email
addresses masked, never the record itself.
"""

from __future__ import annotations

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
            "excerpt", "STRING", "First 300 characters, email addresses masked.", required=False
        ),
    ),
)

EMAIL_PATTERN = r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+"


def masked_excerpt_sql(expression: str) -> str:
    """DuckDB SQL: the first 300 characters of a raw line with email addresses masked."""
    return f"regexp_replace(left({expression}, 300), '{EMAIL_PATTERN}', '<email>', 'g')"
