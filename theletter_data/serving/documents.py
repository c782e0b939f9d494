"""The authors' dashboard documents: one JSON document per newsletter, built from the metric
tables so that the web app reads one small object instead of querying the warehouse (slow, and
billed per query) on every page view.

Every section is one query over all newsletters (written once, BigQuery dialect, run on either
warehouse), grouped here by newsletter: a document only ever receives its own newsletter's rows,
and only aggregates (no address, pseudonym or visitor id). The shape is
`newsletter_dashboard.v1.schema.json`; every document is validated against it before it is
published.
"""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from collections.abc import Iterable, Mapping
from datetime import date, datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema

from theletter_data.metrics.newsletter_subscriber_cohorts import NEWSLETTER_SUBSCRIBER_COHORTS
from theletter_data.resources.warehouse import Warehouse
from theletter_data.sql import read_sql

SCHEMA_VERSION = "1"
SCHEMA_PATH = Path(__file__).parent / "newsletter_dashboard.v1.schema.json"
SERIES_DAYS = 90
SHORT_PERIOD_DAYS = 30
RECENT_POSTS = 20
TOP_REFERRERS = 10

Document = dict[str, Any]
_Rows = dict[str, list[dict[str, Any]]]


@cache
def schema() -> dict[str, Any]:
    return json.loads(SCHEMA_PATH.read_text())


def validate(document: Document) -> None:
    """Raise `jsonschema.ValidationError` if the document breaks the published contract."""
    jsonschema.validate(document, schema(), format_checker=jsonschema.FormatChecker())


def build_documents(warehouse: Warehouse, as_of: date) -> dict[str, Document]:
    """Every newsletter's dashboard document with the numbers up to and including `as_of`."""
    end = as_of + timedelta(days=1)
    params = {
        "as_of": as_of,
        "start_date": end - timedelta(days=SERIES_DAYS),
        "start_30": end - timedelta(days=SHORT_PERIOD_DAYS),
        "end_date": end,
    }

    def rows(name: str) -> _Rows:
        by_newsletter: _Rows = defaultdict(list)
        sql = read_sql(__file__, name)
        used = {k: v for k, v in params.items() if f"@{k}" in sql}
        for row in warehouse.query(sql, used).to_pylist():
            by_newsletter[row.pop("newsletter_id")].append(row)
        return by_newsletter

    newsletters = rows("newsletters")
    traffic, totals = rows("traffic_daily"), rows("traffic_totals")
    sources, posts = rows("traffic_sources"), rows("recent_posts")
    subscribers = rows("subscribers_daily")
    # Cohorts are measured once a week ends: before the first week, there are none to show.
    measured = warehouse.has_table(NEWSLETTER_SUBSCRIBER_COHORTS)
    cohorts = rows("cohorts") if measured else defaultdict(list)
    documents = {}
    for newsletter_id, (newsletter,) in sorted(newsletters.items()):
        documents[newsletter_id] = {
            "schema_version": SCHEMA_VERSION,
            "newsletter": {"id": newsletter_id, **newsletter},
            "as_of": as_of.isoformat(),
            "traffic": _traffic(traffic[newsletter_id], totals[newsletter_id]),
            "traffic_sources": _sources(sources[newsletter_id]),
            "recent_posts": _posts(posts[newsletter_id]),
            "subscribers": _subscribers(subscribers[newsletter_id]),
            "cohorts": _cohorts(cohorts[newsletter_id]),
        }
    return documents


def content_hash(document: Document) -> str:
    """What decides whether a document changed: its numbers, not the day it was computed."""
    numbers = {k: v for k, v in document.items() if k != "as_of"}
    return hashlib.sha256(canonical_json(numbers)).hexdigest()


def canonical_json(document: Mapping[str, Any]) -> bytes:
    return json.dumps(document, sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode()


def _traffic(daily: list[dict[str, Any]], totals: list[dict[str, Any]]) -> dict[str, Any]:
    total = totals[0] if totals else {}
    return {
        "last_30_days": {
            "days": SHORT_PERIOD_DAYS,
            "page_views": int(total.get("page_views_30d", 0)),
            "unique_visitors": int(total.get("unique_visitors_30d", 0)),
        },
        "last_90_days": {
            "days": SERIES_DAYS,
            "page_views": int(total.get("page_views_90d", 0)),
            "unique_visitors": int(total.get("unique_visitors_90d", 0)),
        },
        "daily": [
            {
                "date": _day(row["date"]),
                "page_views": row["page_views"],
                "unique_visitors": row["unique_visitors"],
                "visits": row["visits"],
            }
            for row in sorted(daily, key=lambda r: r["date"])
        ],
    }


def _sources(rows: list[dict[str, Any]]) -> dict[str, Any]:
    by_category: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for row in rows:
        by_category[row["source_category"]][0] += row["page_views"]
        by_category[row["source_category"]][1] += row["visits"]
    referrers = [r for r in rows if r["referrer_domain"] != "(none)"]
    return {
        "days": SHORT_PERIOD_DAYS,
        "by_category": [
            {"category": category, "page_views": views, "visits": visits}
            for category, (views, visits) in _most_first(by_category.items())
        ],
        "top_referrers": [
            {
                "domain": r["referrer_domain"],
                "category": r["source_category"],
                "page_views": r["page_views"],
                "visits": r["visits"],
            }
            for r in sorted(referrers, key=lambda r: (-r["page_views"], r["referrer_domain"]))[
                :TOP_REFERRERS
            ]
        ],
    }


def _most_first(items: Iterable[tuple[str, list[int]]]) -> list[tuple[str, list[int]]]:
    return sorted(items, key=lambda item: (-item[1][0], item[0]))


def _posts(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    newest = sorted(rows, key=lambda r: (r["first_sent_at"], r["post_id"]), reverse=True)
    return [
        {
            **{k: v for k, v in row.items() if k != "first_sent_at"},
            "first_sent_at": _instant(row["first_sent_at"]),
        }
        for row in newest[:RECENT_POSTS]
    ]


def _subscribers(rows: list[dict[str, Any]]) -> dict[str, Any]:
    daily = [
        {
            "date": _day(row["date"]),
            "new": row["new_subscribers"],
            "lost": row["lost_subscribers"],
            "net": row["net_change"],
            "total": row["total_subscribers"],
            "paid": row["paid_subscribers"],
        }
        for row in sorted(rows, key=lambda r: r["date"])
    ]
    latest = daily[-1] if daily else {"total": 0, "paid": 0}
    return {"total": latest["total"], "paid": latest["paid"], "daily": daily}


def _cohorts(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    by_cohort: dict[date, dict[int, dict[str, Any]]] = defaultdict(dict)
    for row in rows:
        by_cohort[row["cohort_week"]][row["weeks_since_signup"]] = row
    cohorts = []
    for cohort_week, weeks in sorted(by_cohort.items()):
        measured = range(max(weeks) + 1)
        cohorts.append(
            {
                "cohort_week": _day(cohort_week),
                "size": weeks[min(weeks)]["cohort_size"],
                "retention": [weeks[w]["retention_rate"] if w in weeks else None for w in measured],
            }
        )
    return cohorts


def _day(value: date) -> str:
    return value.isoformat()


def _instant(value: datetime) -> str:
    return value.isoformat().replace("+00:00", "Z")
