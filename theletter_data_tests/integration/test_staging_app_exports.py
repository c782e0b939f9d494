"""Staging the app database's nightly snapshots: keys, pseudonyms, schema drift, quarantine."""

from __future__ import annotations

import re
import time
from datetime import date, timedelta

import dagster as dg
import pyarrow as pa
import pytest
from dagster._core.storage.tags import (
    ASSET_PARTITION_RANGE_END_TAG,
    ASSET_PARTITION_RANGE_START_TAG,
)

from theletter_data.checks import run_table_checks
from theletter_data.resources.ingest_engine import IngestEngine
from theletter_data.staging.app_exports import (
    NEWSLETTERS,
    POSTS,
    SUBSCRIPTIONS,
    stage_snapshot,
    stg_newsletters,
)
from theletter_data.staging.email_events import EMAIL_EVENTS, stg_email_events
from theletter_data.staging.known_newsletters import known_newsletters
from theletter_data.staging.lines.stage import stage_day
from theletter_data.staging.snapshot_staging import stage_snapshots
from theletter_data_tests.support.rawdata import firehose_key, put_export, put_lines, ses, utc
from theletter_data_tests.support.recorded import Recorded
from theletter_data_tests.support.staged import snapshots_of

D = date(2026, 11, 20)
AS_OF = snapshots_of(SUBSCRIPTIONS.table)
"""stg_subscriptions per snapshot day, as the metrics read it."""


def subscription(sid: str, email: str, subscribed: str, unsubscribed: str | None = None, **extra):
    return {
        "subscription_id": sid,
        "newsletter_id": "nl_1",
        "reader_id": f"rd_{sid}",
        "email": email,
        "plan": "free",
        "subscribed_at": utc(subscribed),
        "unsubscribed_at": utc(unsubscribed) if unsubscribed else None,
        "updated_at": utc(subscribed),
        **extra,
    }


def stage(resources, export=SUBSCRIPTIONS, day=D):
    return stage_snapshot(
        export,
        day,
        lake=resources["lake"],
        engine=resources["ingest_engine"],
        pseudonymizer=resources["pseudonymizer"],
        warehouse=resources["warehouse"],
    )


def test_subscriptions_are_staged_with_pseudonyms_and_activity_at_day_end(resources):
    rows = [
        subscription("s1", " Hanako@Example.jp", "2026-11-01 00:00:00"),
        # Unsubscribed 14:59:59 UTC = 23:59:59 JST on D: no longer active at the end of D.
        subscription("s2", "taro@example.com", "2026-11-02 00:00:00", "2026-11-20 14:59:59"),
        subscription("s3", "jiro@example.com", "2026-11-03 00:00:00"),
        subscription("s3", "jiro@example.com", "2026-11-03 00:00:00"),  # exported twice
        subscription("s4", "no-address", "2026-11-04 00:00:00"),
        {**subscription("s5", "a@example.jp", "2026-11-05 00:00:00"), "subscription_id": None},
    ]
    put_export(resources["lake"], "subscriptions", D, rows)

    result = stage(resources)

    assert (result.rows_read, result.staged, result.duplicates, result.quarantined) == (6, 3, 1, 2)
    # An export from before the app recorded where readers signed up: staged, attribution NULL.
    assert result.extra_columns == []
    assert result.missing_optional_columns == ["signup_post_id", "signup_referrer", "signup_source"]
    staged = {
        r["subscription_id"]: r
        for r in resources["warehouse"].query(f"SELECT * FROM {AS_OF}").to_pylist()
    }
    assert staged["s1"]["reader_hash"] == resources["pseudonymizer"].hash("hanako@example.jp")
    assert [staged[s]["is_active"] for s in ("s1", "s2", "s3")] == [True, False, True]
    assert all("@" not in str(v) for r in staged.values() for v in r.values())
    reasons = (
        resources["warehouse"]
        .query(
            "SELECT reason, excerpt FROM staging.quarantine WHERE stream = 'appdb_subscriptions' "
            "ORDER BY reason"
        )
        .to_pylist()
    )
    assert [r["reason"] for r in reasons] == [
        "missing_field:email",
        "missing_field:subscription_id",
    ]
    assert all("@example" not in r["excerpt"] for r in reasons)


