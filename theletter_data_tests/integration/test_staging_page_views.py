"""stg_page_views on hand-built beacon records: sources, bots, privacy, dedupe, quarantine."""

from __future__ import annotations

from datetime import date

from theletter_data.staging.lines.stage import stage_day
from theletter_data.staging.page_views import PAGE_VIEW_EVENTS
from theletter_data_tests.support.rawdata import firehose_key, page_view, put_lines, utc

D = date(2026, 11, 20)
AT = utc("2026-11-20 03:00:00")  # 12:00 JST on D
IPAD = "Mozilla/5.0 (iPad; CPU OS 18_1 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148"
WINDOWS = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/131.0 Safari/537.36"
GOOGLEBOT = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"


def stage(resources):
    return stage_day(
        PAGE_VIEW_EVENTS,
        D,
        lake=resources["lake"],
        engine=resources["ingest_engine"],
        pseudonymizer=resources["pseudonymizer"],
        warehouse=resources["warehouse"],
    )


def test_referrers_become_sources_and_bots_are_flagged(resources):
    cases = {
        "search": page_view(AT, event_id="search", referrer="https://www.google.co.jp/"),
        "social": page_view(AT, event_id="social", referrer="https://t.co/AbC123"),
        "email-utm": page_view(
            AT, event_id="email-utm", utm={"utm_source": "newsletter", "utm_medium": "email"}
        ),
        "webmail": page_view(AT, event_id="webmail", referrer="https://mail.google.com/mail/u/0/"),
        "direct": page_view(AT, event_id="direct"),
        "internal": page_view(
            AT, event_id="internal", referrer="https://tokyo-tech.theletter.jp/", post_id=None
        ),
        "network": page_view(
            AT, event_id="network", referrer="https://other-news.theletter.jp/posts/po_9"
        ),
        "platform": page_view(AT, event_id="platform", referrer="https://theletter.jp/discover"),
        "referral": page_view(AT, event_id="referral", referrer="https://qiita.com/items/1"),
        "ipad": page_view(AT, event_id="ipad", user_agent=IPAD),
        "windows": page_view(AT, event_id="windows", user_agent=WINDOWS),
        "googlebot": page_view(AT, event_id="googlebot", user_agent=GOOGLEBOT),
        "no-agent": page_view(AT, event_id="no-agent", user_agent=""),
    }
    leaky = page_view(AT, event_id="leaky")
    leaky["url"] = "https://tokyo-tech.theletter.jp/posts/po_1?email=hanako@example.jp#top"
    no_visitor = page_view(AT, event_id="no-visitor")
    del no_visitor["visitor_id"]
    put_lines(
        resources["lake"],
        firehose_key("pageviews", utc("2026-11-20 03:05:00")),
        [*cases.values(), cases["search"], leaky, no_visitor],
    )

    result = stage(resources)

    assert (result.records_read, result.staged, result.duplicates, result.quarantined) == (
        16,
        14,
        1,
        1,
    )
    assert result.quarantine_reasons == {"missing_field:visitor_id": 1}
    rows = {
        r["event_id"]: r
        for r in resources["warehouse"]
        .query("SELECT * FROM staging.stg_page_views WHERE event_date = @d", {"d": D})
        .to_pylist()
    }
    expected_sources = {
        "search": ("search", "google.co.jp"),
        "social": ("social", "t.co"),
        "email-utm": ("email", None),
        "webmail": ("email", "mail.google.com"),
        "direct": ("direct", None),
        "internal": ("internal", "tokyo-tech.theletter.jp"),
        "network": ("other_newsletter", "other-news.theletter.jp"),
        "platform": ("other_newsletter", "theletter.jp"),
        "referral": ("referral", "qiita.com"),
    }
    for event_id, (category, domain) in expected_sources.items():
        assert (rows[event_id]["source_category"], rows[event_id]["referrer_domain"]) == (
            category,
            domain,
        ), event_id
    assert rows["email-utm"]["utm_medium"] == "email"
    assert rows["internal"]["url_path"] == "/" and rows["internal"]["post_id"] is None
    devices = {k: (rows[k]["device_type"], rows[k]["is_bot"]) for k in cases}
    assert devices["search"] == ("mobile", False)
    assert devices["ipad"] == ("tablet", False)
    assert devices["windows"] == ("desktop", False)
    assert devices["googlebot"] == ("bot", True)
    assert devices["no-agent"] == ("bot", True)
    assert rows["leaky"]["url_path"] == "/posts/po_1"
    assert all("@" not in str(v) for r in rows.values() for v in r.values())
