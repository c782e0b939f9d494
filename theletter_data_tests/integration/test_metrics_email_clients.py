"""post_email_clients on hand-made staged rows, on both warehouses; every number worked out here.

Post po_1 of nl_1 is emailed on D (2026-11-20) at 00:00 UTC. Opens as staging classifies them:
- a: Apple Mail on an iPhone twice, then Outlook on a computer (3 opens, 1 reader);
- b: Gmail's proxy (webmail);
- c: Yahoo's app on a phone on D+1;
- d: another app (Thunderbird on a computer);
- e, f: Apple Mail Privacy Protection's prefetches only (machine opens: no client);
- a click of g (no open): not an open.
On D: 5 human opens by 3 readers (a, b, d): Apple Mail 2, Outlook 1, Gmail 1, other 1; mobile
2, desktop 2, webmail 1; 2 machine opens. On D+1: c's open makes 6 (4 readers), Yahoo 1,
mobile 3. A post first sent 31 days before D has no row.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest

from theletter_data.metrics.post_email_clients import POST_EMAIL_CLIENTS, post_email_clients
from theletter_data.staging.email_events import STG_EMAIL_EVENTS
from theletter_data_tests.support.rawdata import utc
from theletter_data_tests.support.staged import checks_passed, materialize, rows_of, write_rows

D = date(2026, 11, 20)
SENT = utc("2026-11-20 00:00:00")
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


def human(reader, hours, client, device, **kwargs):
    at = SENT + timedelta(hours=hours)
    return event(
        "open", reader, at, is_machine_open=False, email_client=client, device_class=device,
        **kwargs,
    )  # fmt: skip


def machine(reader):
    return event("open", reader, SENT + timedelta(minutes=2), is_machine_open=True)


@pytest.fixture
def opens(warehouse):
    rows = [
        *(event("send", r, SENT) for r in "abcdefg"),
        human("a", 1, "apple_mail", "mobile"),
        human("a", 2, "apple_mail", "mobile"),
        human("a", 3, "outlook", "desktop"),
        human("b", 1, "gmail", "webmail"),
        human("c", 24, "yahoo", "mobile"),
        human("d", 5, "other", "desktop"),
        machine("e"),
        machine("f"),
        event("click", "g", SENT + timedelta(hours=1), link_url="https://x"),
        human("z", 1, "gmail", "webmail", post="po_2", sent=SENT - timedelta(days=31)),
    ]
    write_rows(warehouse, STG_EMAIL_EVENTS, rows, D - timedelta(days=40), D + timedelta(days=2))


COUNTS = (
    "human_opens", "human_openers", "machine_opens", "apple_mail_opens", "gmail_opens",
    "outlook_opens", "yahoo_opens", "other_client_opens", "mobile_opens", "desktop_opens",
    "webmail_opens", "unknown_device_opens",
)  # fmt: skip


def test_human_opens_are_counted_by_client_and_device_and_machine_opens_apart(warehouse, opens):
    result = materialize(post_email_clients, warehouse, str(D), str(D + timedelta(days=1)))

    assert result.success and all(checks_passed(result).values())
    on_d, after = rows_of(warehouse, POST_EMAIL_CLIENTS, "date")
    assert (on_d["post_id"], on_d["date"], after["date"]) == ("po_1", D, D + timedelta(days=1))
    assert [on_d[c] for c in COUNTS] == [5, 3, 2, 2, 1, 1, 0, 1, 2, 2, 1, 0]
    assert [after[c] for c in COUNTS] == [6, 4, 2, 2, 1, 1, 1, 1, 3, 2, 1, 0]
    assert (on_d["apple_mail_share"], on_d["mobile_share"], on_d["yahoo_share"]) == (
        pytest.approx(2 / 5), pytest.approx(2 / 5), 0.0,
    )  # fmt: skip
    clients = ("apple_mail", "gmail", "outlook", "yahoo", "other_client")
    assert sum(after[f"{c}_share"] for c in clients) == pytest.approx(1.0)


def test_a_post_without_a_human_open_has_zeros_and_no_shares(warehouse):
    write_rows(
        warehouse, STG_EMAIL_EVENTS, [event("send", "a", SENT), machine("a")], D,
        D + timedelta(days=1),
    )  # fmt: skip
    result = materialize(post_email_clients, warehouse, str(D))
    assert result.success and all(checks_passed(result).values())
    (row,) = rows_of(warehouse, POST_EMAIL_CLIENTS, "date")
    assert (row["human_opens"], row["machine_opens"], row["apple_mail_share"]) == (0, 1, None)
