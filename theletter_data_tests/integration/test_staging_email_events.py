"""stg_email_events on hand-built Firehose objects: every expected number is worked out here.

Day D is 2026-11-20 in Japan: it runs from 2026-11-19 15:00 to 2026-11-20 15:00 UTC, and its
arrival window (one hour of clock skew before, three hours of lateness after) is
[2026-11-19 14:00, 2026-11-20 18:00) UTC.
"""

from __future__ import annotations

import gzip
import json
from collections import Counter
from datetime import date, timedelta

import dagster as dg
import pytest
from dagster._core.storage.tags import (
    ASSET_PARTITION_RANGE_END_TAG,
    ASSET_PARTITION_RANGE_START_TAG,
)

from theletter_data.resources.ingest_engine import IngestEngine
from theletter_data.staging.arrival_windows import REPLAY_TAG, replay_until
from theletter_data.staging.email_clients import CLIENT_RULES, DEVICE_RULES, classify
from theletter_data.staging.email_events import EMAIL_EVENTS, stg_email_events
from theletter_data.staging.lines.accounting import replay_of_late_records
from theletter_data.staging.lines.stage import stage_day, stage_days
from theletter_data_tests.support.rawdata import firehose_key, machine_open, put_lines, ses, utc
from theletter_data_tests.support.recorded import Recorded

D = date(2026, 11, 20)


def stage(resources, day=D, batch_bytes=None):
    engine = resources["ingest_engine"]
    if batch_bytes is not None:
        engine = IngestEngine(batch_bytes=batch_bytes, temp_directory=engine.temp_directory)
    return stage_day(
        EMAIL_EVENTS,
        day,
        lake=resources["lake"],
        engine=engine,
        pseudonymizer=resources["pseudonymizer"],
        warehouse=resources["warehouse"],
    )


def staged_rows(warehouse, day=D):
    return warehouse.query(
        "SELECT * FROM staging.stg_email_events WHERE event_date = @day "
        "ORDER BY event_at, event_type, event_id",
        {"day": day},
    ).to_pylist()


def quarantine_rows(warehouse):
    return warehouse.query(
        "SELECT event_date, reason, occurrences, source_object, line_number, excerpt "
        "FROM staging.quarantine WHERE stream = 'ses_events' ORDER BY event_date, reason"
    ).to_pylist()


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


def test_late_records_inside_the_window_are_staged_later_ones_quarantined(resources):
    lake = resources["lake"]
    # 23:30 JST on D, delivered 2 h 40 min after D ended: inside the 3-hour lateness.
    put_lines(
        lake,
        firehose_key("ses-events", utc("2026-11-20 17:10:00")),
        [ses("Open", utc("2026-11-20 14:30:00"), message_id="late-but-in")],
    )
    # 19:00 JST on D, delivered 4 hours after D ended: D's run never reads it; the day it
    # arrived on (Nov 21 JST) quarantines it, and the record stays in the lake.
    put_lines(
        lake,
        firehose_key("ses-events", utc("2026-11-20 19:00:00")),
        [ses("Open", utc("2026-11-20 10:00:00"), message_id="too-late")],
    )

    on_d = stage(resources, D)
    next_day = stage(resources, date(2026, 11, 21))

    assert (on_d.staged, on_d.late_accepted, on_d.quarantined) == (1, 1, 0)
    assert (next_day.records_read, next_day.staged, next_day.quarantined) == (1, 0, 1)
    assert next_day.quarantine_reasons == {"arrived_after_window": 1}
    (row,) = quarantine_rows(resources["warehouse"])
    assert row["event_date"] == date(2026, 11, 21)
    assert row["source_object"].startswith("ses-events/2026/11/20/19/")


