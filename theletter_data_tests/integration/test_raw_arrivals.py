"""The raw-arrivals sensor: exactly the partitions new objects change, each object once, across
restarts, late arrivals and listings of more than a thousand keys.

Japan-time 2026-11-20 is 2026-11-19 15:00 to 2026-11-20 15:00 UTC; its arrival window closes at
18:00 UTC (three hours of allowed lateness).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import boto3
import dagster as dg
import pytest

from theletter_data.automation.raw_arrivals import (
    dump_cursor,
    load_cursor,
    plan_arrivals,
    raw_arrivals_sensor,
)
from theletter_data.partitions import TOKYO
from theletter_data.resources.ingest_engine import IngestEngine
from theletter_data.resources.pseudonymizer import Pseudonymizer
from theletter_data.staging.arrival_windows import REPLAY_TAG
from theletter_data.staging.email_events import stg_email_events
from theletter_data_tests.support.rawdata import firehose_key, put_export, put_lines, ses, utc

LATENESS = timedelta(hours=3)


def plan(lake, cursor_text, now):  # type: ignore[no-untyped-def]
    result = plan_arrivals(lake, load_cursor(cursor_text), now, LATENESS)
    requests = sorted(
        (r.asset_selection[0].to_user_string(), r.partition_key) for r in result.requests
    )
    return requests, dump_cursor(result.cursor), result


def test_a_day_is_staged_once_its_window_closes_and_again_for_a_late_object(lake) -> None:
    put_lines(
        lake,
        firehose_key("ses-events", utc("2026-11-20 01:05:00")),
        [ses("Send", utc("2026-11-20 01:00:00"))],
    )

    # 10:00 JST on the 20th: the day is still open, nothing to stage yet.
    requests, cursor, _ = plan(lake, None, utc("2026-11-20 01:10:00"))
    assert requests == []
    assert load_cursor(cursor)["ses-events"].pending == ["2026-11-20"]

    # 02:59 JST on the 21st: still inside the window.
    assert plan(lake, cursor, utc("2026-11-20 17:59:00"))[0] == []
    # 03:00 JST: the window has closed, the day is staged, with no new object needed.
    requests, cursor, _ = plan(lake, cursor, utc("2026-11-20 18:00:00"))
    assert requests == [("stg_email_events", "2026-11-20")]
    assert plan(lake, cursor, utc("2026-11-20 19:00:00"))[0] == []  # never twice

    # An object arriving at 16:30 UTC can still hold events of the 20th (lateness) and of the
    # 21st: once both windows closed, exactly those two days are staged again.
    put_lines(
        lake,
        firehose_key("ses-events", utc("2026-11-20 16:30:00"), "late"),
        [ses("Send", utc("2026-11-20 14:50:00"))],
    )
    requests, cursor, _ = plan(lake, cursor, utc("2026-11-21 18:00:00"))
    assert requests == [("stg_email_events", "2026-11-20"), ("stg_email_events", "2026-11-21")]


def test_an_export_is_staged_as_soon_as_it_lands(lake) -> None:
    day = datetime(2026, 11, 20).date()
    put_export(lake, "subscriptions", day, [{"subscription_id": "s1"}])
    put_export(lake, "posts", day, [{"post_id": "p1"}])
    requests, cursor, _ = plan(lake, None, utc("2026-11-20 15:40:00"))
    assert requests == [("stg_posts", "2026-11-20"), ("stg_subscriptions", "2026-11-20")]
    assert plan(lake, cursor, utc("2026-11-20 15:45:00"))[0] == []


def test_a_log_export_is_staged_as_soon_as_it_lands_and_again_for_another_service(lake) -> None:
    put_lines(lake, "app-logs/2026-11-20/web/t1/ecs/web/a/000000.gz", ["x"])
    requests, cursor, _ = plan(lake, None, utc("2026-11-20 15:20:00"))
    assert requests == [("stg_app_logs", "2026-11-20")]
    assert plan(lake, cursor, utc("2026-11-20 15:25:00"))[0] == []
    put_lines(lake, "app-logs/2026-11-20/api/t2/ecs/api/b/000000.gz", ["x"])
    assert plan(lake, cursor, utc("2026-11-20 15:30:00"))[0] == [("stg_app_logs", "2026-11-20")]


def test_a_restart_resumes_from_the_cursor_and_sees_late_visible_keys(lake) -> None:
    put_lines(lake, firehose_key("pageviews", utc("2026-11-20 03:05:00"), "b"), [{"event_id": "x"}])
    now = utc("2026-11-20 19:00:00")
    requests, cursor, _ = plan(lake, None, now)
    assert requests == [("stg_page_views", "2026-11-20")]

    # A key that sorts *before* the watermark becomes visible only now (same delivery second,
    # smaller suffix): it is still seen, once, after a restart that only kept the cursor.
    put_lines(lake, firehose_key("pageviews", utc("2026-11-20 03:05:00"), "a"), [{"event_id": "y"}])
    restarted = dump_cursor(load_cursor(cursor))
    requests, cursor, result = plan(lake, restarted, now + timedelta(minutes=2))
    assert requests == [("stg_page_views", "2026-11-20")] and result.new_keys == 1
    assert plan(lake, cursor, now + timedelta(minutes=4))[0] == []


def test_more_than_a_thousand_new_keys_on_s3_in_one_tick(s3_lake, moto_endpoint) -> None:
    bucket = s3_lake.url.removeprefix("s3://").split("/")[0]
    client = boto3.client("s3", endpoint_url=moto_endpoint)
    for i in range(1_100):
        arrival = utc("2026-11-20 00:00:00") + timedelta(minutes=i)  # 18 hours of objects
        client.put_object(
            Bucket=bucket, Key=f"theletter/{firehose_key('ses-events', arrival, str(i))}", Body=b""
        )
    # A first tick looks two days back: from 00:00 UTC on the 20th.
    requests, cursor, result = plan(s3_lake, None, utc("2026-11-22 00:00:00"))
    assert result.new_keys == 1_100 and result.complete
    # Deliveries from 09:00 JST on the 20th to 03:19 JST on the 21st: those two days.
    assert requests == [("stg_email_events", "2026-11-20"), ("stg_email_events", "2026-11-21")]
    assert plan(s3_lake, cursor, utc("2026-11-22 00:05:00"))[2].new_keys == 0


def test_a_long_pause_is_caught_up_over_several_ticks(lake) -> None:
    for day in range(1, 11):
        arrival = utc(f"2026-11-{day:02d} 02:00:00")
        put_lines(lake, firehose_key("pageviews", arrival), [{"event_id": str(day)}])
    _, cursor, _ = plan(lake, None, utc("2026-11-01 03:00:00"))  # first tick
    cursor_state = load_cursor(cursor)
    now = utc("2026-11-12 00:00:00")
    staged: list[str] = []
    for _ in range(10):
        result = plan_arrivals(lake, cursor_state, now, LATENESS)
        staged += [r.partition_key for r in result.requests]
        if result.complete:
            break
    assert staged == [f"2026-11-{d:02d}" for d in range(1, 11)]


def test_the_sensor_runs_with_a_real_instance(s3_lake) -> None:
    # Delivered 30 hours ago (real clock): its Japan-time day's window has closed by now.
    arrival = datetime.now(UTC).replace(minute=5, second=0, microsecond=0) - timedelta(hours=30)
    key = firehose_key("ses-events", arrival)
    put_lines(s3_lake, key, [ses("Send", arrival - timedelta(minutes=2))])
    sensor = raw_arrivals_sensor(dg.DefaultSensorStatus.STOPPED)
    with dg.instance_for_test() as instance:
        context = dg.build_sensor_context(
            instance=instance,
            resources={"lake": s3_lake, "ingest_engine": IngestEngine()},
        )
        result = sensor(context)
    event_day = (arrival - timedelta(minutes=2)).astimezone(TOKYO).date().isoformat()
    requested = {(r.partition_key, r.asset_selection[0].path[0]) for r in result.run_requests}
    assert (event_day, "stg_email_events") in requested
    assert load_cursor(result.cursor)["ses-events"].watermark == key


def test_keys_outside_the_layout_are_named_once_and_ignored(lake) -> None:
    """A job's `_temporary/` folder in a delivery day's folder used to stop the sensor
    (`int('_temporary')`); now the tick goes on and names the key, once."""
    put_lines(lake, firehose_key("ses-events", utc("2026-11-20 01:05:00")), [ses("Send", utc(
        "2026-11-20 01:00:00"))])  # fmt: skip
    stray = "ses-events/2026/11/20/_temporary/part-0.gz"
    put_lines(lake, stray, [ses("Send", utc("2026-11-20 01:00:00"))])
    put_lines(lake, "app-logs/2026-11-20/web/_temporary/000000.gz", ["x"])

    requests, cursor, result = plan(lake, None, utc("2026-11-20 18:00:00"))

    assert requests == [("stg_email_events", "2026-11-20")]
    assert result.outside_layout == [stray, "app-logs/2026-11-20/web/_temporary/000000.gz"]
    assert result.new_keys == 1
    again = plan(lake, cursor, utc("2026-11-20 18:02:00"))[2]
    assert again.outside_layout == [] and again.requests == []


@pytest.mark.slow
def test_the_sensor_replays_the_day_of_a_late_object(lake, duckdb_warehouse, tmp_path) -> None:
    """An object lands 7 hours after its records' day D ended. Staging D+1 (whose arrival day
    it is) quarantines them and reports the replay; the sensor's next tick requests it (D and
    D+1 in one run, with the replay tag), once; that run stages them into D."""
    day, next_day = "2026-11-20", "2026-11-21"
    put_lines(lake, firehose_key("ses-events", utc("2026-11-20 01:05:00")), [ses("Send", utc(
        "2026-11-20 01:00:00"), message_id="on-time")])  # fmt: skip
    put_lines(lake, firehose_key("ses-events", utc("2026-11-20 22:10:00"), "late"), [
        ses("Open", utc("2026-11-20 10:00:00"), message_id="late"),
        ses("Send", utc("2026-11-20 22:00:00"), message_id="next-day"),
    ])  # fmt: skip
    resources = {
        "lake": lake,
        "warehouse": duckdb_warehouse,
        "ingest_engine": IngestEngine(temp_directory=str(tmp_path / "spill")),
        "pseudonymizer": Pseudonymizer(key="test-pseudonym-key"),
    }
    sensor = raw_arrivals_sensor(dg.DefaultSensorStatus.STOPPED)

    def tick(instance, cursor):  # type: ignore[no-untyped-def]
        with dg.build_sensor_context(
            instance=instance, cursor=cursor, resources=resources
        ) as context:
            result = sensor(context)
        replays = [r for r in result.run_requests if REPLAY_TAG in r.tags]
        return replays, result.cursor

    with dg.instance_for_test() as instance:
        for partition in (day, next_day):
            dg.materialize([stg_email_events], instance=instance, resources=resources,
                           partition_key=partition)  # fmt: skip
        (replay,), cursor = tick(instance, None)
        assert replay.tags == {
            "dagster/asset_partition_range_start": day,
            "dagster/asset_partition_range_end": next_day,
            REPLAY_TAG: "2026-11-20T23:00:00+00:00",
            "theletter/trigger": "raw_arrivals",
        }
        assert replay.asset_selection == [dg.AssetKey("stg_email_events")]
        assert tick(instance, cursor)[0] == []  # once

        result = dg.materialize([stg_email_events], instance=instance, resources=resources,
                                tags=replay.tags)  # fmt: skip
        assert result.success
        assert tick(instance, cursor)[0] == []  # nothing late any more
    staged = duckdb_warehouse.query(
        "SELECT event_date, message_id FROM staging.stg_email_events ORDER BY message_id"
    ).to_pylist()
    assert [(str(r["event_date"]), r["message_id"]) for r in staged] == [
        (day, "late"), (next_day, "next-day"), (day, "on-time"),
    ]  # fmt: skip
