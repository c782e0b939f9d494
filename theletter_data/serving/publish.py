"""Publishing dashboard documents to the lake's `serving/` prefix, rewriting only what changed.

Layout (S3 in production, the local lake by default):
- `serving/v1/newsletters/<newsletter_id>.json`: one newsletter's document;
- `serving/v1/manifest.json`: up to which day all documents are current, and per document its
  content hash, the day its numbers were computed (`as_of`, as in the document) and the last day
  a run found them unchanged (`current_through`).

A document is rewritten only when its numbers changed (content hash against the manifest), and
never by an older day's numbers (a backfill of last month does not roll back what authors see).
Documents are written before the manifest: a run that dies in between leaves documents newer
than the manifest says, which the next run finds unchanged or rewrites, never the reverse.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from theletter_data.resources.lake import Lake
from theletter_data.serving.documents import (
    SCHEMA_VERSION,
    Document,
    canonical_json,
    content_hash,
    validate,
)

PREFIX = f"serving/v{SCHEMA_VERSION}"
MANIFEST_KEY = f"{PREFIX}/manifest.json"


def document_key(newsletter_id: str) -> str:
    return f"{PREFIX}/newsletters/{newsletter_id}.json"


@dataclass
class Published:
    as_of: date
    rewritten: list[str] = field(default_factory=list)
    unchanged: int = 0
    newer_kept: list[str] = field(default_factory=list)
    """Newsletters whose published document holds numbers of a later day than this run's."""


def read_manifest(lake: Lake) -> dict[str, Any]:
    if not lake.exists(MANIFEST_KEY):
        return {"schema_version": SCHEMA_VERSION, "as_of": None, "documents": {}}
    return json.loads(lake.read_bytes(MANIFEST_KEY))


def publish(lake: Lake, documents: dict[str, Document], as_of: date) -> Published:
    """Validate every document, then write those whose numbers changed, then the manifest."""
    for document in documents.values():
        validate(document)
    manifest = read_manifest(lake)
    entries: dict[str, dict[str, str]] = manifest["documents"]
    published = Published(as_of=as_of)
    for newsletter_id, document in sorted(documents.items()):
        entry = entries.get(newsletter_id)
        digest = content_hash(document)
        if entry and date.fromisoformat(entry["current_through"]) > as_of:
            published.newer_kept.append(newsletter_id)
            continue
        if entry and entry["sha256"] == digest and lake.exists(document_key(newsletter_id)):
            entry["current_through"] = as_of.isoformat()
            published.unchanged += 1
            continue
        lake.write_bytes(document_key(newsletter_id), canonical_json(document))
        day = as_of.isoformat()
        entries[newsletter_id] = {"as_of": day, "current_through": day, "sha256": digest}
        published.rewritten.append(newsletter_id)
    current = manifest["as_of"]
    manifest["as_of"] = max(as_of.isoformat(), current) if current else as_of.isoformat()
    manifest["schema_version"] = SCHEMA_VERSION
    lake.write_bytes(MANIFEST_KEY, json.dumps(manifest, indent=1, sort_keys=True).encode())
    return published


def read_document(lake: Lake, newsletter_id: str) -> Document:
    return json.loads(lake.read_bytes(document_key(newsletter_id)))