def test_bad_lines_are_quarantined_with_their_reason_and_good_ones_kept(resources):
    lake = resources["lake"]
    at = utc("2026-11-20 01:00:00")
    no_message_id = ses("Send", at)
    del no_message_id["mail"]["messageId"]
    bad_time = ses("Open", at)
    bad_time["open"]["timestamp"] = "yesterday-ish"
    unknown_type = ses("Bounce", at)
    unknown_type["eventType"] = "Bounced"  # not an SES event type
    key = firehose_key("ses-events", utc("2026-11-20 01:05:00"))
    put_lines(
        lake,
        key,
        [
            ses("Send", at, message_id="good-1"),
            '{"eventType": "Send", "mail": {"messageId": "cut-off", "destination": ["x@y.jp"]',
            b"\xff\xfe not utf-8 \xc3\x28",
            "",
            unknown_type,
            no_message_id,
            bad_time,
            ses("Send", at, message_id="good-2"),
            '{"eventType": "Send", "mail": {"messageId": "cut-off", "destination": ["x@y.jp"]',
        ],
    )
    # A truncated upload: its first gzip member is whole, the second is cut in the middle.
    whole = gzip.compress(
        b"\n".join(json.dumps(ses("Send", at, message_id=f"saved-{i}")).encode() for i in (1, 2))
        + b"\n",
        mtime=0,
    )
    cut = gzip.compress(json.dumps(ses("Send", at, message_id="lost")).encode() + b"\n", mtime=0)
    lake.write_bytes(firehose_key("ses-events", utc("2026-11-20 02:05:00")), whole + cut[:30])
    lake.write_bytes(firehose_key("ses-events", utc("2026-11-20 03:05:00")), b"")  # zero bytes

    result = stage(resources)

    assert {r["message_id"] for r in staged_rows(resources["warehouse"])} == {
        "good-1", "good-2", "saved-1", "saved-2",
    }  # fmt: skip
    assert result.quarantine_reasons == {
        "invalid_timestamp": 1,
        "invalid_utf8": 1,
        "malformed_json": 2,
        "missing_field:mail.messageId": 1,
        "truncated_object (objects)": 1,
        "unknown_event_type": 1,
        "unreadable_object (objects)": 1,
    }
    assert (result.records_read, result.staged, result.quarantined, result.blank_lines) == (
        10,
        4,
        6,
        1,
    )
    assert result.reconciles
    rows = quarantine_rows(resources["warehouse"])
    malformed = next(r for r in rows if r["reason"] == "malformed_json")
    assert malformed["occurrences"] == 2  # the same bad line twice: one row, counted twice
    assert "<email>" in malformed["excerpt"] and "x@y.jp" not in malformed["excerpt"]
    invalid = next(r for r in rows if r["reason"] == "invalid_utf8")
    assert (invalid["source_object"], invalid["line_number"]) == (key, 3)
    truncated = next(r for r in rows if r["reason"] == "truncated_object")
    assert truncated["occurrences"] == 0 and truncated["excerpt"].startswith("2 complete lines")


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


def test_days_written_together_equal_days_written_alone_and_fail_together(resources):
    """A backfill writes consecutive days in one warehouse write (here at most two): the same
    rows and quarantine as staging each day alone; a day that fails undoes its whole write."""
    lake, warehouse = resources["lake"], resources["warehouse"]
    days = [D - timedelta(days=1), D, D + timedelta(days=1)]
    for i, day in enumerate(days):
        noon = utc(f"{day - timedelta(days=1)} 16:00:00")  # 01:00 in Japan on `day`
        first = firehose_key("ses-events", noon + timedelta(minutes=5))
        put_lines(lake, first, [ses("Send", noon, message_id=f"d{i}-{n}") for n in range(3)])
        # A re-delivered copy, a bad line and one event of the next day delivered late.
        put_lines(
            lake,
            firehose_key("ses-events", noon + timedelta(hours=23, minutes=5), "b"),
            [
                ses("Send", noon, message_id=f"d{i}-0"),
                "{not json",
                ses("Send", noon + timedelta(hours=23, minutes=1), message_id=f"d{i}-next"),
            ],
        )
    engine = IngestEngine(
        max_days_per_write=2,
        quarantine_share_min_records=1,
        max_quarantined_share=0.3,
        temp_directory=resources["ingest_engine"].temp_directory,
    )

    def stage_all():
        return list(
            stage_days(EMAIL_EVENTS, days, lake=lake, engine=engine,
                       pseudonymizer=resources["pseudonymizer"], warehouse=warehouse)
        )  # fmt: skip

    together = stage_all()
    assert [(r.day, r.staged, r.duplicates, r.quarantined) for r in together] == [
        (days[0], 3, 1, 0),
        # Its own three and the previous day's late one; a bad line is the arrival day's.
        (days[1], 4, 1, 1),
        (days[2], 4, 1, 1),
    ]
    assert all(r.reconciles and r.rows_in_table == r.staged for r in together)
    tables = [staged_rows(warehouse, day) for day in days], quarantine_rows(warehouse)

    for day in days:
        stage(resources, day)
    assert ([staged_rows(warehouse, day) for day in days], quarantine_rows(warehouse)) == tables

    # Days 0 and 1 share a write: day 1 going bad (4 of 9 lines) leaves day 0 as it was too.
    noon = utc(f"{days[0] - timedelta(days=1)} 16:00:00")
    put_lines(lake, firehose_key("ses-events", noon, "more"), [ses("Send", noon, message_id="x")])
    put_lines(lake, firehose_key("ses-events", noon + timedelta(days=1), "bad"), ["{"] * 3)
    with pytest.raises(dg.Failure, match="would be quarantined"):
        stage_all()
    assert [staged_rows(warehouse, day) for day in days] == tables[0]


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


