"""The documents' queries on hand-made rows of every table they read, on DuckDB and on the
BigQuery emulator: each document holds exactly its own newsletter's numbers."""

from __future__ import annotations

from datetime import date, timedelta

from theletter_data.metrics.newsletter_daily_traffic import NEWSLETTER_DAILY_TRAFFIC
from theletter_data.metrics.newsletter_engagement_segments import NEWSLETTER_ENGAGEMENT_SEGMENTS
from theletter_data.metrics.newsletter_subscriber_cohorts import NEWSLETTER_SUBSCRIBER_COHORTS
from theletter_data.metrics.newsletter_subscriber_growth import NEWSLETTER_SUBSCRIBER_GROWTH
from theletter_data.metrics.newsletter_traffic_sources import NEWSLETTER_TRAFFIC_SOURCES
from theletter_data.metrics.post_email_clients import POST_EMAIL_CLIENTS
from theletter_data.metrics.post_email_funnel import POST_EMAIL_FUNNEL
from theletter_data.metrics.post_link_clicks import POST_LINK_CLICKS
from theletter_data.serving.documents import build_documents, validate
from theletter_data.staging.app_exports import NEWSLETTERS, POSTS
from theletter_data.staging.page_views import STG_PAGE_VIEWS
from theletter_data_tests.support.rawdata import utc
from theletter_data_tests.support.staged import create_empty_tables, write_rows


