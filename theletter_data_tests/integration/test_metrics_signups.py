"""newsletter_signup_sources on hand-made snapshots, both warehouses.

D is 2026-11-20 (Japan time: UTC D-1 15:00 to D 15:00). Snapshots of D-1 and D. nl_1's
subscriptions, with where their readers signed up (page, the visit's source, post):
- a: started D 10:00 JST on po_1's page from search, free            -> post/search/po_1 signup
- b: started D 23:59:59 JST, same place, paid at once                  -> the same row, paid
- c: started D 00:00 JST (D-1 15:00 UTC) on the home page, direct      -> home/direct signup
- d: started D-1 on the home page from social, free then; paid on D    -> a conversion on D
- e: imported on D                                                     -> import/import
- f: started on D, nothing recorded                                    -> unknown/unknown
- g: started on D on po_2's page from another newsletter, left on D   -> still a signup
- h: started D-30, paid on D-1 and D                                   -> nothing on D
- j: started D-10, free on D-1 and D                                   -> nothing on D
- k: started D+1 00:00 JST (D 15:00 UTC), only in D+1's snapshot       -> nothing on D
nl_2: i started on D on po_9's page from social.
"""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from theletter_data.metrics.newsletter_signup_sources import (
    NEWSLETTER_SIGNUP_SOURCES,
    newsletter_signup_sources,
)
from theletter_data.serving.documents import build_documents, validate
from theletter_data.staging.app_exports import NEWSLETTERS, SUBSCRIPTIONS
from theletter_data_tests.support.rawdata import utc
from theletter_data_tests.support.staged import (
    checks_passed,
    create_empty_tables,
    materialize,
    rows_of,
    write_rows,
    write_snapshots,
)

D = date(2026, 11, 20)
BEFORE = D - timedelta(days=1)
AFTER = D + timedelta(days=1)


def sub(sid, snapshot, started, page=None, category=None, post=None, plan="free", **extra):
    return {
        "snapshot_date": snapshot,
        "subscription_id": sid,
        "newsletter_id": extra.get("newsletter", "nl_1"),
        "reader_hash": f"reader-{sid}",
        "plan": plan,
        "subscribed_at": utc(started),
        "unsubscribed_at": utc(extra["left"]) if "left" in extra else None,
        "is_active": "left" not in extra,
        "signup_source": page,
        "signup_post_id": post,
        "signup_source_category": category,
    }


def snapshot(day: date) -> list[dict]:
    """The snapshot at the end of `day`: D-1, D or D+1."""
    rows = [
        sub("h", day, "2026-10-21 03:00:00", "home", "search", plan="paid"),
        sub("j", day, "2026-11-10 03:00:00", "post", "social", "po_1"),
        sub("d", day, "2026-11-19 02:00:00", "home", "social", plan="free" if day < D else "paid"),
    ]
    if day >= D:
        rows += [
            sub("a", day, "2026-11-20 01:00:00", "post", "search", "po_1"),
            sub("b", day, "2026-11-20 14:59:59", "post", "search", "po_1", plan="paid"),
            sub("c", day, "2026-11-19 15:00:00", "home", "direct"),
            sub("e", day, "2026-11-20 05:00:00", "import"),
            sub("f", day, "2026-11-20 06:00:00"),
            sub("g", day, "2026-11-20 07:00:00", "post", "other_newsletter", "po_2",
                left="2026-11-20 09:00:00"),
            sub("i", day, "2026-11-20 08:00:00", "post", "social", "po_9", newsletter="nl_2"),
        ]  # fmt: skip
    if day > D:
        rows.append(sub("k", day, "2026-11-20 15:00:00", "home", "direct"))
    return rows


@pytest.fixture
def snapshots(warehouse):
    rows = [*snapshot(BEFORE), *snapshot(D), *snapshot(AFTER)]
    write_snapshots(warehouse, SUBSCRIPTIONS.table, rows, BEFORE, AFTER + timedelta(days=1))


def figures(rows: list[dict], day: date) -> dict[tuple, tuple]:
    return {
        (r["newsletter_id"], r["signup_page"], r["source_category"], r["post_id"]): (
            r["signups"],
            r["free_signups"],
            r["paid_signups"],
            r["paid_conversions"],
        )
        for r in rows
        if r["date"] == day
    }


def test_signups_are_counted_by_page_source_and_post_free_and_paid_apart(warehouse, snapshots):
    result = materialize(newsletter_signup_sources, warehouse, str(D))

    assert result.success and all(checks_passed(result).values())
    rows = rows_of(warehouse, NEWSLETTER_SIGNUP_SOURCES, "newsletter_id, post_id, signup_page")
    assert figures(rows, D) == {
        # (signups, free, paid, paid conversions)
        ("nl_1", "post", "search", "po_1"): (2, 1, 1, 0),
        ("nl_1", "post", "other_newsletter", "po_2"): (1, 1, 0, 0),
        ("nl_1", "home", "direct", "(none)"): (1, 1, 0, 0),
        ("nl_1", "home", "social", "(none)"): (0, 0, 0, 1),
        ("nl_1", "import", "import", "(none)"): (1, 1, 0, 0),
        ("nl_1", "unknown", "unknown", "(none)"): (1, 1, 0, 0),
        ("nl_2", "post", "social", "po_9"): (1, 1, 0, 0),
    }
    assert {r["date"] for r in rows} == {D}


def test_a_day_run_alone_gives_the_same_rows_as_a_range_run(warehouse, snapshots):
    """D-1 (its snapshot has no day before: d's signup, no conversion), D and D+1 (k)."""
    materialize(newsletter_signup_sources, warehouse, str(BEFORE), str(AFTER))
    order = "date, newsletter_id, post_id, signup_page, source_category"
    from_range = rows_of(warehouse, NEWSLETTER_SIGNUP_SOURCES, order)
    assert figures(from_range, BEFORE) == {("nl_1", "home", "social", "(none)"): (1, 1, 0, 0)}
    assert figures(from_range, AFTER) == {("nl_1", "home", "direct", "(none)"): (1, 1, 0, 0)}
    materialize(newsletter_signup_sources, warehouse, str(D))
    assert rows_of(warehouse, NEWSLETTER_SIGNUP_SOURCES, order) == from_range


def test_where_subscribers_came_from_is_in_the_documents(warehouse, snapshots):
    """The section's query on both warehouses, over D-1 and D: by source, most first."""
    materialize(newsletter_signup_sources, warehouse, str(BEFORE), str(D))
    new = {"snapshot_date": D, "created_at": utc("2026-01-01 00:00:00")}
    write_rows(warehouse, NEWSLETTERS.table, [
        {**new, "newsletter_id": "nl_1", "slug": "one"},
        {**new, "newsletter_id": "nl_3", "slug": "three"},
    ], D, AFTER)  # fmt: skip
    create_empty_tables(warehouse)  # the other sections' tables

    docs = build_documents(warehouse, D)

    for doc in docs.values():
        validate(doc)
    assert [
        (s["category"], s["signups"], s["free_signups"], s["paid_signups"], s["paid_conversions"])
        for s in docs["nl_1"]["signup_sources"]["by_source"]
    ] == [
        ("search", 2, 1, 1, 0),
        ("direct", 1, 1, 0, 0),
        ("import", 1, 1, 0, 0),
        ("other_newsletter", 1, 1, 0, 0),
        ("social", 1, 1, 0, 1),  # d: signed up on D-1 from social, upgraded on D
        ("unknown", 1, 1, 0, 0),
    ]
    assert docs["nl_3"]["signup_sources"] == {"days": 30, "by_source": []}
