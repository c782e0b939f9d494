"""The JSON Schema (2020-12) of the authors' dashboard documents, built from the sections the
metrics declare: the contract the web app reads. It is published beside the documents, at
`serving/v1/schema.json`, by every publish that changes it; print it with
`python -m theletter_data.serving.schema`.

Version 1 changes only by addition (new fields); anything else is version 2, under `serving/v2/`.
"""

from __future__ import annotations

import json
from functools import cache
from typing import Any

from theletter_data.ids import ID_PATTERN
from theletter_data.serving.fields import DEFS, object_schema
from theletter_data.serving.registry import published_sections

SCHEMA_VERSION = "1"


@cache
def dashboard_schema() -> dict[str, Any]:
    """The document's frame (version, newsletter, as-of day) and every declared section."""
    frame = {
        "schema_version": {"const": SCHEMA_VERSION},
        "newsletter": object_schema(
            {
                "id": {"type": "string", "pattern": f"^{ID_PATTERN}$"},
                "slug": {"type": "string"},
                "name": {"type": ["string", "null"]},
            }
        ),
        "as_of": {
            "$ref": "#/$defs/day",
            "description": "The last day the numbers include. A document is rewritten only when "
            f"its numbers change; serving/v{SCHEMA_VERSION}/manifest.json says up to which day "
            "all documents are current.",
        },
        "series_from": {
            "$ref": "#/$defs/day",
            "description": "The first day the daily series have numbers for: the platform's "
            "first day with any, within the series' days. From it on, a day absent from a "
            "daily series had no activity (0); before it nothing was measured (draw nothing).",
        },
    }
    sections = {p.section.name: p.section.schema() for p in published_sections()}
    if clash := sorted(set(sections) & set(frame)):
        raise ValueError(f"sections named like the document's own fields: {clash}")
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": f"https://theletter.jp/schemas/serving/newsletter_dashboard.v{SCHEMA_VERSION}.json",
        "title": f"Newsletter dashboard document, version {SCHEMA_VERSION}",
        "description": "What an author's in-app dashboard shows for one newsletter, written by "
        f"the data platform to serving/v{SCHEMA_VERSION}/newsletters/<newsletter_id>.json. It "
        "holds that newsletter's aggregates only: no reader's address, pseudonym or visitor id, "
        "and nothing of another newsletter. Days are Japan-time calendar days; a day absent "
        "from a daily series, from series_from on, had no activity (0). Additive changes (new "
        f"fields) keep version {SCHEMA_VERSION}; anything else is version 2 under serving/v2/.",
        "$defs": DEFS,
        **object_schema({**frame, **sections}),
    }


def schema_bytes() -> bytes:
    """The schema as published: indented, keys in declaration order."""
    return (json.dumps(dashboard_schema(), indent=2, ensure_ascii=False) + "\n").encode()


if __name__ == "__main__":
    print(schema_bytes().decode(), end="")
