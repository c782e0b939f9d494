"""Export drift in the app database's snapshots: an optional column renamed or dropped on purpose,
a snapshot that shrinks or is empty, and a required column renamed or missing from one file or
a file that is not Parquet: each fails at once naming the export, in every stream that reads it.

Day D, the export rows and `stage`: support/staged_app_exports.py.
"""

from __future__ import annotations

import re
import time

import dagster as dg
import pyarrow as pa
import pytest

from theletter_data.resources.ingest_engine import IngestEngine
from theletter_data.staging.app_exports import NEWSLETTERS, POSTS, SUBSCRIPTIONS
from theletter_data.staging.email_events import EMAIL_EVENTS, stg_email_events
from theletter_data.staging.lines.stage import stage_day
from theletter_data_tests.support.rawdata import firehose_key, put_export, put_lines, ses, utc
from theletter_data_tests.support.staged_app_exports import (
    AS_OF,
    NEXT,
    D,
    post,
    put_newsletters,
    renamed,
    stage,
    subscription,
    ten_subscriptions,
)

# --- Export drift: a renamed optional column, a shrunk or empty snapshot ---------------------


@pytest.mark.parametrize(
    ("table", "column"),
    [
        ("subscriptions", "unsubscribed_at"),
        ("subscriptions", "plan"),
        ("subscriptions", "signup_source"),
        ("posts", "title"),
    ],
)
def test_an_optional_column_that_disappears_fails_instead_of_becoming_null(
    resources, table: str, column: str
) -> None:
    lake, warehouse = resources["lake"], resources["warehouse"]
    put_newsletters(lake, D, NEXT)
    export, rows = (
        (SUBSCRIPTIONS, ten_subscriptions())
        if table == "subscriptions"
        else (POSTS, [post(f"po_{i}") for i in range(10)])
    )
    put_export(lake, table, D, rows)
    put_export(lake, table, NEXT, renamed(rows, column))
    assert stage(resources, export).staged == 10

    with pytest.raises(dg.Failure) as failure:
        stage(resources, export, NEXT)

    first_line = (failure.value.description or "").splitlines()[0]
    assert first_line.startswith(
        f"The `{table}` export of {NEXT} (`appdb/{table}/dt={NEXT}/part-00000.parquet`) lacks "
        f"column(s) `{column}` that the {D} snapshot had"
    )
    assert not failure.value.allow_retries
    day = export.table.partition_by
    days = warehouse.query(
        f"SELECT DISTINCT {day} AS snapshot_date FROM staging.stg_{table}"
    ).to_pylist()
    assert days == [{"snapshot_date": D}]  # nothing written for the drifted day


def test_a_column_dropped_on_purpose_can_be_accepted(resources) -> None:
    lake, warehouse = resources["lake"], resources["warehouse"]
    put_newsletters(lake, D, NEXT)
    put_export(lake, "subscriptions", D, ten_subscriptions())
    put_export(lake, "subscriptions", NEXT, renamed(ten_subscriptions(), "plan"))
    stage(resources)
    accepting = IngestEngine(accepted_missing_columns=["subscriptions.plan"])

    result = stage({**resources, "ingest_engine": accepting}, SUBSCRIPTIONS, NEXT)

    assert result.staged == 10 and result.missing_optional_columns == ["plan"]
    paid = warehouse.query(
        "SELECT snapshot_date, COUNTIF(plan = 'paid') AS paid, COUNTIF(is_active) AS active "
        f"FROM {AS_OF} GROUP BY snapshot_date ORDER BY snapshot_date"
    ).to_pylist()
    assert paid == [
        {"snapshot_date": D, "paid": 3, "active": 6},
        {"snapshot_date": NEXT, "paid": 0, "active": 6},
    ]


