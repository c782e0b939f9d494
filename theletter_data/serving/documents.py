"""The authors' dashboard documents: one JSON document per newsletter, built from the metric
tables so that the web app reads one small object instead of querying the warehouse (slow, and
billed per query) on every page view.

A document is its newsletter (`newsletters.sql`) and the sections the metrics declare
(serving/sections.py). Every section's query runs once over all newsletters (written once,
BigQuery dialect, run on either warehouse) and its rows are grouped here by newsletter: a
document only ever receives its own newsletter's rows, and only aggregates (no address,
pseudonym or visitor id). Every document is validated against the JSON Schema built from the same
declarations (serving/schema.py) before it is published.
"""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from collections.abc import Mapping
from datetime import date, timedelta
from typing import Any

import jsonschema

from theletter_data.metrics.parameters import STANDARD, bind
from theletter_data.resources.warehouse import Warehouse
from theletter_data.serving.registry import PublishedSection, published_sections
from theletter_data.serving.schema import SCHEMA_VERSION, dashboard_schema
from theletter_data.serving.sections import (
    EXPORT_DAYS,
    SERIES_DAYS,
    SHORT_PERIOD_DAYS,
    DailySeries,
    Row,
)
from theletter_data.sql import read_sql

__all__ = ["SCHEMA_VERSION", "SERIES_DAYS", "build_documents", "validate"]

Document = dict[str, Any]
_ByNewsletter = dict[str, list[Row]]


def validate(document: Document) -> None:
    """Raise `jsonschema.ValidationError` if the document breaks the published contract."""
    jsonschema.validate(document, dashboard_schema(), format_checker=jsonschema.FormatChecker())


def document_params(as_of: date, sections: list[PublishedSection]) -> dict[str, object]:
    """What the documents' queries may name: the as-of day, the series' window [@start_date,
    @end_date), the short period's start, the standard parameters, and the sections' own."""
    end = as_of + timedelta(days=1)
    params: dict[str, object] = {
        "as_of": as_of,
        "start_date": end - timedelta(days=SERIES_DAYS),
        "start_30": end - timedelta(days=SHORT_PERIOD_DAYS),
        "end_date": end,
        "export_days": EXPORT_DAYS,
        **STANDARD,
    }
    for published in sections:
        section = published.section
        if clash := sorted(set(section.params) & set(params)):
            raise ValueError(f"section {section.name} redeclares the parameters {clash}")
        params.update(section.params)
    return params


def build_documents(warehouse: Warehouse, as_of: date) -> dict[str, Document]:
    """Every newsletter's dashboard document with the numbers up to and including `as_of`."""
    sections = published_sections()
    params = document_params(as_of, sections)

    def rows(name: str) -> _ByNewsletter:
        by_newsletter: _ByNewsletter = defaultdict(list)
        sql = read_sql(__file__, name)
        used = bind(sql, params, what=f"serving/sql/{name}.sql")
        for row in warehouse.query(sql, used).to_pylist():
            by_newsletter[row.pop("newsletter_id")].append(row)
        return by_newsletter

    newsletters = rows("newsletters")
    found: dict[str, dict[str, _ByNewsletter]] = {}
    for published in sections:
        # A metric of weeks has no table before its first week ends: nothing to show yet.
        measured = not published.newest_partition or warehouse.has_table(published.table)
        found[published.section.name] = {
            query: rows(query) if measured else {} for query in published.section.queries
        }
    series_from = _series_from(sections, found, params["start_date"])  # type: ignore[arg-type]
    documents = {}
    for newsletter_id, (newsletter,) in sorted(newsletters.items()):
        document: Document = {
            "schema_version": SCHEMA_VERSION,
            "newsletter": {"id": newsletter_id, **newsletter},
            "as_of": as_of.isoformat(),
            "series_from": series_from.isoformat(),
        }
        for published in sections:
            by_query = found[published.section.name]
            mine = {query: by_query[query].get(newsletter_id, []) for query in by_query}
            document[published.section.name] = published.section.value(mine)
        documents[newsletter_id] = document
    return documents


def _series_from(
    sections: list[PublishedSection], found: dict[str, dict[str, _ByNewsletter]], start: date
) -> date:
    """Where the daily series' data starts: the first day any newsletter has a row of a daily
    series, within the series' days (their first day if none has any). Before it the platform
    had no numbers yet (a lake younger than the series), which a chart must not draw as 0."""
    days = [
        row["date"]
        for published in sections
        for part in published.section.parts
        if isinstance(part, DailySeries)
        for rows in found[published.section.name][part.query].values()
        for row in rows
    ]
    return max(start, min(days, default=start))


def content_hash(document: Document) -> str:
    """What decides whether a document changed: its numbers, not the day it was computed."""
    numbers = {k: v for k, v in document.items() if k != "as_of"}
    return hashlib.sha256(canonical_json(numbers)).hexdigest()


def canonical_json(document: Mapping[str, Any]) -> bytes:
    return json.dumps(document, sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode()
