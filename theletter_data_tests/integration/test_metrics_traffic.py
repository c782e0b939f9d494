"""newsletter_daily_traffic and newsletter_traffic_sources on hand-made page views."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from theletter_data.metrics.newsletter_daily_traffic import (
    NEWSLETTER_DAILY_TRAFFIC,
    newsletter_daily_traffic,
)
from theletter_data.metrics.newsletter_traffic_sources import (
    NEWSLETTER_TRAFFIC_SOURCES,
    newsletter_traffic_sources,
)
from theletter_data.staging.page_views import STG_PAGE_VIEWS
from theletter_data_tests.support.rawdata import utc
from theletter_data_tests.support.staged import checks_passed, materialize, rows_of, write_rows

D = date(2026, 11, 20)


def view(event_id, at, visitor, session, source="direct", domain=None, post="po_1", bot=False,
         newsletter="nl_1"):  # fmt: skip
    return {
        "event_date": D, "event_at": utc(at), "event_id": event_id, "newsletter_id": newsletter,
        "post_id": post, "url_path": f"/posts/{post}" if post else "/",
        "referrer_domain": domain, "source_category": source, "visitor_id": visitor,
        "session_id": session, "device_type": "bot" if bot else "mobile", "is_bot": bot,
        "source_object": "pageviews/x.gz",
    }  # fmt: skip


@pytest.fixture
def page_views(warehouse):
    rows = [
        # Visitor v1, visit s1: lands from Google, then reads another post (internal).
        view("a", "2026-11-20 01:00:00", "v1", "s1", "search", "google.co.jp"),
        view("b", "2026-11-20 01:05:00", "v1", "s1", "internal", "tokyo.theletter.jp", post="po_2"),
        # Visitor v1 comes back later directly to the home page: visit s2.
        view("c", "2026-11-20 09:00:00", "v1", "s2", post=None),
        # Visitor v2 clicks the email: visit s3.
        view("d", "2026-11-20 02:00:00", "v2", "s3", "email"),
        # Crawlers: counted apart; nl_2 has only bot traffic, so no row of its own.
        view("e", "2026-11-20 03:00:00", "bot1", "sb1", bot=True),
        view("f", "2026-11-20 03:00:01", "bot2", "sb2", bot=True),
        view("g", "2026-11-20 03:00:02", "bot3", "sb3", bot=True, newsletter="nl_2"),
    ]
    write_rows(warehouse, STG_PAGE_VIEWS, rows, D, D + timedelta(days=1))


def test_daily_traffic_counts_people_not_bots(warehouse, page_views):
    result = materialize(newsletter_daily_traffic, warehouse, "2026-11-20")

    assert result.success and all(checks_passed(result).values())
    (row,) = rows_of(warehouse, NEWSLETTER_DAILY_TRAFFIC, "newsletter_id")
    assert row == {
        "date": D,
        "newsletter_id": "nl_1",
        "page_views": 4,
        "unique_visitors": 2,
        "visits": 3,
        "post_page_views": 3,
        "bot_page_views": 2,
        "page_views_per_visit": pytest.approx(4 / 3),
    }


def test_a_visit_counts_for_the_source_it_landed_from(warehouse, page_views):
    result = materialize(newsletter_traffic_sources, warehouse, "2026-11-20")

    assert result.success and all(checks_passed(result).values())
    rows = rows_of(warehouse, NEWSLETTER_TRAFFIC_SOURCES, "source_category")
    assert [
        (r["source_category"], r["referrer_domain"], r["page_views"], r["visits"],
         r["unique_visitors"])
        for r in rows
    ] == [
        ("direct", "(none)", 1, 1, 1),
        ("email", "(none)", 1, 1, 1),
        ("search", "google.co.jp", 2, 1, 1),  # the internal page view belongs to this visit
    ]  # fmt: skip


def test_rerunning_a_day_replaces_its_rows(warehouse, page_views):
    materialize(newsletter_daily_traffic, warehouse, "2026-11-20")
    materialize(newsletter_daily_traffic, warehouse, "2026-11-20")
    assert len(rows_of(warehouse, NEWSLETTER_DAILY_TRAFFIC, "newsletter_id")) == 1