def test_schema_drift_optional_columns_may_go_required_ones_may_not(resources):
    base = {"newsletter_id": "nl_1", "slug": "tokyo-tech", "created_at": utc("2026-01-01 00:00:00")}
    put_export(resources["lake"], "newsletters", D, [{**base, "brand_colour": "#ff0000"}])
    result = stage(resources, NEWSLETTERS)
    assert result.staged == 1
    assert result.extra_columns == ["brand_colour"]
    assert result.missing_optional_columns == ["name", "category", "author_id", "updated_at"]

    put_export(resources["lake"], "newsletters", date(2026, 11, 21), [{"newsletter_id": "nl_1"}])
    with pytest.raises(dg.Failure, match=r"lacks required column\(s\) `slug`, `created_at` in"):
        stage(resources, NEWSLETTERS, date(2026, 11, 21))


def test_a_missing_export_fails_with_a_clear_message(resources):
    with pytest.raises(dg.Failure, match="No export of `subscriptions` for 2026-11-20"):
        stage(resources)


def test_a_backfill_records_each_snapshots_own_figures(resources):
    """One run over two snapshots: each partition's materialization carries its own rows and
    reconciliation, not the run's sums."""
    base = {"slug": "s", "created_at": utc("2026-01-01 00:00:00")}
    put_export(resources["lake"], "newsletters", D, [{**base, "newsletter_id": "nl_1"}])
    put_export(
        resources["lake"],
        "newsletters",
        date(2026, 11, 21),
        [{**base, "newsletter_id": n} for n in ("nl_1", "nl_2", "nl_2", "nl_3")],
    )

    result = dg.materialize(
        [stg_newsletters],
        resources=resources,
        tags={
            ASSET_PARTITION_RANGE_START_TAG: "2026-11-20",
            ASSET_PARTITION_RANGE_END_TAG: "2026-11-21",
        },
    )

    figures = ("dagster/row_count", "rows_read", "duplicates_dropped", "quarantined", "reconciled")
    by_partition = {
        m.partition: tuple(getattr(m.metadata.get(name), "value", None) for name in figures)
        for m in result.asset_materializations_for_node("stg_newsletters")
    }
    assert by_partition == {"2026-11-20": (1, 1, 0, 0, True), "2026-11-21": (3, 4, 1, 0, True)}


# --- Export drift: a renamed optional column, a shrunk or empty snapshot ---------------------

NEXT = date(2026, 11, 21)


def put_newsletters(lake, *days: date, ids=("nl_1",)) -> None:  # type: ignore[no-untyped-def]
    for day in days:
        put_export(lake, "newsletters", day, [
            {"newsletter_id": i, "slug": i.replace("_", "-"), "name": f"Newsletter {i}",
             "category": "tech", "author_id": "au_1", "created_at": utc("2026-01-01 00:00:00"),
             "updated_at": utc("2026-01-01 00:00:00")}
            for i in ids
        ])  # fmt: skip


def ten_subscriptions() -> list[dict]:
    """10 subscriptions of nl_1: 4 cancelled before D ended, 3 paid; 5 signed up on a post."""
    return [
        subscription(
            f"s{i}",
            f"reader{i}@example.jp",
            "2026-11-01 00:00:00",
            "2026-11-10 00:00:00" if i < 4 else None,
            plan="paid" if i >= 7 else "free",
            signup_source="post" if i % 2 else "home",
            signup_post_id="po_1" if i % 2 else None,
            signup_referrer="https://www.google.com/" if i % 2 else None,
        )
        for i in range(10)
    ]


def post(pid: str, title: str | None = "Hello") -> dict:
    return {
        "post_id": pid,
        "newsletter_id": "nl_1",
        "title": title,
        "status": "published",
        "published_at": utc("2026-11-02 00:00:00"),
        "emailed": True,
        "created_at": utc("2026-11-01 00:00:00"),
        "updated_at": utc("2026-11-02 00:00:00"),
    }


def renamed(rows: list[dict], column: str) -> list[dict]:
    return [{(f"{column}_v2" if k == column else k): v for k, v in row.items()} for row in rows]


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


# --- Conflicting copies of one key: a documented choice, whatever the file order -------------


