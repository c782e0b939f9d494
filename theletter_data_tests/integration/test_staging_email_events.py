"""stg_email_events on hand-built Firehose objects: each event staged once with a pseudonymised
recipient, on its Japan calendar day; a re-run replaces the day; a day without any delivered
object fails. Every expected number is worked out here; the other subjects are in
test_staging_email_events_*.py.

Day D and its arrival window: support/staged_email_events.py.
"""

from __future__ import annotations

from datetime import date

import dagster as dg
import pytest

from theletter_data_tests.support.rawdata import firehose_key, machine_open, put_lines, ses, utc
from theletter_data_tests.support.staged_email_events import D, stage, staged_rows


@pytest.mark.parametrize("batch_bytes", [None, 1], ids=["one-batch", "batch-per-object"])
def test_each_event_is_staged_once_with_a_pseudonymised_recipient(resources, batch_bytes):
    """Also when every object is its own batch: a copy in a later batch is still a duplicate."""
    lake, pseudonymizer = resources["lake"], resources["pseudonymizer"]
    sent = utc("2026-11-19 16:00:00")
    human_open = ses("Open", utc("2026-11-19 16:10:00"), sent_at=sent)
    delivery = ses("Delivery", utc("2026-11-19 16:00:05"), sent_at=sent)
    put_lines(
        lake,
        firehose_key("ses-events", utc("2026-11-19 16:05:00")),
        [
            ses("Send", sent),
            delivery,
            machine_open(utc("2026-11-19 16:01:00"), sent_at=sent),
            human_open,
            ses(
                "Click",
                utc("2026-11-19 16:12:00"),
                sent_at=sent,
                link="https://tokyo-tech.theletter.jp/posts/po_1?utm_medium=email&token=abc",
            ),
            human_open,  # a duplicate inside the same object
            ses(
                "Bounce",
                utc("2026-11-19 16:00:09"),
                message_id="m-2",
                recipient="Taro.Yamada@Example.COM",
                sent_at=sent,
            ),
        ],
    )
    # Firehose re-delivers the delivery record in a later object; a complaint arrives too.
    put_lines(
        lake,
        firehose_key("ses-events", utc("2026-11-19 17:05:00"), "b"),
        [delivery, ses("Complaint", utc("2026-11-19 17:00:00"), sent_at=sent)],
    )

    result = stage(resources, batch_bytes=batch_bytes)

    assert (result.records_read, result.staged, result.duplicates, result.quarantined) == (
        9,
        7,
        2,
        0,
    )
    assert result.reconciles and result.rows_in_table == 7
    rows = staged_rows(resources["warehouse"])
    assert [r["event_type"] for r in rows] == [
        "send", "delivery", "bounce", "open", "open", "click", "complaint",
    ]  # fmt: skip
    hanako = pseudonymizer.hash("hanako@example.jp")
    taro = pseudonymizer.hash("taro.yamada@example.com")  # trimmed and lower-cased
    assert {r["recipient_hash"] for r in rows} == {hanako, taro}
    assert [r["recipient_hash"] for r in rows if r["event_type"] == "bounce"] == [taro]
    opens = [r for r in rows if r["event_type"] == "open"]
    assert [r["is_machine_open"] for r in opens] == [True, False]
    (click,) = (r for r in rows if r["event_type"] == "click")
    assert click["link_url"] == "https://tokyo-tech.theletter.jp/posts/po_1"
    assert all(r["newsletter_id"] == "nl_1" and r["post_id"] == "po_1" for r in rows)
    assert all("@" not in str(value) for r in rows for value in r.values())
    (staged_delivery,) = (r for r in rows if r["event_type"] == "delivery")
    assert staged_delivery["source_object"].endswith("-a.gz")  # the first delivered copy


