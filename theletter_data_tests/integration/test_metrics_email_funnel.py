"""post_email_funnel on a hand-made send of one post to four readers.

po_1 goes out on D (2026-11-20) at 09:00 JST to a, b, c and d:
- a: delivered; Apple's proxy opens it on D (machine); a reads it and clicks on D+1.
- b: delivered; reads it on D and again on D+2 (still one unique open); complains on D+3.
- c: bounces permanently.
- d: delivered; images blocked, so no open, but clicks on D+1; unsubscribes on D+2.
"""

from __future__ import annotations

import logging
from datetime import date, timedelta

import dagster as dg
import pytest

from theletter_data.metrics.post_email_funnel import POST_EMAIL_FUNNEL, post_email_funnel
from theletter_data.staging.email_events import STG_EMAIL_EVENTS
from theletter_data_tests.support.rawdata import utc
from theletter_data_tests.support.staged import checks_passed, materialize, rows_of, write_rows

D = date(2026, 11, 20)
SENT = utc("2026-11-20 00:00:00")  # 09:00 JST


def event(event_type, day_offset, recipient, post="po_1", sent=SENT, **extra):
    day = D + timedelta(days=day_offset)
    return {
        "event_date": day,
        "event_at": utc(f"{day} 01:00:00"),
        "event_id": f"{post}-{event_type}-{recipient}-{day_offset}-{extra}",
        "event_type": event_type,
        "message_id": f"{post}-{recipient}",
        "sent_at": sent,
        "newsletter_id": "nl_1",
        "post_id": post,
        "recipient_hash": recipient,
        "source_object": "ses-events/x.gz",
        **extra,
    }


@pytest.fixture
def one_send(warehouse):
    rows = [
        *(event("send", 0, r) for r in "abcd"),
        *(event("delivery", 0, r) for r in "abd"),
        event("bounce", 0, "c", bounce_type="Permanent"),
        event("open", 0, "a", is_machine_open=True),
        event("open", 1, "a", is_machine_open=False),
        event("click", 1, "a", link_url="https://tokyo-tech.theletter.jp/posts/po_1"),
        event("open", 0, "b", is_machine_open=False),
        event("open", 2, "b", is_machine_open=False),
        event("complaint", 3, "b"),
        event("click", 1, "d", link_url="https://example.com/"),
        event("subscription", 2, "d", unsubscribe_all=True),
    ]
    write_rows(warehouse, STG_EMAIL_EVENTS, rows, D, D + timedelta(days=4))


def test_counts_are_cumulative_distinct_recipients(warehouse, one_send):
    result = materialize(post_email_funnel, warehouse, "2026-11-20", "2026-11-23")

    assert result.success and all(checks_passed(result).values())
    rows = rows_of(warehouse, POST_EMAIL_FUNNEL, "date")
    columns = (
        "days_since_send", "sent", "delivered", "bounced", "hard_bounced", "complained",
        "unique_opens", "unique_human_opens", "unique_machine_opens", "unique_clicks",
        "unsubscribes",
    )  # fmt: skip
    assert [tuple(r[c] for c in columns) for r in rows] == [
        (0, 4, 3, 1, 1, 0, 2, 1, 1, 0, 0),
        (1, 4, 3, 1, 1, 0, 3, 3, 1, 2, 0),  # d's click counts as an open
        (2, 4, 3, 1, 1, 0, 3, 3, 1, 2, 1),  # b's second open adds nothing
        (3, 4, 3, 1, 1, 1, 3, 3, 1, 2, 1),
    ]
    last = rows[-1]
    assert last["first_sent_at"] == SENT
    assert last["delivery_rate"] == pytest.approx(3 / 4)
    assert last["bounce_rate"] == pytest.approx(1 / 4)
    assert last["open_rate"] == pytest.approx(1.0)
    assert last["human_open_rate"] == pytest.approx(1.0)
    assert last["click_rate"] == pytest.approx(2 / 3)
    assert last["click_to_open_rate"] == pytest.approx(2 / 3)
    assert last["unsubscribe_rate"] == pytest.approx(1 / 3)
    assert last["complaint_rate"] == pytest.approx(1 / 3)
    assert rows[0]["click_to_open_rate"] == 0


