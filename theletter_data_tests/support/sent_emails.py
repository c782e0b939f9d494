"""Hand-made staged email events, one message to one recipient each: the deliverability metric's
test and its Slack alert's test build their days from them. D is 2026-11-20."""

from __future__ import annotations

import itertools
from datetime import date, timedelta

from theletter_data.staging.email_events import STG_EMAIL_EVENTS
from theletter_data_tests.support.rawdata import utc
from theletter_data_tests.support.staged import write_rows

D = date(2026, 11, 20)
_ids = itertools.count()


def email(newsletter, sent_days_before, *outcomes, send=True):
    """The events of one email sent `sent_days_before` D: (event type, days after the send, and
    the bounce's type and sub-type) for each outcome; with `send`, its Send event."""
    message = f"m{next(_ids)}"
    sent_on = D - timedelta(days=sent_days_before)
    sent_at = utc(f"{sent_on} 01:00:00")
    rows = []
    for event_type, after, *bounce in ([("send", 0)] if send else []) + list(outcomes):
        day = sent_on + timedelta(days=after)
        rows.append({
            "event_date": day,
            "event_at": utc(f"{day} 02:00:00") if after else sent_at,
            "event_id": f"{message}-{event_type}-{after}",
            "event_type": event_type,
            "message_id": message,
            "sent_at": sent_at,
            "newsletter_id": newsletter,
            "post_id": "po_1",
            "recipient_hash": f"r-{message}",
            "bounce_type": bounce[0] if bounce else None,
            "bounce_sub_type": bounce[1] if bounce else None,
            "source_object": "ses-events/x.gz",
        })  # fmt: skip
    return rows


HARD = ("bounce", 0, "Permanent", "General")


def emails(newsletter, n, *outcomes):
    return [row for _ in range(n) for row in email(newsletter, 0, *outcomes)]


def stage(warehouse, *groups):
    rows = [row for group in groups for row in group]
    write_rows(warehouse, STG_EMAIL_EVENTS, rows, D - timedelta(days=40), D + timedelta(days=3))