def test_crlf_line_endings_give_exactly_their_records(resources):
    """An object written with Windows line endings: its records, one blank line where there is
    one, and no carriage return in any staged value."""
    lake = resources["lake"]
    at = utc("2026-11-20 01:00:00")
    records = [json.dumps(ses("Send", at, message_id=f"crlf-{i}")) for i in range(3)]
    body = "\r\n".join([records[0], records[1], "", records[2]]) + "\r\n"
    key = firehose_key("ses-events", utc("2026-11-20 01:05:00"))
    lake.write_bytes(key, gzip.compress(body.encode(), mtime=0))

    result = stage(resources)

    assert (result.records_read, result.staged, result.quarantined, result.blank_lines) == (
        3, 3, 0, 1,
    )  # fmt: skip
    rows = staged_rows(resources["warehouse"])
    assert sorted(r["message_id"] for r in rows) == ["crlf-0", "crlf-1", "crlf-2"]
    assert not any("\r" in str(value) for r in rows for value in r.values())


def test_a_lone_carriage_return_inside_a_line_is_quarantined_not_blank(resources):
    """Attack on the CRLF reading: a bare `\\r` in the middle of a record (valid JSON whitespace)
    splits it, as every line reader of the engine does; its pieces are quarantined with their
    reason, never counted as blank lines, and the records around it are staged."""
    lake = resources["lake"]
    at = utc("2026-11-20 01:00:00")
    broken = json.dumps(ses("Send", at, message_id="split")).replace(', "mail"', ',\r"mail"', 1)
    body = "\n".join(
        [json.dumps(ses("Send", at, message_id="before")), broken,
         json.dumps(ses("Send", at, message_id="after"))]
    ) + "\n"  # fmt: skip
    lake.write_bytes(
        firehose_key("ses-events", utc("2026-11-20 01:05:00")), gzip.compress(body.encode())
    )

    result = stage(resources)

    assert {r["message_id"] for r in staged_rows(resources["warehouse"])} == {"before", "after"}
    assert result.quarantine_reasons == {"malformed_json": 2} and result.blank_lines == 0
    assert result.reconciles


