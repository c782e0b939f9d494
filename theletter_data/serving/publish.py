"""Publishing dashboard documents to the lake's `serving/` prefix, rewriting only what changed.

Layout (S3 in production, the local lake by default):
- `serving/v1/newsletters/<newsletter_id>.json`: one newsletter's document;
- `serving/v1/manifest.json`: up to which day all documents are current, and per document its
  content hash, the day its numbers were computed (`as_of`, as in the document) and the last day
  a run found them unchanged (`current_through`);
- `serving/v1/schema.json`: the documents' JSON Schema (serving/schema.py), written before the
  documents whenever it changed.

A document is rewritten only when its numbers changed, and never by an older day's numbers (a
backfill of last month does not roll back what authors see). Both are judged on the stored
documents themselves, read back and hashed, not on the manifest alone: the documents are written
first and the manifest last, so a run that dies in between leaves documents ahead of the
manifest, and the next run (of any day) finds what is really stored and writes a manifest that
describes it. Only documents of valid newsletter ids are published (`theletter_data.ids`); one
with another id is refused and named, and the others are published.
"""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from theletter_data.ids import describe, is_valid_id, require_valid_id
from theletter_data.resources.lake import Lake
from theletter_data.serving.documents import (
    SCHEMA_VERSION,
    Document,
    canonical_json,
    content_hash,
    validate,
)
from theletter_data.serving.schema import schema_bytes

PREFIX = f"serving/v{SCHEMA_VERSION}"
MANIFEST_KEY = f"{PREFIX}/manifest.json"
SCHEMA_KEY = f"{PREFIX}/schema.json"


def document_key(newsletter_id: str) -> str:
    """The document's key; ValueError for anything but a valid id (it becomes a file name)."""
    return f"{PREFIX}/newsletters/{require_valid_id(newsletter_id, 'newsletter id')}.json"


@dataclass
class Published:
    as_of: date
    rewritten: list[str] = field(default_factory=list)
    unchanged: int = 0
    newer_kept: list[str] = field(default_factory=list)
    """Newsletters whose published document holds numbers of a later day than this run's."""
    refused: list[str] = field(default_factory=list)
    """Ids (escaped, shortened) whose documents were not published: not a valid id."""
    repaired: list[str] = field(default_factory=list)
    """Newsletters whose manifest entry did not describe the stored document (a run that died
    between its documents and its manifest, or a document changed by hand): now it does."""


def read_manifest(lake: Lake) -> dict[str, Any]:
    if not lake.exists(MANIFEST_KEY):
        return {"schema_version": SCHEMA_VERSION, "as_of": None, "documents": {}}
    return json.loads(lake.read_bytes(MANIFEST_KEY))


def publish(lake: Lake, documents: dict[str, Document], as_of: date) -> Published:
    """Refuse documents of invalid ids, validate the others, write those whose stored content
    differs from the new one (unless it holds a later day's numbers), then the manifest."""
    published = Published(as_of=as_of)
    valid: dict[str, Document] = {}
    for newsletter_id, document in documents.items():
        if is_valid_id(newsletter_id) and document["newsletter"]["id"] == newsletter_id:
            valid[newsletter_id] = document
        else:
            published.refused.append(describe(newsletter_id))
    for document in valid.values():
        validate(document)
    _publish_schema(lake)
    manifest = read_manifest(lake)
    entries: dict[str, dict[str, str]] = manifest["documents"]
    stored = _stored_documents(lake, sorted(valid))
    day = as_of.isoformat()
    for newsletter_id, document in sorted(valid.items()):
        digest = content_hash(document)
        current = stored.get(newsletter_id)
        entry = entries.get(newsletter_id)
        if current is not None:
            current_hash, current_day = content_hash(current), current["as_of"]
            through = current_day
            if entry and entry["sha256"] == current_hash:
                through = max(through, entry["current_through"])
            elif entry:
                published.repaired.append(newsletter_id)
            if date.fromisoformat(through) > as_of:
                entries[newsletter_id] = _entry(current_day, through, current_hash)
                published.newer_kept.append(newsletter_id)
                continue
            if current_hash == digest:
                entries[newsletter_id] = _entry(current_day, day, digest)
                published.unchanged += 1
                continue
        lake.write_bytes(document_key(newsletter_id), canonical_json(document))
        entries[newsletter_id] = _entry(day, day, digest)
        published.rewritten.append(newsletter_id)
    current_as_of = manifest["as_of"]
    manifest["as_of"] = max(day, current_as_of) if current_as_of else day
    manifest["schema_version"] = SCHEMA_VERSION
    lake.write_bytes(MANIFEST_KEY, json.dumps(manifest, indent=1, sort_keys=True).encode())
    return published


def _publish_schema(lake: Lake) -> None:
    """The contract beside the documents, rewritten only when it changed (a new section)."""
    schema = schema_bytes()
    if not lake.exists(SCHEMA_KEY) or lake.read_bytes(SCHEMA_KEY) != schema:
        lake.write_bytes(SCHEMA_KEY, schema)


def _entry(as_of: str, current_through: str, sha256: str) -> dict[str, str]:
    return {"as_of": as_of, "current_through": current_through, "sha256": sha256}


def _stored_documents(lake: Lake, newsletter_ids: list[str]) -> dict[str, Document | None]:
    """The documents as stored now (None: none, or unreadable and so to be rewritten), read in
    parallel: on S3 one GET each."""
    present = {o.key for o in lake.list(f"{PREFIX}/newsletters/")}
    wanted = [n for n in newsletter_ids if document_key(n) in present]

    def read(newsletter_id: str) -> Document | None:
        try:
            document = json.loads(lake.read_bytes(document_key(newsletter_id)))
            date.fromisoformat(document["as_of"])
            return document
        except (ValueError, KeyError, TypeError):
            return None

    with ThreadPoolExecutor(max_workers=16) as pool:
        return dict(zip(wanted, pool.map(read, wanted), strict=True))


def read_document(lake: Lake, newsletter_id: str) -> Document:
    return json.loads(lake.read_bytes(document_key(newsletter_id)))