def test_days_are_japan_calendar_days(resources):
    lake = resources["lake"]
    put_lines(
        lake,
        firehose_key("ses-events", utc("2026-11-19 15:03:00")),
        [
            ses("Send", utc("2026-11-19 14:59:59"), message_id="before-midnight"),  # Nov 19 JST
            ses("Send", utc("2026-11-19 15:00:00"), message_id="midnight"),  # Nov 20 00:00 JST
        ],
    )
    put_lines(
        lake,
        firehose_key("ses-events", utc("2026-11-20 15:02:00")),
        [
            ses("Send", utc("2026-11-20 14:59:59"), message_id="last-second"),  # Nov 20 JST
            ses("Send", utc("2026-11-20 15:00:00"), message_id="next-day"),  # Nov 21 JST
        ],
    )

    days = {day: stage(resources, day) for day in (date(2026, 11, 19), D, date(2026, 11, 21))}

    assert [days[d].staged for d in sorted(days)] == [1, 2, 1]
    assert {r["message_id"] for r in staged_rows(resources["warehouse"])} == {
        "midnight",
        "last-second",
    }
    # Each object was read by two days; every record counted once, by its own day.
    assert days[D].other_days == 2


def test_a_rerun_replaces_the_day_instead_of_adding_to_it(resources):
    lake, warehouse = resources["lake"], resources["warehouse"]
    put_lines(
        lake,
        firehose_key("ses-events", utc("2026-11-20 01:05:00")),
        [ses("Send", utc("2026-11-20 01:00:00"), message_id=f"m-{i}") for i in range(3)],
    )
    stage(resources)
    first = staged_rows(warehouse)
    stage(resources)
    assert staged_rows(warehouse) == first

    put_lines(
        lake,
        firehose_key("ses-events", utc("2026-11-20 16:30:00"), "late"),
        [ses("Send", utc("2026-11-20 02:00:00"), message_id="m-late")],
    )
    assert stage(resources).staged == 4
    assert len(staged_rows(warehouse)) == 4


def test_a_day_without_any_delivered_object_fails_instead_of_staging_nothing(resources):
    """At once (retrying brings no object), saying how to declare a day that had no events;
    once declared, the day is staged empty."""
    lake = resources["lake"]
    put_lines(lake, firehose_key("ses-events", utc("2026-11-21 01:05:00")), [ses("Send", utc(
        "2026-11-21 01:00:00"))])  # fmt: skip
    lake.write_bytes("ses-events/2026/11/20/03/_temporary/part-0.gz", b"")
    with pytest.raises(dg.Failure) as failure:
        stage(resources)
    assert failure.value.description == (
        "No `ses-events/` objects were delivered between 2026-11-19 14:00 and 2026-11-20 18:00 "
        "UTC, the arrival window of 2026-11-20: staging it would publish a day without any. "
        "Check the stream's producer (the Firehose delivery stream, or the log export task). If "
        "the day truly had no events, declare it by writing the object "
        "`ses-events/_empty/2026-11-20` (any content, e.g. why) and stage it again. Keys "
        "outside the layout, not read: ses-events/2026/11/20/03/_temporary/part-0.gz."
    )
    assert not failure.value.allow_retries

    lake.write_bytes("ses-events/_empty/2026-11-20", b"SES sending paused for maintenance")
    result = stage(resources)
    assert (result.declared_empty, result.objects, result.staged, result.rows_in_table) == (
        True, 0, 0, 0,
    )  # fmt: skip
    assert stage(resources, date(2026, 11, 21)).staged == 1  # the marker is not an object


def test_an_event_whose_timestamp_is_written_differently_is_staged_once(resources):
    """Event ids are built from the parsed instant, not its text: the same send and delivery
    re-delivered with their timestamps written without milliseconds, or in Japan time, are
    copies of the same events."""
    sent = utc("2026-11-20 01:00:00")
    written = ("2026-11-20T01:00:00.000Z", "2026-11-20T01:00:00Z", "2026-11-20T10:00:00+09:00")
    copies = []
    for text in written:
        send = ses("Send", sent)
        send["mail"]["timestamp"] = text
        delivery = ses("Delivery", sent, sent_at=sent)
        delivery["delivery"]["timestamp"] = text
        copies += [send, delivery]
    put_lines(resources["lake"], firehose_key("ses-events", utc("2026-11-20 01:05:00")), copies)

    result = stage(resources)

    assert (result.records_read, result.staged, result.duplicates) == (6, 2, 4)
    assert [r["event_type"] for r in staged_rows(resources["warehouse"])] == ["delivery", "send"]