def test_late_objects_are_replayed_into_their_day_and_stay_there(resources):
    """Objects delivered 4 and 7 hours after D ended: D never reads them, D+1 quarantines their
    records `arrived_after_window` and says which replay would stage them; a plain re-run of D
    still misses them. The replay (D and D+1 in one run, reading objects delivered until 23:00
    UTC) stages them into D, leaves in D+1's quarantine only a record ten days late, and is
    kept: plain re-runs of either day agree with it afterwards."""
    lake, warehouse, engine = resources["lake"], resources["warehouse"], resources["ingest_engine"]
    put_lines(lake, firehose_key("ses-events", utc("2026-11-20 01:05:00")), [
        ses("Send", utc("2026-11-20 01:00:00"), message_id="on-time")
    ])  # fmt: skip
    for hours_late in (4, 7):
        put_lines(lake, firehose_key("ses-events", utc(f"2026-11-20 {15 + hours_late}:10:00")), [
            ses("Open", utc("2026-11-20 10:00:00"), message_id=f"{hours_late}-hours-late"),
        ])  # fmt: skip
    put_lines(lake, firehose_key("ses-events", utc("2026-11-21 01:05:00")), [
        ses("Send", utc("2026-11-21 01:00:00"), message_id="next-day"),
        # Ten days late: beyond the automatic replay's 48 hours, it stays quarantined.
        ses("Open", utc("2026-11-10 10:00:00"), message_id="ten-days-late"),
    ])  # fmt: skip
    next_day = D + timedelta(days=1)

    assert stage(resources).staged == 1
    after = stage(resources, next_day)
    assert (after.staged, after.quarantine_reasons) == (1, {"arrived_after_window": 3})
    assert replay_of_late_records([after], engine) == {
        "first_day": "2026-11-20",
        "last_day": "2026-11-21",
        "arrivals_until": "2026-11-20T23:00:00+00:00",
        "records": 2,
    }
    assert stage(resources).staged == 1  # re-running D alone does not pick them up

    replayed = list(
        stage_days(EMAIL_EVENTS, [D, next_day], lake=lake, engine=engine, warehouse=warehouse,
                   pseudonymizer=resources["pseudonymizer"], replay_until=utc("2026-11-20 23:00"))
    )  # fmt: skip

    assert [(r.day, r.staged, r.quarantined, r.late_accepted) for r in replayed] == [
        (D, 3, 0, 2), (next_day, 1, 1, 0),
    ]  # fmt: skip
    assert replayed[0].window_end == utc("2026-11-20 23:00") and replayed[1].window_end is None
    assert {r["message_id"] for r in staged_rows(warehouse)} == {
        "on-time", "4-hours-late", "7-hours-late",
    }  # fmt: skip
    (left,) = quarantine_rows(warehouse)
    assert (left["event_date"], left["reason"]) == (next_day, "arrived_after_window")
    assert replay_of_late_records(replayed, engine) is None  # the one left is too old
    assert (stage(resources).staged, stage(resources, next_day).quarantined) == (3, 1)
    # A later replay with an earlier instant does not narrow the window again.
    narrower = stage_day(
        EMAIL_EVENTS, D, lake=lake, engine=engine, warehouse=warehouse,
        pseudonymizer=resources["pseudonymizer"], replay_until=utc("2026-11-20 19:00"),
    )  # fmt: skip
    assert narrower.staged == 3 and len(staged_rows(warehouse)) == 3


def test_a_replay_instant_to_come_or_without_an_offset_is_refused():
    now = utc("2026-11-21 00:30:00")
    assert replay_until({REPLAY_TAG: "2026-11-20T22:10:00+09:00"}, now) == utc("2026-11-20 14:00")
    assert replay_until({}, now) is None
    for text, refusal in (
        ("2026-11-21T01:00:00Z", "is in the future"),
        ("2026-11-20T23:00:00", "not an ISO 8601 instant with an offset"),
        ("yesterday", "not an ISO 8601 instant with an offset"),
    ):
        with pytest.raises(dg.Failure, match=refusal) as failure:
            replay_until({REPLAY_TAG: text}, now)
        assert not failure.value.allow_retries