def test_the_documents_queries_run_on_both_warehouses(warehouse) -> None:
    """Two newsletters' hand-made rows of every table the documents read, on DuckDB and on the
    BigQuery emulator: each document holds exactly its own numbers."""
    day = date(2026, 11, 20)
    end = day + timedelta(days=1)
    start = day - timedelta(days=89)
    new = {"snapshot_date": day, "created_at": utc("2026-01-01 00:00:00")}
    write_rows(warehouse, NEWSLETTERS.table, [
        {**new, "newsletter_id": "nl_1", "slug": "one", "name": "One"},
        {**new, "newsletter_id": "nl_2", "slug": "two", "name": None},
    ], day, end)  # fmt: skip
    write_rows(warehouse, POSTS.table, [
        {"snapshot_date": day, "post_id": "po_1", "newsletter_id": "nl_1", "title": "Hello",
         "emailed": True},
    ], day, end)  # fmt: skip
    write_rows(warehouse, STG_PAGE_VIEWS, [
        {"event_date": d, "event_at": utc(f"{d} 01:00:00"), "event_id": f"{d}-{v}",
         "newsletter_id": "nl_1", "url_path": "/", "source_category": "direct",
         "visitor_id": v, "session_id": "s", "device_type": "mobile", "is_bot": False,
         "source_object": "x"}
        for d in (day, day - timedelta(days=40)) for v in ("v1", "v2")
    ], start, end)  # fmt: skip
    traffic = {"unique_visitors": 2, "visits": 2, "post_page_views": 0, "bot_page_views": 0,
               "page_views_per_visit": 1.0}  # fmt: skip
    write_rows(warehouse, NEWSLETTER_DAILY_TRAFFIC, [
        {**traffic, "date": d, "newsletter_id": "nl_1", "page_views": 2}
        for d in (day, day - timedelta(days=40))
    ], start, end)  # fmt: skip
    write_rows(warehouse, NEWSLETTER_TRAFFIC_SOURCES, [
        {"date": day, "newsletter_id": "nl_1", "source_category": "direct",
         "referrer_domain": "(none)", "page_views": 2, "visits": 2, "unique_visitors": 2},
        {"date": day, "newsletter_id": "nl_2", "source_category": "social",
         "referrer_domain": "t.co", "page_views": 7, "visits": 5, "unique_visitors": 5},
    ], start, end)  # fmt: skip
    counts = dict.fromkeys(
        ["sent", "delivered", "bounced", "hard_bounced", "complained", "unique_opens",
         "unique_human_opens", "unique_machine_opens", "unique_clicks", "unsubscribes"], 0,
    )  # fmt: skip
    write_rows(warehouse, POST_EMAIL_FUNNEL, [
        {**counts, "date": d, "newsletter_id": "nl_1", "post_id": "po_1",
         "first_sent_at": utc("2026-11-19 00:00:00"), "days_since_send": n, "sent": 10 + n,
         "delivered": 10, "unique_human_opens": 4 + n, "human_open_rate": (4 + n) / 10}
        for n, d in enumerate((day - timedelta(days=1), day))
    ], start, end)  # fmt: skip
    link = {"newsletter_id": "nl_1", "post_id": "po_1", "first_sent_at": utc("2026-11-19 00:00:00"),
            "post_scanner_clicks": 0, "scanner_clicks": 0}  # fmt: skip
    write_rows(warehouse, POST_LINK_CLICKS, [
        {**link, "date": day - timedelta(days=1), "days_since_send": 0, "link_url": "https://a",
         "unique_clickers": 1, "total_clicks": 1, "post_unique_clickers": 1, "clicker_share": 1.0},
        *({**link, "date": day, "days_since_send": 1, "link_url": url, "link_tags": tags,
           "unique_clickers": n, "total_clicks": n + 1, "post_unique_clickers": 3,
           "clicker_share": n / 3, "scanner_clicks": scanners}
          for url, tags, n, scanners in (
              ("https://a", '{"link_type":["post"]}', 2, 0), ("https://b", None, 3, 4),
              ("https://c", None, 0, 1),
          )),
    ], start, end)  # fmt: skip
    opens = dict.fromkeys(
        [c.name for c in POST_EMAIL_CLIENTS.columns if c.type == "INT64"], 0
    )  # fmt: skip
    write_rows(warehouse, POST_EMAIL_CLIENTS, [
        {**opens, "date": d, "newsletter_id": "nl_1", "post_id": "po_1",
         "first_sent_at": utc("2026-11-19 00:00:00"), "days_since_send": n, "human_opens": 4 + n,
         "human_openers": 3, "machine_opens": 5, "apple_mail_opens": 2 + n, "gmail_opens": 2,
         "mobile_opens": 2 + n, "webmail_opens": 2}
        for n, d in enumerate((day - timedelta(days=1), day))
    ], start, end)  # fmt: skip
    write_rows(warehouse, NEWSLETTER_SUBSCRIBER_GROWTH, [
        {"date": day, "newsletter_id": "nl_2", "new_subscribers": 3, "lost_subscribers": 1,
         "net_change": 2, "total_subscribers": 12, "paid_subscribers": 1},
    ], start, end)  # fmt: skip
    segments = {"dormant_new_readers": 0, "engagement_days_seen": 90}
    write_rows(warehouse, NEWSLETTER_ENGAGEMENT_SEGMENTS, [
        {**segments, "date": d, "newsletter_id": "nl_2", "subscribers": 12, "active_readers": a,
         "at_risk_readers": 3, "dormant_readers": 9 - a, "active_share": a / 12,
         "at_risk_share": 3 / 12, "dormant_share": (9 - a) / 12, "active_change_7d": change,
         "at_risk_change_7d": None if change is None else 0,
         "dormant_change_7d": None if change is None else -change}
        for d, a, change in ((day - timedelta(days=7), 4, None), (day, 6, 2))
    ], start, end)  # fmt: skip
    write_rows(warehouse, NEWSLETTER_SUBSCRIBER_COHORTS, [
        {"week_start": w, "newsletter_id": "nl_2", "cohort_week": date(2026, 11, 2),
         "weeks_since_signup": n, "cohort_size": 10, "retained_subscribers": 10 - n,
         "retention_rate": (10 - n) / 10}
        for n, w in enumerate((date(2026, 11, 2), date(2026, 11, 9), date(2026, 11, 16)))
    ], date(2026, 11, 2), date(2026, 11, 23))  # fmt: skip
    create_empty_tables(warehouse)  # the tables of sections not filled here

    docs = build_documents(warehouse, day)

    assert sorted(docs) == ["nl_1", "nl_2"]
    for doc in docs.values():
        validate(doc)
    one, two = docs["nl_1"], docs["nl_2"]
    assert one["traffic"]["last_30_days"] == {"days": 30, "page_views": 2, "unique_visitors": 2}
    assert one["traffic"]["last_90_days"] == {"days": 90, "page_views": 4, "unique_visitors": 2}
    assert [d["date"] for d in one["traffic"]["daily"]] == ["2026-10-11", "2026-11-20"]
    (post,) = one["recent_posts"]
    assert (post["title"], post["sent"], post["days_since_send"], post["human_open_rate"]) == (
        "Hello", 11, 1, 0.5,
    )  # fmt: skip
    assert one["subscribers"] == {"total": 0, "paid": 0, "daily": []} and one["cohorts"] == []
    # The links as they stood on the post's newest day, the most clicked first.
    assert [
        (c["link_url"], c["link_tags"], c["unique_clickers"], c["total_clicks"],
         c["clicker_share"], c["scanner_clicks"], c["title"])
        for c in one["link_clicks"]
    ] == [
        ("https://b", None, 3, 4, 1.0, 4, "Hello"),
        ("https://a", '{"link_type":["post"]}', 2, 3, 2 / 3, 0, "Hello"),
        ("https://c", None, 0, 1, 0.0, 1, "Hello"),
    ]  # fmt: skip
    assert docs["nl_2"]["link_clicks"] == []
    # Opens by client and device over the recent posts, each as on its newest day (4 + 1).
    clients = one["email_clients"]
    assert (clients["human_opens"], clients["machine_opens"]) == (5, 5)
    assert [(c["name"], c["opens"], c["share"]) for c in clients["clients"]] == [
        ("apple_mail", 3, 0.6), ("gmail", 2, 0.4), ("outlook", 0, 0.0), ("yahoo", 0, 0.0),
        ("other", 0, 0.0),
    ]  # fmt: skip
    assert [(d["name"], d["opens"]) for d in clients["devices"]] == [
        ("mobile", 3), ("desktop", 0), ("webmail", 2), ("unknown", 0),
    ]  # fmt: skip
    assert docs["nl_2"]["email_clients"] == {
        "human_opens": 0, "machine_opens": 0, "clients": [], "devices": [],
    }  # fmt: skip
    assert two["newsletter"] == {"id": "nl_2", "slug": "two", "name": None}
    assert two["traffic_sources"]["top_referrers"] == [
        {"domain": "t.co", "category": "social", "page_views": 7, "visits": 5}
    ]
    assert (two["subscribers"]["total"], two["subscribers"]["paid"]) == (12, 1)
    assert two["cohorts"] == [
        {"cohort_week": "2026-11-02", "size": 10, "retention": [1.0, 0.9, 0.8]}
    ]
    assert two["recent_posts"] == [] and two["traffic"]["daily"] == []
    assert two["engagement"]["segments"] == [
        {"segment": "active", "readers": 6, "share": 0.5, "change_7d": 2},
        {"segment": "at_risk", "readers": 3, "share": 0.25, "change_7d": 0},
        {"segment": "dormant", "readers": 3, "share": 0.25, "change_7d": -2},
    ]
    assert two["engagement"]["history_days"] == 90
    assert [(d["date"], d["active"], d["dormant"]) for d in two["engagement"]["daily"]] == [
        ("2026-11-13", 4, 5), ("2026-11-20", 6, 3),
    ]  # fmt: skip
    assert one["engagement"] == {"history_days": 0, "segments": [], "daily": []}
    # The platform's first day with a daily number: nl_1's traffic 40 days before.
    assert {d["series_from"] for d in docs.values()} == {"2026-10-11"}


def test_before_the_first_week_is_measured_the_documents_have_no_cohorts(warehouse) -> None:
    """Days are published before any Monday-to-Sunday week has ended (a new platform, a demo of
    three days): no cohort table exists yet, and the documents say "no cohorts" instead of
    failing to publish."""
    day = date(2026, 10, 3)
    end = day + timedelta(days=1)
    write_rows(warehouse, NEWSLETTERS.table, [
        {"snapshot_date": day, "created_at": utc("2026-01-01 00:00:00"), "newsletter_id": "nl_1",
         "slug": "one", "name": "One"},
    ], day, end)  # fmt: skip
    create_empty_tables(warehouse, but=[NEWSLETTER_SUBSCRIBER_COHORTS])  # no week measured

    docs = build_documents(warehouse, day)

    validate(docs["nl_1"])
    assert docs["nl_1"]["cohorts"] == [] and docs["nl_1"]["subscribers"]["total"] == 0
