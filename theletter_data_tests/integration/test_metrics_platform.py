"""The business overview: platform_daily_kpis on a hand-made day of every staged table, and
platform_top_newsletters on a hand-made month of subscriber growth."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from theletter_data.metrics.metric_asset import BUSINESS, metric_asset
from theletter_data.metrics.newsletter_daily_traffic import NEWSLETTER_DAILY_TRAFFIC
from theletter_data.metrics.newsletter_subscriber_growth import NEWSLETTER_SUBSCRIBER_GROWTH
from theletter_data.metrics.platform_daily_kpis import PLATFORM_DAILY_KPIS, platform_daily_kpis
from theletter_data.metrics.platform_top_newsletters import (
    PLATFORM_TOP_NEWSLETTERS,
    platform_top_newsletters,
)
from theletter_data.staging.app_exports import NEWSLETTERS, POSTS, SUBSCRIPTIONS
from theletter_data.staging.email_events import STG_EMAIL_EVENTS
from theletter_data.staging.page_views import STG_PAGE_VIEWS
from theletter_data_tests.support.rawdata import utc
from theletter_data_tests.support.staged import (
    checks_passed,
    materialize,
    rows_of,
    write_rows,
    write_snapshots,
)

D = date(2026, 11, 20)
NEXT = D + timedelta(days=1)


def email(event_type, recipient, newsletter="nl_1", **extra):
    return {
        "event_date": D, "event_at": utc("2026-11-20 01:00:00"),
        "event_id": f"{event_type}-{recipient}-{newsletter}", "event_type": event_type,
        "message_id": f"m-{recipient}", "sent_at": utc("2026-11-20 00:00:00"),
        "newsletter_id": newsletter, "post_id": "po_1", "recipient_hash": recipient,
        "source_object": "x", **extra,
    }  # fmt: skip


def view(event_id, visitor, newsletter="nl_1", bot=False):
    return {
        "event_date": D, "event_at": utc("2026-11-20 02:00:00"), "event_id": event_id,
        "newsletter_id": newsletter, "url_path": "/", "source_category": "direct",
        "visitor_id": visitor, "session_id": f"s-{visitor}", "device_type": "mobile",
        "is_bot": bot, "source_object": "x",
    }  # fmt: skip


def test_one_day_of_the_business_overview(warehouse):
    write_rows(warehouse, STG_EMAIL_EVENTS, [
        *(email("send", r) for r in "abcd"),
        *(email("delivery", r) for r in "abc"),
        email("bounce", "d"),
        email("complaint", "c"),
        email("open", "a", is_machine_open=True),  # machine: not an active reader
        email("open", "b", is_machine_open=False),
        email("click", "c"),
    ], D, NEXT)  # fmt: skip
    write_rows(warehouse, STG_PAGE_VIEWS, [
        view("p1", "v1"), view("p2", "v1"), view("p3", "v2", newsletter="nl_3"),
        view("p4", "crawler", newsletter="nl_4", bot=True),
    ], D, NEXT)  # fmt: skip
    write_rows(warehouse, NEWSLETTERS.table, [
        {"snapshot_date": D, "newsletter_id": n, "slug": n, "created_at": utc("2026-01-01 00:00")}
        for n in ("nl_1", "nl_2", "nl_3", "nl_4")
    ], D, NEXT)  # fmt: skip
    write_rows(warehouse, POSTS.table, [
        {"snapshot_date": D, "post_id": "po_1", "newsletter_id": "nl_1", "status": "published",
         "published_at": utc("2026-11-20 00:00:00"), "emailed": True},
        {"snapshot_date": D, "post_id": "po_0", "newsletter_id": "nl_1", "status": "published",
         "published_at": utc("2026-11-01 00:00:00"), "emailed": True},
        {"snapshot_date": D, "post_id": "po_2", "newsletter_id": "nl_2", "status": "draft",
         "emailed": False},
    ], D, NEXT)  # fmt: skip
    write_snapshots(warehouse, SUBSCRIPTIONS.table, [
        {"snapshot_date": D, "subscription_id": "s1", "newsletter_id": "nl_1", "reader_hash": "r1",
         "plan": "paid", "subscribed_at": utc("2026-11-20 01:00:00"), "is_active": True},
        {"snapshot_date": D, "subscription_id": "s2", "newsletter_id": "nl_2", "reader_hash": "r1",
         "plan": "free", "subscribed_at": utc("2026-10-01 00:00:00"), "is_active": True},
        {"snapshot_date": D, "subscription_id": "s3", "newsletter_id": "nl_2", "reader_hash": "r2",
         "plan": "free", "subscribed_at": utc("2026-10-01 00:00:00"),
         "unsubscribed_at": utc("2026-11-20 02:00:00"), "is_active": False},
    ], D, NEXT)  # fmt: skip

    result = materialize(platform_daily_kpis, warehouse, "2026-11-20")

    assert result.success and all(checks_passed(result).values())
    (row,) = rows_of(warehouse, PLATFORM_DAILY_KPIS, "date")
    assert row == {
        "date": D,
        "active_readers": 2,  # b read it, c clicked
        "unique_visitors": 2,
        "page_views": 3,
        "emails_sent": 4,
        "emails_delivered": 3,
        "emails_bounced": 1,
        "spam_complaints": 1,
        "bounce_rate": pytest.approx(0.25),
        "complaint_rate": pytest.approx(1 / 3),
        "newsletters_total": 4,
        "newsletters_active": 2,  # nl_1 sent, nl_3 was read; nl_4 only had a crawler
        "newsletters_sending": 1,
        "posts_published": 1,
        "new_subscriptions": 1,
        "ended_subscriptions": 1,
        "active_subscriptions": 2,
        "paid_subscriptions": 1,
        "subscribed_readers": 1,
    }
    # The UI's plotted figures: rates to four significant digits, not 0.3333333333333333.
    (materialization,) = result.asset_materializations_for_node("platform_daily_kpis")
    plotted = {k: materialization.metadata[k].value for k in ("bounce_rate", "complaint_rate")}
    assert plotted == {"bounce_rate": 0.25, "complaint_rate": 0.3333}


def test_a_day_without_data_still_has_a_row_of_zeros(warehouse):
    for table in (STG_EMAIL_EVENTS, STG_PAGE_VIEWS, NEWSLETTERS.table, POSTS.table):
        write_rows(warehouse, table, [], NEXT, NEXT + timedelta(days=1))
    write_snapshots(warehouse, SUBSCRIPTIONS.table, [], NEXT, NEXT + timedelta(days=1))
    materialize(platform_daily_kpis, warehouse, "2026-11-21")
    (row,) = rows_of(warehouse, PLATFORM_DAILY_KPIS, "date")
    assert row["date"] == NEXT and row["emails_sent"] == 0 and row["bounce_rate"] is None


def test_a_missing_staged_table_fails_at_once_without_retries(warehouse):
    result = materialize(platform_daily_kpis, warehouse, "2026-11-21", raise_on_error=False)
    assert not result.success
    failure = result.failure_data_for_node("platform_daily_kpis")
    assert "Permanent error, not retried" in failure.error.message
    assert "staging" in failure.error.message  # DuckDB names the table, BigQuery the dataset
    assert not [e for e in result.all_events if e.event_type_value == "STEP_UP_FOR_RETRY"]


def four_newsletters_growing(warehouse) -> None:
    """nl_a gains 2 a day for 30 days from 100; nl_b gains 90 in its last 6 days from 50; nl_c
    loses 1 a day from 80; nl_d (launched 11 days ago) gains 4 a day; nl_b's site has 10 page
    views a day."""
    first = D - timedelta(days=30)
    growth = []
    for i in range(31):
        day = first + timedelta(days=i)
        for newsletter, net in (
            ("nl_a", 0 if i == 0 else 2),
            ("nl_b", 0 if i < 25 else 15),
            ("nl_c", 0 if i == 0 else -1),
        ):
            growth.append({"date": day, "newsletter_id": newsletter, "net_change": net})
        if i >= 20:
            growth.append({"date": day, "newsletter_id": "nl_d", "net_change": 4})
    totals: dict[str, int] = {"nl_a": 100, "nl_b": 50, "nl_c": 80, "nl_d": 0}
    for row in growth:
        totals[row["newsletter_id"]] += row["net_change"]
        row |= {
            "new_subscribers": max(row["net_change"], 0),
            "lost_subscribers": max(-row["net_change"], 0),
            "total_subscribers": totals[row["newsletter_id"]],
            "paid_subscribers": 0,
        }
    write_rows(warehouse, NEWSLETTER_SUBSCRIBER_GROWTH, growth, first, NEXT)
    write_rows(warehouse, NEWSLETTER_DAILY_TRAFFIC, [
        {"date": D - timedelta(days=d), "newsletter_id": "nl_b", "page_views": 10,
         "unique_visitors": 5, "visits": 6, "post_page_views": 8, "bot_page_views": 0,
         "page_views_per_visit": 10 / 6}
        for d in range(35)  # 30 of them inside the window
    ], D - timedelta(days=34), NEXT)  # fmt: skip
    write_rows(warehouse, NEWSLETTERS.table, [
        {"snapshot_date": D, "newsletter_id": "nl_b", "slug": "b", "name": "B | weekly",
         "created_at": utc("2026-01-01 00:00:00")},
    ], D, NEXT)  # fmt: skip


def test_the_newsletters_that_grew_most_over_30_days(warehouse):
    """Ranked by the 30-day net change."""
    four_newsletters_growing(warehouse)

    result = materialize(platform_top_newsletters, warehouse, "2026-11-20")

    assert result.success and all(checks_passed(result).values())
    rows = rows_of(warehouse, PLATFORM_TOP_NEWSLETTERS, "rank")
    assert [
        (r["rank"], r["newsletter_id"], r["subscribers"], r["net_change_7d"], r["net_change_30d"])
        for r in rows
    ] == [
        (1, "nl_b", 140, 90, 90),
        (2, "nl_a", 160, 14, 60),
        (3, "nl_d", 44, 28, 44),
        (4, "nl_c", 50, -7, -30),
    ]
    growth_rate = {r["newsletter_id"]: r["growth_rate_30d"] for r in rows}
    assert growth_rate["nl_b"] == pytest.approx(90 / 50)
    assert growth_rate["nl_c"] == pytest.approx(-30 / 80)
    assert growth_rate["nl_d"] is None  # no subscribers 30 days before
    assert rows[0]["page_views_30d"] == 300 and rows[0]["newsletter_name"] == "B | weekly"
    (materialization,) = result.asset_materializations_for_node("platform_top_newsletters")
    overview = materialization.metadata["overview"].value
    assert overview.splitlines()[2] == "| 1 | B \\| weekly | 140 | 90 | 90 | 180.00% | 300 |"
    assert materialization.metadata["overview_day"].value == "2026-11-20"
    # nl_d's empty growth rate is explained under the table.
    assert overview.endswith(
        "_growth_rate_30d is empty where nothing was subscribed 30 days before the day: a "
        "newsletter launched within the month, or subscriber history shorter than 30 days "
        "(the demo's four weeks)._"
    )


def test_the_ranking_follows_its_declared_constants(warehouse):
    """The length of the ranking and its window are declared once, in Python, and bound as
    parameters: declared as 2 newsletters over 7 days, the same SQL ranks by the 7-day change
    and keeps two (bound nowhere, a literal `rank <= 20` would keep all four)."""
    four_newsletters_growing(warehouse)
    top_two_of_the_week = metric_asset(
        table=PLATFORM_TOP_NEWSLETTERS,
        upstream=[],
        params={"top": 2, "window_days": 7},
        description="The two newsletters that grew most over 7 days.",
        owner=BUSINESS,
    )

    result = materialize(top_two_of_the_week, warehouse, "2026-11-20")

    assert result.success and all(checks_passed(result).values())
    rows = rows_of(warehouse, PLATFORM_TOP_NEWSLETTERS, "rank")
    assert [
        (r["rank"], r["newsletter_id"], r["net_change_30d"], r["growth_rate_30d"],
         r["page_views_30d"])
        for r in rows
    ] == [(1, "nl_b", 90, 90 / 50, 70), (2, "nl_d", 28, 28 / 16, 0)]  # fmt: skip


def test_the_kpis_show_in_the_ui_as_a_table_and_plotted_numbers(warehouse):
    for table in (STG_EMAIL_EVENTS, STG_PAGE_VIEWS, NEWSLETTERS.table, POSTS.table):
        write_rows(warehouse, table, [], D, NEXT + timedelta(days=1))
    write_rows(warehouse, STG_EMAIL_EVENTS, [email("send", r) for r in "ab"], D, NEXT)
    write_snapshots(warehouse, SUBSCRIPTIONS.table, [], D, NEXT + timedelta(days=1))
    result = materialize(platform_daily_kpis, warehouse, "2026-11-20", "2026-11-21")
    # One materialization per partition of the range, each with its own day's figures (which
    # the Plots tab draws day by day) and the overview up to that day.
    metadata = {
        m.partition: m.metadata
        for m in result.asset_materializations_for_node("platform_daily_kpis")
    }
    assert {
        day: (m["overview_day"].value, m["emails_sent"].value) for day, m in metadata.items()
    } == {
        "2026-11-20": ("2026-11-20", 2),
        "2026-11-21": ("2026-11-21", 0),
    }
    lines = metadata["2026-11-21"]["overview"].value.splitlines()
    assert lines[0].startswith("| date | active_readers | unique_visitors | emails_sent |")
    assert lines[2].startswith("| 2026-11-21 | 0 | 0 | 0 |")  # newest first
    assert lines[3].startswith("| 2026-11-20 | 0 | 0 | 2 |")
    assert len(metadata["2026-11-20"]["overview"].value.splitlines()) == 3  # up to its own day
    assert metadata["2026-11-21"]["active_subscriptions"].value == 0