def test_a_backfill_records_each_days_own_figures(resources):
    """One run over two days: each partition's materialization carries that day's rows, reads,
    duplicates, quarantine and reconciliation, not the run's sums (the UI's row count and plots
    read them per partition)."""
    days = [D, D + timedelta(days=1)]
    for i, (day, events) in enumerate(zip(days, (3, 5), strict=True)):
        noon = utc(f"{day - timedelta(days=1)} 16:00:00")  # 01:00 in Japan on `day`
        lines = [ses("Send", noon, message_id=f"d{i}-{n}") for n in range(events)]
        # The second day also gets a re-delivered copy and a bad line.
        lines += [ses("Send", noon, message_id=f"d{i}-0"), "{not json"] * i
        put_lines(resources["lake"], firehose_key("ses-events", noon + timedelta(minutes=5)), lines)

    result = dg.materialize(
        [stg_email_events],
        resources=resources,
        tags={
            ASSET_PARTITION_RANGE_START_TAG: str(days[0]),
            ASSET_PARTITION_RANGE_END_TAG: str(days[1]),
        },
    )

    figures = (
        "dagster/row_count",
        "records_read",
        "duplicates_dropped",
        "quarantined",
        "reconciled",
    )
    by_partition = {
        m.partition: tuple(getattr(m.metadata.get(name), "value", None) for name in figures)
        for m in result.asset_materializations_for_node("stg_email_events")
    }
    assert by_partition == {"2026-11-20": (3, 3, 0, 0, True), "2026-11-21": (5, 7, 1, 1, True)}
    assert staged_rows(resources["warehouse"], days[1])[0]["event_date"] == days[1]


@pytest.mark.parametrize("max_days", [31, 2], ids=["one-group", "groups-of-two"])
def test_a_backfill_lists_and_reads_each_object_once_per_engine_session(resources, max_days):
    """Three consecutive days, each with objects delivered at 00:30, 12:00 and (the next day)
    00:30 Japan time: the first holds the day's first send and the previous day's last, the
    last a re-delivered copy of the noon send and the next day's first send. Neighbouring days'
    windows read the objects delivered around midnight. Staged together, the days' folders are
    listed once, each object is read once, in one engine session per write group, and each
    day's figures are those it has alone.

    Day D's window reads 5 objects: D-1's late one, D's three, D+1's early one. D's records
    in them: its first send twice (in D-1's late object and its own early one), its noon send
    twice, its last send once (delivered with D+1's first, after D ended: late, accepted):
    5 read, 3 staged, 2 duplicates. Records of other days: D-1's noon copy and last send,
    D+1's first send twice: 4."""
    lake, warehouse = resources["lake"], resources["warehouse"]
    days = [D - timedelta(days=1), D, D + timedelta(days=1)]
    keys = []
    for i, day in enumerate(days):
        start = utc(f"{day - timedelta(days=1)} 15:00:00")  # 00:00 in Japan on `day`
        noon = ses("Send", start + timedelta(hours=11, minutes=59), message_id=f"noon{i}")
        records = {
            f"early{i}": [
                ses("Send", start + timedelta(minutes=29), message_id=f"first{i}"),
                ses("Send", start - timedelta(minutes=2), message_id=f"last{i - 1}"),
            ],
            f"noon{i}": [noon],
            f"late{i}": [
                ses("Send", start + timedelta(hours=24, minutes=29), message_id=f"first{i + 1}"),
                noon,
            ],
        }
        for hours, name in ((0.5, f"early{i}"), (12, f"noon{i}"), (24.5, f"late{i}")):
            keys.append(firehose_key("ses-events", start + timedelta(hours=hours), name))
            put_lines(lake, keys[-1], records[name])
    alone = [stage(resources, day) for day in days]
    recorded_lake = Recorded(lake)
    engine = Recorded(
        IngestEngine(
            max_days_per_write=max_days, temp_directory=resources["ingest_engine"].temp_directory
        )
    )
    together = list(
        stage_days(EMAIL_EVENTS, days, lake=recorded_lake, engine=engine,
                   pseudonymizer=resources["pseudonymizer"], warehouse=warehouse)
    )  # fmt: skip

    # Each object once per write group that reads it: D/D+1's midnight objects are read by
    # both groups when D and D+1 are in different ones.
    shared = {k for k in keys if k.endswith(("late1.gz", "early2.gz"))} if max_days == 2 else set()
    assert Counter(recorded_lake.read) == {k: 2 if k in shared else 1 for k in keys}
    assert sorted(recorded_lake.listed) == sorted(set(recorded_lake.listed))
    assert engine.sessions == (1 if max_days == 31 else 2)
    figures = [
        (d.day, d.objects, d.records_read, d.staged, d.duplicates, d.other_days, d.late_accepted)
        for d in together
    ]
    assert figures == [
        (d.day, d.objects, d.records_read, d.staged, d.duplicates, d.other_days, d.late_accepted)
        for d in alone
    ]
    assert figures[1] == (D, 5, 5, 3, 2, 4, 1)
    assert all(d.reconciles and d.rows_in_table == d.staged for d in together)