@pytest.mark.parametrize(
    ("rows", "min_share", "fails_with"),
    [
        (0, 0.9, "has 0 rows, 0% of the 20 of the 2026-11-20 snapshot"),
        (0, 0.0, "has 0 rows, 0% of the 20 of the 2026-11-20 snapshot"),
        (17, 0.9, "has 17 rows, 85% of the 20 of the 2026-11-20 snapshot"),
        (18, 0.9, None),
        (17, 0.5, None),
    ],
)
def test_a_snapshot_that_shrinks_beyond_the_plausible_share_fails_naming_the_export(
    resources, rows: int, min_share: float, fails_with: str | None
) -> None:
    lake, warehouse = resources["lake"], resources["warehouse"]
    put_newsletters(lake, D, NEXT)
    every = [subscription(f"s{i}", f"r{i}@example.jp", "2026-11-01 00:00:00") for i in range(20)]
    put_export(lake, "subscriptions", D, every)
    schema = pa.Table.from_pylist(every).schema
    put_export(lake, "subscriptions", NEXT, every[:rows], schema=schema)
    stage(resources)
    engine = IngestEngine(min_snapshot_share=min_share)

    if fails_with is None:
        assert stage({**resources, "ingest_engine": engine}, SUBSCRIPTIONS, NEXT).staged == rows
        return
    with pytest.raises(dg.Failure) as failure:
        stage({**resources, "ingest_engine": engine}, SUBSCRIPTIONS, NEXT)
    message = failure.value.description or ""
    assert message.startswith(
        f"The `subscriptions` export of {NEXT} "
        f"(`appdb/subscriptions/dt={NEXT}/part-00000.parquet`) {fails_with}"
    )
    assert "min_snapshot_share" in message and not failure.value.allow_retries
    active = warehouse.query(
        f"SELECT snapshot_date, COUNTIF(is_active) AS active FROM {AS_OF} GROUP BY snapshot_date"
    ).to_pylist()
    assert active == [{"snapshot_date": D, "active": 20}]  # the empty day did not count 0


def test_an_empty_newsletters_export_fails_its_staging_and_the_streams_that_read_it(
    resources,
) -> None:
    lake, warehouse = resources["lake"], resources["warehouse"]
    put_newsletters(lake, D, ids=("nl_1", "nl_2"))
    schema = pa.Table.from_pylist([{"newsletter_id": "x", "slug": "x", "created_at": utc(
        "2026-01-01 00:00:00")}]).schema  # fmt: skip
    put_export(lake, "newsletters", NEXT, [], schema=schema)
    for arrival in (utc("2026-11-20 02:00:00"), utc("2026-11-21 02:00:00")):
        put_lines(lake, firehose_key("ses-events", arrival), [
            ses("Send", arrival, message_id=f"{arrival:%d}-{i}") for i in range(30)
        ])  # fmt: skip
    others = {"engine": resources["ingest_engine"], "pseudonymizer": resources["pseudonymizer"],
              "warehouse": warehouse}  # fmt: skip
    assert stage_day(EMAIL_EVENTS, D, lake=lake, **others).staged == 30
    expected = (
        f"The `newsletters` export of {NEXT} (`appdb/newsletters/dt={NEXT}/part-00000.parquet`)"
        " has 0 rows, 0% of the 2 of the 2026-11-20 snapshot"
    )
    with pytest.raises(dg.Failure, match=re.escape(expected)):
        stage(resources, NEWSLETTERS, NEXT)
    with pytest.raises(dg.Failure, match=re.escape(expected)) as failure:
        stage_day(EMAIL_EVENTS, NEXT, lake=lake, **others)
    assert not failure.value.allow_retries
    # Nothing quarantined as `unknown_newsletter`: the stream failed before judging a line.
    assert warehouse.query("SELECT COUNT(*) AS n FROM staging.quarantine").to_pylist() == [{"n": 0}]
    assert warehouse.query(
        "SELECT event_date, COUNT(*) AS n FROM staging.stg_email_events GROUP BY event_date"
    ).to_pylist() == [{"event_date": D, "n": 30}]


# --- A renamed required column: the export named, at once, in every stream that reads it ----


