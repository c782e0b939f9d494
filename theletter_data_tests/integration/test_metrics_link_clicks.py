"""post_link_clicks on hand-made staged rows, on both warehouses; every number worked out here.

Post po_1 of nl_1 is emailed on D (2026-11-20) at 00:00 UTC (09:00 in Japan), each email
delivered 5 s later. Links: L1 (the post, tagged), L2, L3.
- a: L1 after 10 and 20 minutes, L2 after 30 minutes: 3 reader clicks.
- b: L1 after 2 hours.
- c: L1 59 s after delivery (a scanner: under 60 s), then after an hour (c, a reader).
- d: L2 after 3 hours with `python-requests` (a scanner by its agent).
- e: no delivery seen; L3 40 s after the send (a scanner: the send stands in).
- g: L2 exactly 60 s after delivery (a reader: not under 60 s).
- f: L1 on D+1.
- po_2, first sent 31 days before D, clicked on D: its funnel window has closed, no row.

On D: L1 readers a, b, c (4 clicks, 1 scanner), L2 a, g (2 clicks, 1 scanner), L3 none (1
scanner); the post's clickers a, b, c, g: shares 3/4, 2/4, 0; 3 scanner clicks.
On D+1: f joins L1 (4 readers, 5 clicks); the post's clickers 5: shares 4/5, 2/5, 0.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest

from theletter_data.metrics.post_link_clicks import POST_LINK_CLICKS, post_link_clicks
from theletter_data.staging.email_events import STG_EMAIL_EVENTS
from theletter_data_tests.support.rawdata import utc
from theletter_data_tests.support.staged import checks_passed, materialize, rows_of, write_rows

D = date(2026, 11, 20)
SENT = utc("2026-11-20 00:00:00")
L1 = "https://tokyo-tech.theletter.jp/posts/po_1"
L2 = "https://github.com/theletter/toolkit"
L3 = "https://example.com/report.pdf"
BROWSER = "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) Mobile/15E148 Safari/604.1"

_ids = iter(range(1_000))


def event(event_type, reader, at: datetime, post="po_1", sent=SENT, **columns):
    return {
        "event_date": (at + timedelta(hours=9)).date(),
        "event_at": at,
        "event_id": f"e{next(_ids)}",
        "event_type": event_type,
        "message_id": f"m-{post}-{reader}",
        "sent_at": sent,
        "newsletter_id": "nl_1",
        "post_id": post,
        "recipient_hash": reader,
        "source_object": "ses-events/x.gz",
        **columns,
    }


def click(reader, after: timedelta, link, agent=BROWSER, **kwargs):
    tags = '{"link_type":["post"]}' if link == L1 else None
    at = SENT + after
    return event("click", reader, at, link_url=link, link_tags=tags, user_agent=agent, **kwargs)


DELIVERED = timedelta(seconds=5)
MINUTE = timedelta(minutes=1)


@pytest.fixture
def clicks(warehouse):
    rows = [
        *(event("send", r, SENT) for r in "abcdefg"),
        *(event("delivery", r, SENT + DELIVERED) for r in "abcdfg"),
        click("a", 10 * MINUTE, L1),
        click("a", 20 * MINUTE, L1),
        click("a", 30 * MINUTE, L2),
        click("b", 120 * MINUTE, L1),
        click("c", DELIVERED + timedelta(seconds=59), L1),
        click("c", 60 * MINUTE, L1),
        click("d", 180 * MINUTE, L2, agent="python-requests/2.32.3"),
        click("e", timedelta(seconds=40), L3),
        click("g", DELIVERED + timedelta(seconds=60), L2),
        click("f", timedelta(days=1), L1),
        click("z", 60 * MINUTE, L1, post="po_2", sent=SENT - timedelta(days=31)),
    ]
    write_rows(warehouse, STG_EMAIL_EVENTS, rows, D - timedelta(days=40), D + timedelta(days=2))


def figures(warehouse):
    return {
        (r["date"], r["link_url"]): (
            r["unique_clickers"], r["total_clicks"], r["post_unique_clickers"],
            r["clicker_share"], r["scanner_clicks"], r["post_scanner_clicks"],
        )
        for r in rows_of(warehouse, POST_LINK_CLICKS, "date, link_url")
    }  # fmt: skip


def test_links_are_counted_per_reader_and_scanners_apart(warehouse, clicks):
    result = materialize(post_link_clicks, warehouse, str(D), str(D + timedelta(days=1)))

    assert result.success and all(checks_passed(result).values())
    after = D + timedelta(days=1)
    assert figures(warehouse) == {
        (D, L3): (0, 0, 4, 0.0, 1, 3),
        (D, L2): (2, 2, 4, 0.5, 1, 3),
        (D, L1): (3, 4, 4, 0.75, 1, 3),
        (after, L3): (0, 0, 5, 0.0, 1, 3),
        (after, L2): (2, 2, 5, 0.4, 1, 3),
        (after, L1): (4, 5, 5, 0.8, 1, 3),
    }
    rows = rows_of(warehouse, POST_LINK_CLICKS, "date, link_url")
    assert {r["post_id"] for r in rows} == {"po_1"}  # po_2's window closed before D
    assert {(r["link_url"], r["link_tags"]) for r in rows} == {
        (L1, '{"link_type":["post"]}'),
        (L2, None),
        (L3, None),
    }
    assert {(r["date"], r["days_since_send"]) for r in rows} == {(D, 0), (after, 1)}


def test_a_day_run_alone_gives_the_same_rows_as_a_range_run(warehouse, clicks):
    """f's click on D+1 never reaches D's rows."""
    materialize(post_link_clicks, warehouse, str(D), str(D + timedelta(days=1)))
    from_range = [r for r in rows_of(warehouse, POST_LINK_CLICKS, "date, link_url")]
    materialize(post_link_clicks, warehouse, str(D))
    alone = rows_of(warehouse, POST_LINK_CLICKS, "date, link_url")
    assert alone == from_range and len(alone) == 6


@pytest.mark.parametrize(
    ("agent", "scanner"),
    [
        ("Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)", True),
        ("Mozilla/5.0 (compatible; MJ12bot; http://mj12bot.com/)", True),
        ("Microsoft Office Existence Discovery", True),
        ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) Barracuda Sentinel", True),
        ("curl/8.5.0", True),
        (None, True),
        # Browsers whose agents hold a scanner's letters: people.
        (
            "Mozilla/5.0 (Linux; Android 12; CUBOT P50) AppleWebKit/537.36 Chrome/120.0 Mobile",
            False,
        ),
        (
            "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 JavaScript Chrome/131",
            False,
        ),
        ("Mozilla/5.0 (Linux; Android 10; Robot Vacuum Companion) Chrome/120.0 Mobile", False),
    ],
)
def test_scanners_are_told_by_their_agent_not_by_letters_in_a_browsers(warehouse, agent, scanner):
    write_rows(
        warehouse,
        STG_EMAIL_EVENTS,
        [
            event("delivery", "h", SENT + DELIVERED),
            click("h", 2 * 60 * MINUTE, L2, agent=agent),
        ],
        D,
        D + timedelta(days=1),
    )
    materialize(post_link_clicks, warehouse, str(D))
    ((_, values),) = figures(warehouse).items()
    assert (values[0], values[4]) == ((0, 1) if scanner else (1, 0))