def _staged_fields(resources, *records, key_time="2026-11-19 16:05:00"):
    put_lines(resources["lake"], firehose_key("ses-events", utc(key_time)), list(records))
    result = stage(resources)
    assert result.quarantined == 0
    return {
        r["message_id"]: r for r in staged_rows(resources["warehouse"]) if r["event_type"] != "send"
    }


def test_the_documented_per_type_fields_are_staged_typed(resources):
    """SES's own record shapes (event-publishing examples): each field lands in its column, on
    its own event type only."""
    sent = utc("2026-11-19 16:00:00")
    at = utc("2026-11-19 16:00:05")
    rows = _staged_fields(
        resources,
        ses("Reject", at, message_id="reject", sent_at=sent, reason="Bad content"),
        ses(
            "Bounce",
            at,
            message_id="bounce",
            sent_at=sent,
            bouncedRecipients=[
                {
                    "emailAddress": "hanako@example.jp",
                    "action": "failed",
                    "status": "5.1.1",
                    "diagnosticCode": "smtp; 550 5.1.1 user unknown",
                }
            ],
        ),
        ses(
            "Delivery",
            at,
            message_id="delivery",
            sent_at=sent,
            processingTimeMillis=546,
            smtpResponse="250 ok:  Message 64111812 accepted",
            reportingMTA="a8-70.smtp-out.amazonses.com",
        ),
        ses(
            "Click",
            at,
            message_id="click",
            sent_at=sent,
            link="https://tokyo-tech.theletter.jp/posts/po_1",
            linkTags={"samplekey0": ["samplevalue0"], "link_type": ["post", "header"]},
        ),
        ses(
            "Rendering Failure",
            at,
            message_id="failure",
            sent_at=sent,
            errorMessage="Attribute 'attributeName' is not present in the rendering data.",
            templateName="MyTemplate",
        ),
        ses(
            "Subscription",
            at,
            message_id="subscription",
            sent_at=sent,
            contactList="theletter-nl_1",
            source="UnsubscribeHeader",
        ),
        ses(
            "DeliveryDelay",
            at,
            message_id="delay",
            sent_at=sent,
            delayType="MailboxFull",
            delayedRecipients=[
                {
                    "emailAddress": "hanako@example.jp",
                    "status": "4.2.2",
                    "diagnosticCode": "smtp; 452 4.2.2 Mailbox full",
                }
            ],
        ),
    )
    fields = (
        "ses_reject_reason", "diagnostic_code", "smtp_response", "processing_time_ms",
        "link_tags", "error_message", "template_name", "subscription_source", "contact_list",
    )  # fmt: skip
    got = {m: {f: r[f] for f in fields if r[f] is not None} for m, r in rows.items()}
    assert got == {
        "reject": {"ses_reject_reason": "Bad content"},
        "bounce": {"diagnostic_code": "smtp; 550 5.1.1 user unknown"},
        "delivery": {
            "smtp_response": "250 ok:  Message 64111812 accepted",
            "processing_time_ms": 546,
        },
        "click": {"link_tags": '{"samplekey0":["samplevalue0"],"link_type":["post","header"]}'},
        "failure": {
            "error_message": "Attribute 'attributeName' is not present in the rendering data.",
            "template_name": "MyTemplate",
        },
        "subscription": {
            "subscription_source": "UnsubscribeHeader",
            "contact_list": "theletter-nl_1",
        },
        "delay": {"diagnostic_code": "smtp; 452 4.2.2 Mailbox full"},
    }