def conflicting_pairs() -> list[tuple[dict, dict, str]]:
    """(copy a, copy b, the copy that must be kept: 'a' or 'b') for 30 keys."""
    pairs = []
    for i in range(20):  # one copy active, one cancelled; the newer update wins
        active = subscription(f"c{i:02d}", f"c{i}@example.jp", "2026-11-01 00:00:00")
        cancelled = {**active, "unsubscribed_at": utc("2026-11-10 00:00:00")}
        older, newer = utc("2026-11-05 00:00:00"), utc("2026-11-11 00:00:00")
        if i % 2:
            pairs.append(({**active, "updated_at": newer}, {**cancelled, "updated_at": older}, "a"))
        else:
            pairs.append(({**active, "updated_at": older}, {**cancelled, "updated_at": newer}, "b"))
    for i in range(6):  # updated at the same instant: the greater value ('paid' > 'free')
        free = subscription(f"t{i}", f"t{i}@example.jp", "2026-11-01 00:00:00")
        pairs.append((free, {**free, "plan": "paid"}, "b"))
    for i in range(4):  # one copy without updated_at: the one that has it
        dated = subscription(f"u{i}", f"u{i}@example.jp", "2026-11-01 00:00:00")
        pairs.append(({**dated, "plan": "paid", "updated_at": None}, dated, "b"))
    return pairs


@pytest.mark.parametrize("layout", ["two_files", "two_files_swapped", "one_file", "one_reversed"])
def test_conflicting_copies_keep_the_newest_whatever_the_file_order(resources, layout) -> None:
    lake, warehouse = resources["lake"], resources["warehouse"]
    put_newsletters(lake, D)
    pairs = conflicting_pairs()
    first, second = [a for a, _, _ in pairs], [b for _, b, _ in pairs]
    if layout.startswith("two_files"):
        if layout.endswith("swapped"):
            first, second = second, first
        put_export(lake, "subscriptions", D, first)
        put_export(lake, "subscriptions", D, second, part=1)
    else:
        rows = [row for pair in zip(first, second, strict=True) for row in pair]
        put_export(lake, "subscriptions", D, rows[::-1] if layout == "one_reversed" else rows)

    result = stage(resources)

    staged = {
        r["subscription_id"]: (r["is_active"], r["plan"])
        for r in warehouse.query(
            f"SELECT subscription_id, is_active, plan FROM {AS_OF}"
        ).to_pylist()
    }
    expected = {
        (a if keep == "a" else b)["subscription_id"]: (
            (a if keep == "a" else b)["unsubscribed_at"] is None,
            (a if keep == "a" else b)["plan"],
        )
        for a, b, keep in pairs
    }
    wrong = sorted(k for k in expected if staged[k] != expected[k])
    assert wrong == [], f"{len(wrong)} of {len(expected)} kept the wrong copy: {wrong}"
    assert sum(active for active, _ in staged.values()) == 10 + 6 + 4
    assert (result.staged, result.duplicates, result.conflicting_duplicates) == (30, 30, 30)


# --- Ids that are not ids ----------------------------------------------------------------------

BAD_IDS = [
    "../../etc/x", "a/b", "../../../../../x", "x" * 5_000, "nl\x00x", "nl_1\n", "nl 1", "",
    "\uff4e\uff4c_1", "x" * 65, "..", "nl_1.json",
]  # fmt: skip


def test_ids_that_are_not_ids_are_quarantined_and_never_known(resources) -> None:
    lake, warehouse = resources["lake"], resources["warehouse"]
    put_newsletters(lake, D, ids=("nl_1", "nl_2", *BAD_IDS))
    put_export(lake, "posts", D, [
        post("po_1"), {**post("po_2"), "newsletter_id": "a/b"}, post("../po_3"), post("po/4"),
    ])  # fmt: skip
    put_export(lake, "subscriptions", D, [
        subscription("s1", "a@example.jp", "2026-11-01 00:00:00"),
        subscription("s/2", "b@example.jp", "2026-11-01 00:00:00"),
        subscription("s3", "c@example.jp", "2026-11-01 00:00:00", reader_id="../rd"),
        subscription("s4", "d@example.jp", "2026-11-01 00:00:00", reader_id=None),
    ])  # fmt: skip

    newsletters, posts, subscriptions = (
        stage(resources, export) for export in (NEWSLETTERS, POSTS, SUBSCRIPTIONS)
    )

    assert (newsletters.staged, newsletters.quarantined) == (2, len(BAD_IDS))
    assert (posts.staged, posts.quarantined) == (1, 3)
    assert (subscriptions.staged, subscriptions.quarantined) == (2, 2)
    reasons = warehouse.query(
        "SELECT stream, reason, SUM(occurrences) AS n, MAX(LENGTH(excerpt)) AS longest "
        "FROM staging.quarantine GROUP BY stream, reason ORDER BY stream, reason"
    ).to_pylist()
    assert [(r["stream"], r["reason"], r["n"]) for r in reasons] == [
        ("appdb_newsletters", "invalid_id:newsletter_id", len(BAD_IDS)),
        ("appdb_posts", "invalid_id:newsletter_id", 1),
        ("appdb_posts", "invalid_id:post_id", 2),
        ("appdb_subscriptions", "invalid_id:reader_id", 1),
        ("appdb_subscriptions", "invalid_id:subscription_id", 1),
    ]
    assert max(r["longest"] for r in reasons) <= 300
    ids = warehouse.query("SELECT newsletter_id FROM staging.stg_newsletters").column(0)
    assert sorted(ids.to_pylist()) == ["nl_1", "nl_2"]
    assert sorted(known_newsletters(lake, D).ids.column(0).to_pylist()) == ["nl_1", "nl_2"]