def test_a_renamed_required_column_fails_at_once_with_the_export_key_and_column(
    resources,
) -> None:
    lake, warehouse = resources["lake"], resources["warehouse"]
    put_newsletters(lake, D)
    put_export(lake, "newsletters", NEXT, [
        {"id": "nl_1", "slug": "nl-1", "created_at": utc("2026-01-01 00:00:00")}
    ])  # fmt: skip
    put_export(lake, "posts", NEXT, [post("po_1")])
    arrival = utc("2026-11-21 02:00:00")
    put_lines(lake, firehose_key("ses-events", arrival), [ses("Send", arrival)])
    first_line = (
        f"The `newsletters` export of {NEXT} lacks required column(s) `newsletter_id` in "
        f"`appdb/newsletters/dt={NEXT}/part-00000.parquet`: the app's export changed"
    )
    others = {"engine": resources["ingest_engine"], "pseudonymizer": resources["pseudonymizer"],
              "warehouse": warehouse}  # fmt: skip
    for staging in (
        lambda: stage(resources, NEWSLETTERS, NEXT),
        lambda: stage(resources, POSTS, NEXT),
        lambda: stage_day(EMAIL_EVENTS, NEXT, lake=lake, **others),
    ):
        with pytest.raises(dg.Failure) as failure:
            staging()
        assert (failure.value.description or "").startswith(first_line)
        assert not failure.value.allow_retries


def test_a_column_missing_from_one_file_of_a_snapshot_names_that_file(resources) -> None:
    """The snapshot's second file lacks `email` (the first has it): staging it would have made
    the second file's rows NULL-addressed; it fails naming that file."""
    lake = resources["lake"]
    put_newsletters(lake, D)
    put_export(lake, "subscriptions", D, ten_subscriptions()[:5])
    put_export(lake, "subscriptions", D, renamed(ten_subscriptions()[5:], "email"), part=1)
    with pytest.raises(dg.Failure) as failure:
        stage(resources)
    assert (failure.value.description or "").startswith(
        f"The `subscriptions` export of {D} lacks required column(s) `email` in "
        f"`appdb/subscriptions/dt={D}/part-00001.parquet`"
    )


def test_a_file_that_is_not_parquet_fails_at_once_naming_it(resources) -> None:
    lake = resources["lake"]
    put_newsletters(lake, D)
    put_export(lake, "posts", D, [post("po_1")])
    key = f"appdb/posts/dt={D}/part-00000.parquet"
    lake.write_bytes(key, lake.read_bytes(key)[:-100])  # an upload cut short
    with pytest.raises(dg.Failure) as failure:
        stage(resources, POSTS)
    assert (failure.value.description or "").startswith(f"`{key}` is not a readable Parquet file")
    assert not failure.value.allow_retries


def test_the_renamed_column_fails_the_streams_step_once_not_retried(
    lake, duckdb_warehouse, engine, pseudonymizer
) -> None:
    put_newsletters(lake, D)
    put_export(lake, "newsletters", NEXT, [
        {"id": "nl_1", "slug": "nl-1", "created_at": utc("2026-01-01 00:00:00")}
    ])  # fmt: skip
    arrival = utc("2026-11-21 02:00:00")
    put_lines(lake, firehose_key("ses-events", arrival), [ses("Send", arrival)])
    started = time.monotonic()
    result = dg.materialize(
        [stg_email_events],
        resources={
            "lake": lake,
            "warehouse": duckdb_warehouse,
            "ingest_engine": engine,
            "pseudonymizer": pseudonymizer,
        },
        partition_key=str(NEXT),
        raise_on_error=False,
    )
    assert not result.success
    assert time.monotonic() - started < 60
    kinds = [e.event_type_value for e in result.all_events]
    assert "STEP_UP_FOR_RETRY" not in kinds and kinds.count("STEP_FAILURE") == 1
    (failure,) = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
    message = failure.step_failure_data.error.message
    assert "lacks required column(s) `newsletter_id`" in message.splitlines()[0]
    assert "FieldRef" not in message