# Servers quote addresses in their free text, in every form; each must come out masked.
_DIAGNOSTICS = {
    "angle": (
        "smtp; 550 5.1.1 <Hanako.Sato@Example.JP>: Recipient address rejected: User unknown",
        "smtp; 550 5.1.1 <<email>>: Recipient address rejected: User unknown",
    ),
    "mailto": (
        "smtp; 550 mailbox unavailable mailto:hanako.sato@example.jp (alias of t.ito@corp.example)",
        "smtp; 550 mailbox unavailable mailto:<email> (alias of <email>)",
    ),
    "fullwidth": ("550 user hanako.sato\uff20example.jp unknown", "550 user <email> unknown"),
    "percent": ("550 rcpt=hanako.sato%40example.jp refused", "550 <email> refused"),
    "escaped": ("550 rcpt hanako.sato\\u0040example.jp refused", "550 rcpt <email> refused"),
    # A quoted local part with a space: the at-sign pattern alone would leave "hanako sato".
    "quoted": ('550 5.1.1 "hanako sato"@example.jp unknown', "550 5.1.1 <email> unknown"),
}


def test_addresses_inside_diagnostics_and_responses_are_masked(resources):
    sent = utc("2026-11-19 16:00:00")
    at = utc("2026-11-19 16:00:05")
    records = []
    for name, (diagnostic, _) in _DIAGNOSTICS.items():
        recipient = '"hanako sato"@example.jp' if name == "quoted" else "hanako.sato@example.jp"
        records.append(
            ses(
                "Bounce",
                at,
                message_id=f"bounce-{name}",
                recipient=recipient,
                sent_at=sent,
                bouncedRecipients=[
                    # Another recipient's entry comes first: each row takes its own.
                    {"emailAddress": "other@example.jp", "diagnosticCode": "smtp; 250 other"},
                    {"emailAddress": recipient, "diagnosticCode": diagnostic},
                ],
            )
        )
    records.append(
        ses(
            "Delivery",
            at,
            message_id="delivery",
            sent_at=sent,
            smtpResponse="250 2.1.5 Ok <HANAKO@example.jp> queued as 4Xyz",
        )
    )
    records.append(
        ses(
            "Rendering Failure",
            at,
            message_id="failure",
            sent_at=sent,
            errorMessage="Attribute 'name' missing for hanako@example.jp " + "x" * 2_000,
            templateName="newsletter-post-v3",
        )
    )
    rows = _staged_fields(resources, *records)
    bounces = [r for r in staged_rows(resources["warehouse"]) if r["event_type"] == "bounce"]
    other = resources["pseudonymizer"].hash("other@example.jp")
    assert {
        r["message_id"].removeprefix("bounce-"): r["diagnostic_code"]
        for r in bounces
        if r["recipient_hash"] != other
    } == {name: masked for name, (_, masked) in _DIAGNOSTICS.items()}
    # The other recipient's rows keep their own text.
    assert [r["diagnostic_code"] for r in bounces if r["recipient_hash"] == other] == [
        "smtp; 250 other"
    ] * len(_DIAGNOSTICS)
    assert rows["delivery"]["smtp_response"] == "250 2.1.5 Ok <<email>> queued as 4Xyz"
    message = rows["failure"]["error_message"]
    assert message.startswith("Attribute 'name' missing for <email> xxx") and len(message) == 1000
    assert all(
        "@" not in str(v) and "hanako" not in str(v).lower()
        for r in staged_rows(resources["warehouse"])
        for v in r.values()
    )


@pytest.mark.parametrize(
    "link_tags",
    [
        "link_type:post",  # a string, as written in the anchor's ses:tags
        ["post"],
        {"link_type": "post"},  # a value that is not a list
        {"link_type": [1]},  # a number where SES writes strings
        {"link_type": [{"nested": ["post"]}]},
        {"link_type": [None]},
        {"to": ["hanako@example.jp"]},  # a character SES does not allow in a tag
        {"link type": ["post"]},
        {},
    ],
    ids=lambda v: json.dumps(v)[:30],
)
def test_link_tags_of_another_shape_leave_the_click_without_tags(resources, link_tags):
    sent = utc("2026-11-19 16:00:00")
    rows = _staged_fields(
        resources,
        ses(
            "Click",
            utc("2026-11-19 16:00:05"),
            sent_at=sent,
            link="https://tokyo-tech.theletter.jp/posts/po_1",
            linkTags=link_tags,
        ),
    )
    (click,) = rows.values()
    assert (click["event_type"], click["link_url"], click["link_tags"]) == (
        "click",
        "https://tokyo-tech.theletter.jp/posts/po_1",
        None,
    )


