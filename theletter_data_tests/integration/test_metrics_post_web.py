"""post_web_performance on hand-made page views and signups, both warehouses; and its dashboard
section, the posts that brought subscribers.

D is 2026-11-20. nl_1's human page views on D:
- v1, visit s1: lands on the home page from search, then reads po_1 twice   -> po_1, search
- v2, visit s2: lands on po_1 from social; visit s3: comes back from email    -> po_1, both
- v3, visit s4: lands on po_2 directly                                      -> po_2, direct
- a crawler on po_2 and on po_3 (po_3 gets no row); v1 reads po_1 on D+1 (not D's).
nl_1's signups on D (newsletter_signup_sources): 2 on po_1's page from search (1 paid), 1 from
social and a paid conversion of a reader who signed up there; 1 on po_4's page, whose views the
beacon never saw; 3 on the home page and 1 unrecorded (no post).
"""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from theletter_data.metrics.newsletter_signup_sources import NEWSLETTER_SIGNUP_SOURCES
from theletter_data.metrics.post_web_performance import (
    POST_WEB_PERFORMANCE,
    post_web_performance,
)
from theletter_data.serving.documents import build_documents, validate
from theletter_data.staging.app_exports import NEWSLETTERS, POSTS
from theletter_data.staging.page_views import STG_PAGE_VIEWS
from theletter_data_tests.support.rawdata import utc
from theletter_data_tests.support.staged import (
    checks_passed,
    create_empty_tables,
    materialize,
    rows_of,
    write_rows,
)

D = date(2026, 11, 20)
NEXT = D + timedelta(days=1)


def view(event_id, at, visitor, session, source, post, bot=False, day=D):
    return {
        "event_date": day, "event_at": utc(f"{day} {at}"), "event_id": event_id,
        "newsletter_id": "nl_1", "post_id": post, "url_path": f"/posts/{post}" if post else "/",
        "source_category": source, "visitor_id": visitor, "session_id": session,
        "device_type": "bot" if bot else "mobile", "is_bot": bot, "source_object": "x.gz",
    }  # fmt: skip


def signups(page, category, post, n, free, paid, conversions=0, day=D):
    return {
        "date": day, "newsletter_id": "nl_1", "signup_page": page, "source_category": category,
        "post_id": post, "signups": n, "free_signups": free, "paid_signups": paid,
        "paid_conversions": conversions,
    }  # fmt: skip


@pytest.fixture
def traffic(warehouse):
    write_rows(warehouse, STG_PAGE_VIEWS, [
        view("a", "01:00:00", "v1", "s1", "search", None),
        view("b", "01:05:00", "v1", "s1", "internal", "po_1"),
        view("c", "01:06:00", "v1", "s1", "internal", "po_1"),
        view("d", "02:00:00", "v2", "s2", "social", "po_1"),
        view("e", "09:00:00", "v2", "s3", "email", "po_1"),
        view("f", "03:00:00", "v3", "s4", "direct", "po_2"),
        view("g", "04:00:00", "bot", "sb1", "direct", "po_2", bot=True),
        view("h", "04:00:01", "bot", "sb2", "direct", "po_3", bot=True),
        view("i", "01:00:00", "v1", "s9", "direct", "po_1", day=NEXT),
    ], D, NEXT + timedelta(days=1))  # fmt: skip
    write_rows(warehouse, NEWSLETTER_SIGNUP_SOURCES, [
        signups("post", "search", "po_1", 2, 1, 1),
        signups("post", "social", "po_1", 1, 1, 0, conversions=1),
        signups("post", "direct", "po_4", 1, 1, 0),
        signups("home", "direct", "(none)", 3, 3, 0),
        signups("unknown", "unknown", "(none)", 1, 1, 0),
    ], D, NEXT + timedelta(days=1))  # fmt: skip


def test_posts_page_views_visitors_by_source_and_the_signups_they_brought(warehouse, traffic):
    result = materialize(post_web_performance, warehouse, str(D))

    assert result.success and all(checks_passed(result).values())
    rows = {r.pop("post_id"): r for r in rows_of(warehouse, POST_WEB_PERFORMANCE, "post_id")}
    assert set(rows) == {"po_1", "po_2", "po_4"}
    assert all(r.pop("date") == D and r.pop("newsletter_id") == "nl_1" for r in rows.values())
    zero = dict.fromkeys(rows["po_1"], 0)
    assert rows["po_1"] == {
        **zero, "page_views": 4, "visits": 3, "unique_visitors": 2, "search_visitors": 1,
        "social_visitors": 1, "email_visitors": 1, "signups": 3, "free_signups": 2,
        "paid_signups": 1, "paid_conversions": 1,
    }  # fmt: skip
    assert rows["po_2"] == {
        **zero,
        "page_views": 1,
        "visits": 1,
        "unique_visitors": 1,
        "direct_visitors": 1,
    }
    assert rows["po_4"] == {**zero, "signups": 1, "free_signups": 1}


def test_the_posts_that_brought_subscribers_are_in_the_documents(warehouse, traffic):
    """The section's query on both warehouses: the posts by signups with their titles (none
    for a post the export does not have); po_2 brought none."""
    materialize(post_web_performance, warehouse, str(D))
    new = {"snapshot_date": D, "created_at": utc("2026-01-01 00:00:00")}
    write_rows(
        warehouse, NEWSLETTERS.table, [{**new, "newsletter_id": "nl_1", "slug": "one"}], D, NEXT
    )
    write_rows(warehouse, POSTS.table, [
        {"snapshot_date": D, "post_id": "po_1", "newsletter_id": "nl_1", "title": "Hello",
         "status": "published", "emailed": True},
    ], D, NEXT)  # fmt: skip
    create_empty_tables(warehouse)  # the other sections' tables

    (doc,) = build_documents(warehouse, D).values()

    validate(doc)
    assert doc["signup_sources"]["by_source"][0] == {
        "category": "direct", "signups": 4, "free_signups": 4, "paid_signups": 0,
        "paid_conversions": 0,
    }  # fmt: skip
    section = doc["signup_posts"]
    assert section["days"] == 30
    assert section["posts"] == [
        {"post_id": "po_1", "title": "Hello", "signups": 3, "free_signups": 2,
         "paid_signups": 1, "paid_conversions": 1, "page_views": 4},
        {"post_id": "po_4", "title": None, "signups": 1, "free_signups": 1, "paid_signups": 0,
         "paid_conversions": 0, "page_views": 0},
    ]  # fmt: skip