def test_a_backfill_of_snapshots_shares_one_engine_session_and_write_per_group(resources):
    """Four days of posts, two of them in one write group: two engine sessions, the export
    folders listed once, and each day exactly as staged alone (its rows, its duplicate, its
    quarantined post of an unknown newsletter). A day whose export is missing fails its group
    before a row is read or written."""
    lake = resources["lake"]
    days = [D + timedelta(days=i) for i in range(4)]
    base = {"slug": "s", "created_at": utc("2026-01-01 00:00:00")}
    for i, day in enumerate(days):
        put_export(lake, "newsletters", day, [{**base, "newsletter_id": "nl_1"}])
        posts = [
            {"post_id": f"po_{n}", "newsletter_id": "nl_1", "status": "draft"} for n in range(i + 1)
        ]
        posts += [posts[0], {"post_id": "po_x", "newsletter_id": "nl_9", "status": "draft"}]
        put_export(lake, "posts", day, posts)
    alone = [stage(resources, POSTS, day) for day in days]
    engine = Recorded(
        IngestEngine(max_days_per_write=2, temp_directory=resources["ingest_engine"].temp_directory)
    )
    recorded_lake = Recorded(lake)

    def stage_all():  # type: ignore[no-untyped-def]
        return stage_snapshots(
            POSTS, days, lake=recorded_lake, engine=engine,
            pseudonymizer=resources["pseudonymizer"], warehouse=resources["warehouse"],
        )  # fmt: skip

    together = stage_all()

    assert engine.sessions == 2
    assert sorted(recorded_lake.listed) == sorted(set(recorded_lake.listed))
    figures = [(s.day, s.rows_read, s.staged, s.duplicates, s.quarantined) for s in together]
    assert figures == [(s.day, s.rows_read, s.staged, s.duplicates, s.quarantined) for s in alone]
    assert figures[2] == (days[2], 5, 3, 1, 1)
    assert all(s.reconciled for s in together)

    lake.delete(f"appdb/posts/dt={days[3]}/part-00000.parquet")
    new_posts = [
        {"post_id": f"po_new{n}", "newsletter_id": "nl_1", "status": "draft"} for n in range(6)
    ]
    put_export(lake, "posts", days[2], new_posts)
    with pytest.raises(dg.Failure, match=f"No export of `posts` for {days[3]}"):
        stage_all()
    rows = resources["warehouse"].query(
        "SELECT post_id FROM staging.stg_posts WHERE snapshot_date = @day", {"day": days[2]}
    )
    assert sorted(rows.column("post_id").to_pylist()) == ["po_0", "po_1", "po_2"]


# --- Where readers signed up (the app's attribution columns) ---------------------------------


def signed_up(sid: str, source: str | None, referrer: str | None, post_id: str | None = None):
    return subscription(
        sid, f"{sid}@example.jp", "2026-11-20 01:00:00", signup_source=source,
        signup_referrer=referrer, signup_post_id=post_id,
    )  # fmt: skip