def test_processing_time_of_another_shape_is_no_processing_time(resources):
    sent = utc("2026-11-19 16:00:00")
    at = utc("2026-11-19 16:00:05")
    rows = _staged_fields(
        resources,
        ses("Delivery", at, message_id="negative", sent_at=sent, processingTimeMillis=-5),
        ses("Delivery", at, message_id="text", sent_at=sent, processingTimeMillis="soon"),
        ses("Delivery", at, message_id="object", sent_at=sent, processingTimeMillis={"ms": 5}),
    )
    assert {m: r["processing_time_ms"] for m, r in rows.items()} == {
        "negative": None,
        "text": None,
        "object": None,
    }


_OPEN_AGENTS = {
    # agent: (email_client, device_class)
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, "
    "like Gecko) Mobile/15E148": ("apple_mail", "mobile"),
    "Mozilla/5.0 (iPad; CPU OS 17_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Mobile/15E148": ("apple_mail", "mobile"),
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko)": (
        "apple_mail",
        "desktop",
    ),
    "Mozilla/5.0 (Windows NT 5.1; rv:11.0) Gecko Firefox/11.0 (via ggpht.com GoogleImageProxy)": (
        "gmail",
        "webmail",
    ),
    "YahooMailProxy; https://help.yahoo.com/kb/yahoo-mail-proxy-SLN28749.html": (
        "yahoo",
        "webmail",
    ),
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_2 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like "
    "Gecko) Mobile/15E148 YJApp-IOS jp.co.yahoo.ymail/3.68.0": ("yahoo", "mobile"),
    "Microsoft Office/16.0 (Windows NT 10.0; Microsoft Outlook 16.0.18129; Pro)": (
        "outlook",
        "desktop",
    ),
    # Attacks: a browser on an iPhone is no Apple Mail; an Android app's web view is no browser;
    # an in-app browser on iOS; upper case; a 10 KB agent; none at all.
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like "
    "Gecko) Version/18.1 Mobile/15E148 Safari/604.1": ("other", "webmail"),
    "Mozilla/5.0 (Linux; Android 14; SO-51D Build/67.1.A.2.123; wv) AppleWebKit/537.36 (KHTML, "
    "like Gecko) Version/4.0 Chrome/131.0.6778.135 Mobile Safari/537.36": ("other", "mobile"),
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like "
    "Gecko) Mobile/15E148 Line/14.19.0": ("other", "mobile"),
    "MOZILLA/5.0 (WINDOWS NT 10.0) MICROSOFT OUTLOOK 16.0": ("outlook", "desktop"),
    "Mozilla/5.0 (X11; Linux x86_64) " + "x" * 10_000 + " Thunderbird/128.0": ("other", "desktop"),
    None: ("other", "unknown"),
}


def test_a_persons_open_gets_its_mail_app_and_device_and_a_machine_open_neither(resources):
    """Staging's SQL and the rules applied in Python (`email_clients.classify`) agree."""
    sent = utc("2026-11-19 16:00:00")
    records = [
        ses("Open", utc("2026-11-19 16:10:00"), message_id=f"m{i}", sent_at=sent, userAgent=agent)
        for i, agent in enumerate(_OPEN_AGENTS)
    ]
    for record in records:
        if record["open"]["userAgent"] is None:
            del record["open"]["userAgent"]
    records.append(machine_open(utc("2026-11-19 16:01:00"), message_id="mpp", sent_at=sent))
    rows = _staged_fields(resources, *records)
    got = {m: (r["email_client"], r["device_class"]) for m, r in rows.items()}
    assert got == {
        **{f"m{i}": expected for i, expected in enumerate(_OPEN_AGENTS.values())},
        "mpp": (None, None),
    }
    for agent, expected in _OPEN_AGENTS.items():
        python = (
            classify(agent or "", CLIENT_RULES, "other"),
            classify(agent or "", DEVICE_RULES, "unknown"),
        )
        assert python == expected, agent
