"""The app database's nightly snapshots staged from hand-built exports, for their tests
(integration/test_staging_app_exports*.py): days D and NEXT, rows of the exports, and `stage`.
"""

from __future__ import annotations

from datetime import date

from theletter_data.staging.app_exports import SUBSCRIPTIONS, stage_snapshot
from theletter_data_tests.support.rawdata import put_export, utc
from theletter_data_tests.support.staged import snapshots_of

D = date(2026, 11, 20)
NEXT = date(2026, 11, 21)
AS_OF = snapshots_of(SUBSCRIPTIONS.table)
"""stg_subscriptions per snapshot day, as the metrics read it."""


def subscription(sid: str, email: str, subscribed: str, unsubscribed: str | None = None, **extra):
    return {
        "subscription_id": sid,
        "newsletter_id": "nl_1",
        "reader_id": f"rd_{sid}",
        "email": email,
        "plan": "free",
        "subscribed_at": utc(subscribed),
        "unsubscribed_at": utc(unsubscribed) if unsubscribed else None,
        "updated_at": utc(subscribed),
        **extra,
    }


def stage(resources, export=SUBSCRIPTIONS, day=D):
    return stage_snapshot(
        export,
        day,
        lake=resources["lake"],
        engine=resources["ingest_engine"],
        pseudonymizer=resources["pseudonymizer"],
        warehouse=resources["warehouse"],
    )


def put_newsletters(lake, *days: date, ids=("nl_1",)) -> None:  # type: ignore[no-untyped-def]
    for day in days:
        put_export(lake, "newsletters", day, [
            {"newsletter_id": i, "slug": i.replace("_", "-"), "name": f"Newsletter {i}",
             "category": "tech", "author_id": "au_1", "created_at": utc("2026-01-01 00:00:00"),
             "updated_at": utc("2026-01-01 00:00:00")}
            for i in ids
        ])  # fmt: skip


def ten_subscriptions() -> list[dict]:
    """10 subscriptions of nl_1: 4 cancelled before D ended, 3 paid; 5 signed up on a post."""
    return [
        subscription(
            f"s{i}",
            f"reader{i}@example.jp",
            "2026-11-01 00:00:00",
            "2026-11-10 00:00:00" if i < 4 else None,
            plan="paid" if i >= 7 else "free",
            signup_source="post" if i % 2 else "home",
            signup_post_id="po_1" if i % 2 else None,
            signup_referrer="https://www.google.com/" if i % 2 else None,
        )
        for i in range(10)
    ]


def post(pid: str, title: str | None = "Hello") -> dict:
    return {
        "post_id": pid,
        "newsletter_id": "nl_1",
        "title": title,
        "status": "published",
        "published_at": utc("2026-11-02 00:00:00"),
        "emailed": True,
        "created_at": utc("2026-11-01 00:00:00"),
        "updated_at": utc("2026-11-02 00:00:00"),
    }


def renamed(rows: list[dict], column: str) -> list[dict]:
    return [{(f"{column}_v2" if k == column else k): v for k, v in row.items()} for row in rows]