def test_where_readers_signed_up_is_staged_as_a_domain_and_a_traffic_source(resources) -> None:
    """The referrer keeps its domain only, categorised as page views' referrers are; a user
    part before an @ (an address in a referrer) never becomes the domain."""
    put_newsletters(resources["lake"], D)
    rows = [
        signed_up("s1", "post", "https://www.google.co.jp/search?q=x", "po_1"),
        signed_up("s2", "post", "https://t.co/abc", "po_1"),
        signed_up("s3", "home", None),
        signed_up("s4", "home", ""),
        signed_up("s5", "page", "https://mail.google.com/mail/u/0/"),
        signed_up("s6", "post", "https://other-one.theletter.jp/posts/po_9", "po_2"),
        signed_up("s7", "post", "blog.example.org", "po_2"),  # a bare domain
        signed_up("s8", "home", "https://hanako@example.jp/"),
        signed_up("s9", "import", None),
        signed_up("s10", None, None),
        signed_up("s11", "post", "https://x.com/", "po/../1"),  # not an id: quarantined
    ]
    put_export(resources["lake"], "subscriptions", D, rows)

    result = stage(resources)

    assert (result.staged, result.quarantined, result.missing_optional_columns) == (10, 1, [])
    staged = (
        resources["warehouse"]
        .query(
            "SELECT subscription_id, signup_source, signup_post_id, signup_referrer_domain, "
            f"signup_source_category FROM {AS_OF} ORDER BY subscription_id"
        )
        .to_pylist()
    )
    assert {r.pop("subscription_id"): tuple(r.values()) for r in staged} == {
        "s1": ("post", "po_1", "google.co.jp", "search"),
        "s2": ("post", "po_1", "t.co", "social"),
        "s3": ("home", None, None, "direct"),
        "s4": ("home", None, None, "direct"),
        "s5": ("page", None, "mail.google.com", "email"),
        "s6": ("post", "po_2", "other-one.theletter.jp", "other_newsletter"),
        "s7": ("post", "po_2", "blog.example.org", "referral"),
        "s8": ("home", None, "example.jp", "referral"),
        "s9": ("import", None, None, None),
        "s10": (None, None, None, None),
    }
    (reason,) = (
        resources["warehouse"]
        .query("SELECT reason FROM staging.quarantine WHERE stream = 'appdb_subscriptions'")
        .to_pylist()
    )
    assert reason == {"reason": "invalid_id:signup_post_id"}


def test_attribution_columns_added_by_the_app_stage_after_snapshots_without_them(
    resources,
) -> None:
    """The older snapshot stages them NULL; the next one, which has them, stages them; a third
    that drops them again fails (the drift guard), unless accepted."""
    lake = resources["lake"]
    after = date(2026, 11, 22)
    put_newsletters(lake, D, NEXT, after)
    older = [
        {k: v for k, v in row.items() if not k.startswith("signup_")} for row in ten_subscriptions()
    ]
    put_export(lake, "subscriptions", D, older)
    put_export(lake, "subscriptions", NEXT, ten_subscriptions())
    put_export(lake, "subscriptions", after, older)

    assert stage(resources).missing_optional_columns == [
        "signup_post_id", "signup_referrer", "signup_source",
    ]  # fmt: skip
    assert stage(resources, SUBSCRIPTIONS, NEXT).missing_optional_columns == []
    with pytest.raises(dg.Failure, match=r"lacks column\(s\) `signup_post_id`, `signup_referrer`"):
        stage(resources, SUBSCRIPTIONS, after)
    accepting = IngestEngine(
        accepted_missing_columns=[
            f"subscriptions.{c}" for c in ("signup_post_id", "signup_referrer", "signup_source")
        ]
    )
    assert stage({**resources, "ingest_engine": accepting}, SUBSCRIPTIONS, after).staged == 10

    by_day = (
        resources["warehouse"]
        .query(
            "SELECT snapshot_date, COUNTIF(signup_post_id = 'po_1') AS from_post, "
            "COUNTIF(signup_source_category = 'search') AS from_search, "
            f"COUNTIF(signup_source IS NULL) AS unknown FROM {AS_OF} "
            "GROUP BY snapshot_date ORDER BY snapshot_date"
        )
        .to_pylist()
    )
    assert [(r["from_post"], r["from_search"], r["unknown"]) for r in by_day] == [
        (0, 0, 10), (5, 5, 0), (0, 0, 10),
    ]  # fmt: skip


def test_a_signup_source_the_platform_does_not_know_fails_the_blocking_check(resources) -> None:
    """The app starts recording a new kind of signup page: staged as it is (nothing lost), and
    the table's blocking check names the value, so the metrics wait for a decision."""
    put_newsletters(resources["lake"], D)
    rows = [
        signed_up("s1", "post", "https://t.co/x", "po_1"),
        signed_up("s2", "recommendation", "https://other.theletter.jp/"),
    ]
    put_export(resources["lake"], "subscriptions", D, rows)

    assert stage(resources).staged == 2

    results = run_table_checks(resources["warehouse"], SUBSCRIPTIONS.table, D, NEXT)
    (values,) = [r for r in results if r.check_name == "column_values"]
    assert not values.passed
    assert values.metadata["violations"].data == {"unaccepted_signup_source": 1}
    assert values.description is not None
    assert "signup_source is not an accepted value in 1 row" in values.description
    assert "subscription_id=s2 has signup_source=recommendation" in values.description