def test_a_day_run_alone_gives_the_same_row_as_the_range_run(warehouse, one_send):
    materialize(post_email_funnel, warehouse, "2026-11-20", "2026-11-23")
    from_range = rows_of(warehouse, POST_EMAIL_FUNNEL, "date")[2]
    materialize(post_email_funnel, warehouse, "2026-11-22")
    assert rows_of(warehouse, POST_EMAIL_FUNNEL, "date")[2] == from_range


def test_a_post_is_followed_for_thirty_days_from_its_first_send(warehouse):
    first = D - timedelta(days=29)
    rows = [
        event("send", -29, "a", post="po_old", sent=utc(f"{first} 00:00:00")),
        event("send", -30, "a", post="po_older", sent=utc(f"{first - timedelta(days=1)} 00:00:00")),
        event("open", 0, "a", post="po_old", is_machine_open=False),
        event("open", 0, "a", post="po_older", is_machine_open=False),
    ]
    write_rows(warehouse, STG_EMAIL_EVENTS, rows, D - timedelta(days=30), D + timedelta(days=1))

    materialize(post_email_funnel, warehouse, "2026-11-20", "2026-11-21")

    rows = rows_of(warehouse, POST_EMAIL_FUNNEL, "date")
    assert [(r["date"], r["post_id"], r["days_since_send"], r["unique_opens"]) for r in rows] == [
        (D, "po_old", 29, 1)
    ]


def test_a_cut_send_or_delivery_line_does_not_make_a_rate_exceed_one(warehouse):
    """po_cut: 35 recipients delivered, one of whose Send lines was cut in the raw object (so
    quarantined): 34 sends staged. po_dark: e's Delivery line was cut, but e opened it. Every
    recipient with a later event was sent the email (and one who opened it, delivered): the
    rates stay within [0, 1] and the run passes, instead of 35/34 failing every author's
    dashboard."""
    readers = [f"r{i:02d}" for i in range(35)]
    rows = [
        *(event("send", 0, r, post="po_cut") for r in readers[1:]),
        *(event("delivery", 0, r, post="po_cut") for r in readers),
        *(event("send", 0, r, post="po_dark") for r in "ef"),
        event("delivery", 0, "f", post="po_dark"),
        *(event("open", 0, r, post="po_dark", is_machine_open=False) for r in "ef"),
    ]
    write_rows(warehouse, STG_EMAIL_EVENTS, rows, D, D + timedelta(days=1))

    result = materialize(post_email_funnel, warehouse, "2026-11-20", raise_on_error=False)

    assert result.success and all(checks_passed(result).values())
    cut, dark = rows_of(warehouse, POST_EMAIL_FUNNEL, "post_id")
    assert (cut["sent"], cut["delivered"], cut["delivery_rate"]) == (35, 35, 1.0)
    assert (dark["sent"], dark["delivered"], dark["unique_opens"], dark["open_rate"]) == (
        2, 2, 2, 1.0,
    )  # fmt: skip


def test_a_failing_check_says_in_the_run_log_which_post_and_what(warehouse):
    """The run fails on a blocking check, whose own message only names it: the log says
    which row and which value (here a staged send without its newsletter)."""
    write_rows(warehouse, STG_EMAIL_EVENTS, [
        event("send", 0, "a", post="po_9", newsletter_id=None)
    ], D, D + timedelta(days=1))  # fmt: skip
    with dg.instance_for_test() as instance:
        result = dg.materialize(
            [post_email_funnel], instance=instance, resources={"warehouse": warehouse},
            partition_key="2026-11-20", raise_on_error=False,
        )  # fmt: skip
        errors = [
            entry.user_message
            for entry in instance.all_logs(result.run_id)
            if entry.level == logging.ERROR and "check column_values failed" in entry.user_message
        ]
    assert not result.success
    assert errors == [
        "metrics.post_email_funnel: check column_values failed: newsletter_id is NULL in 1 row: "
        "date=2026-11-20, post_id=po_9 has newsletter_id=NULL"
    ]
