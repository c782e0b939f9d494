"""stg_email_events and late arrivals: records late within the arrival window are staged, later
ones quarantined `arrived_after_window`, and a replay stages them into their day.

Day D and its arrival window: support/staged_email_events.py.
"""

from __future__ import annotations

from datetime import date, timedelta

import dagster as dg
import pytest

from theletter_data.staging.arrival_windows import REPLAY_TAG, replay_until
from theletter_data.staging.email_events import EMAIL_EVENTS
from theletter_data.staging.lines.accounting import replay_of_late_records
from theletter_data.staging.lines.stage import stage_day, stage_days
from theletter_data_tests.support.rawdata import firehose_key, put_lines, ses, utc
from theletter_data_tests.support.staged_email_events import D, quarantine_rows, stage, staged_rows


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
