"""stg_subscriptions staged as changes (staging/snapshot_changes.py), worked by hand over four
days, read as of each day, re-run, backfilled and restaged after a re-delivered export; and
what a failure does while the next day is projected ahead (staging/projection_ahead.py)."""

from __future__ import annotations

import threading
from datetime import date

import dagster as dg
import duckdb
import pytest
from dagster._core.storage.tags import (
    ASSET_PARTITION_RANGE_END_TAG,
    ASSET_PARTITION_RANGE_START_TAG,
)

from theletter_data.metrics.newsletter_subscriber_growth import (
    NEWSLETTER_SUBSCRIBER_GROWTH,
    newsletter_subscriber_growth,
)
from theletter_data.resources.ingest_engine import another_connection
from theletter_data.staging import projection_ahead, snapshot_staging
from theletter_data.staging.app_exports import SUBSCRIPTIONS, stg_subscriptions
from theletter_data.staging.snapshot_staging import stage_snapshots
from theletter_data_tests.support.rawdata import put_export, utc
from theletter_data_tests.support.staged import materialize, rows_of, snapshots_of

D1, D2, D3, D4 = (date(2026, 11, d) for d in (20, 21, 22, 23))
DAYS = [D1, D2, D3, D4]
TABLE = SUBSCRIPTIONS.table


def sub(sid: str, email: str, **values: object) -> dict:
    return {
        "subscription_id": sid,
        "newsletter_id": "nl_1",
        "email": email,
        "plan": "free",
        "subscribed_at": utc("2026-11-01 00:00:00"),
        "unsubscribed_at": None,
        "updated_at": utc("2026-11-01 00:00:00"),
        **values,
    }


OTHERS = [sub(f"o{i}", f"other{i}@example.jp") for i in range(10)]
"""Ten subscriptions that never change (the snapshot keeps its size)."""
# s1: Hanako subscribes (free), turns paid on D2, unsubscribes at 12:00 JST on D3 and comes back
# the same day (a new subscription, s2), and the app deletes s1 on D4.
S1_FREE = sub("s1", "hanako@example.jp")
S1_PAID = {**S1_FREE, "plan": "paid", "updated_at": utc("2026-11-21 01:00:00")}
S1_GONE = {**S1_PAID, "unsubscribed_at": utc("2026-11-22 03:00:00")}
S2 = sub("s2", "hanako@example.jp", subscribed_at=utc("2026-11-22 05:00:00"))
# D3 and D4 also carry rows staging drops: an older copy of o1 (paid, but the newer copy wins, so o1
# is unchanged), an id that is not an id and a newsletter the day's export lacks (quarantined).
STALE_O1 = {**OTHERS[1], "plan": "paid", "updated_at": utc("2026-10-01 00:00:00")}
DROPPED = [
    STALE_O1,
    sub("s/../9", "x@example.jp"),
    sub("s9", "y@example.jp", newsletter_id="nl_9"),
]
SNAPSHOTS = {
    D1: [*OTHERS, S1_FREE],
    D2: [*OTHERS, S1_PAID],
    D3: [*OTHERS, S1_GONE, S2, *DROPPED],
    D4: [*OTHERS, S2, *DROPPED],  # s1 deleted
}


def put_exports(lake, snapshots=SNAPSHOTS) -> None:  # type: ignore[no-untyped-def]
    for day, rows in snapshots.items():
        put_export(lake, "newsletters", day, [
            {"newsletter_id": "nl_1", "slug": "nl-1", "created_at": utc("2026-01-01 00:00:00")}
        ])  # fmt: skip
        put_export(lake, "subscriptions", day, rows)


def stage(resources, days):  # type: ignore[no-untyped-def]
    return stage_snapshots(
        SUBSCRIPTIONS,
        days,
        lake=resources["lake"],
        engine=resources["ingest_engine"],
        pseudonymizer=resources["pseudonymizer"],
        warehouse=resources["warehouse"],
    )


def table_rows(warehouse) -> list[tuple]:  # type: ignore[no-untyped-def]
    rows = warehouse.query(f"SELECT * FROM {TABLE.qualified_name}").to_pylist()
    return sorted(tuple(r[c] for c in TABLE.column_names) for r in rows)


def as_of(warehouse) -> dict[date, tuple[int, int, int]]:  # type: ignore[no-untyped-def]
    """Per staged day: (subscriptions, active, active paid) as of its end."""
    rows = warehouse.query(
        "SELECT snapshot_date, COUNT(*) AS n, COUNTIF(is_active) AS active, "
        f"COUNTIF(is_active AND plan = 'paid') AS paid FROM {snapshots_of(TABLE)} "
        "GROUP BY snapshot_date"
    ).to_pylist()
    return {r["snapshot_date"]: (r["n"], r["active"], r["paid"]) for r in rows}


def test_four_days_of_one_readers_subscriptions_worked_by_hand(resources) -> None:
    put_exports(resources["lake"])
    warehouse = resources["warehouse"]

    staged = [stage(resources, [day])[0] for day in DAYS]

    # Per day: the staged keys unchanged, new, changed, and the keys deleted.
    # D1: all 11 new. D2: s1's plan changed. D3: s1 ended (changed), s2 new. D4: s1 deleted.
    assert [s.changes for s in staged] == [
        {"unchanged": 0, "new": 11, "changed": 0, "deleted": 0},
        {"unchanged": 10, "new": 0, "changed": 1, "deleted": 0},
        {"unchanged": 10, "new": 1, "changed": 1, "deleted": 0},
        {"unchanged": 11, "new": 0, "changed": 0, "deleted": 1},
    ]
    # The table holds the opened versions and the deletions: 11 + 1 + 2 + 1 = 15 rows, where
    # whole snapshots took 11 + 11 + 12 + 11 = 45; each partition reconciles.
    # D3 read 15 rows: 12 staged, 1 duplicate, 2 quarantined; D4 14: 11, 1, 2.
    assert [
        (s.rows_read, s.staged, s.duplicates, s.quarantined, s.rows_in_table, s.reconciled)
        for s in staged
    ] == [
        (11, 11, 0, 0, 11, True), (11, 11, 0, 0, 1, True), (15, 12, 1, 2, 2, True),
        (14, 11, 1, 2, 1, True),
    ]  # fmt: skip
    # s1's intervals: free [D1, D2), paid [D2, D3), paid and ended [D3, D4), deleted on D4;
    # s2's: [D3, open).
    versions = warehouse.query(
        f"SELECT valid_from, subscription_id, plan, is_active, change FROM {TABLE.qualified_name} "
        "WHERE subscription_id IN ('s1', 's2') ORDER BY subscription_id, valid_from"
    ).to_pylist()
    assert [tuple(v.values()) for v in versions] == [
        (D1, "s1", "free", True, "new"),
        (D2, "s1", "paid", True, "changed"),
        (D3, "s1", "paid", False, "changed"),
        (D4, "s1", "paid", False, "deleted"),
        (D3, "s2", "free", True, "new"),
    ]
    # As of each day (subscriptions, active, active paid): D1 11 (o0-o9, s1), none paid; D2 s1
    # paid; D3 s1 ended and s2 began: 12 subscriptions, 11 active, none paid; D4 s1 gone.
    expected = {D1: (11, 11, 0), D2: (11, 11, 1), D3: (12, 11, 0), D4: (11, 11, 0)}
    assert as_of(warehouse) == expected

    # The growth metric reads the same days from the intervals: on D3 s2 is new and s1 lost.
    assert materialize(newsletter_subscriber_growth, warehouse, str(D1), str(D4)).success
    growth = rows_of(warehouse, NEWSLETTER_SUBSCRIBER_GROWTH, "date")
    assert [
        (g["date"], g["new_subscribers"], g["lost_subscribers"], g["total_subscribers"],
         g["paid_subscribers"])
        for g in growth
    ] == [(D1, 0, 0, 11, 0), (D2, 0, 0, 11, 1), (D3, 1, 1, 11, 0), (D4, 0, 0, 11, 0)]  # fmt: skip

    # Re-running any day changes nothing; a backfill of the four days in one session equals
    # the days staged one by one.
    one_by_one = table_rows(warehouse)
    stage(resources, [D3])
    assert table_rows(warehouse) == one_by_one
    backfill = stage(resources, DAYS)
    assert table_rows(warehouse) == one_by_one
    assert [s.changes for s in backfill] == [s.changes for s in staged]


def test_restaging_a_redelivered_middle_day_equals_staging_every_day_fresh(resources) -> None:
    """D2's export is re-delivered with o9 paid (D3 still has it free) after D1..D4 were
    staged: restaging D2 must also re-derive D3's changes, which are relative to D2's."""
    lake, warehouse = resources["lake"], resources["warehouse"]
    put_exports(lake)
    run = {
        ASSET_PARTITION_RANGE_START_TAG: str(D1),
        ASSET_PARTITION_RANGE_END_TAG: str(D4),
    }
    with dg.instance_for_test() as instance:
        assert dg.materialize([stg_subscriptions], resources=resources, tags=run, instance=instance)
        o9_paid = {**OTHERS[9], "plan": "paid", "updated_at": utc("2026-11-21 02:00:00")}
        put_exports(lake, {D2: [*OTHERS[:9], o9_paid, S1_PAID]})

        result = dg.materialize(
            [stg_subscriptions], resources=resources, partition_key=str(D2), instance=instance
        )

    assert result.success
    restaged = table_rows(warehouse)
    # As of D2 two are paid (s1, o9); as of D3 o9 is free again: D3 holds o9's change back.
    assert as_of(warehouse) == {D1: (11, 11, 0), D2: (11, 11, 2), D3: (12, 11, 0), D4: (11, 11, 0)}
    stage(resources, DAYS)  # every day staged fresh from the lake as it is now
    assert restaged == table_rows(warehouse)


def test_the_first_day_s_full_load_is_no_peer_of_the_row_count_comparison(resources) -> None:
    """Day 1 stages all 40 subscriptions as `new`, every later day one change (a new reader).
    The row-count check compares a day with the same weekday in the weeks before; day 15's peers
    would be day 8 (1 row) and day 1 (40): median 20.5, so its 1 row was flagged. A day of
    changes depends on the day before it, so day 1 is no peer: day 15 has one peer, not judged."""
    days = [date(2026, 11, 1 + i) for i in range(15)]
    base = [sub(f"b{i}", f"base{i}@example.jp") for i in range(40)]
    snapshots = {
        day: base + [sub(f"n{j}", f"new{j}@example.jp") for j in range(i)]
        for i, day in enumerate(days)
    }
    put_exports(resources["lake"], snapshots)
    run = {
        ASSET_PARTITION_RANGE_START_TAG: str(days[0]),
        ASSET_PARTITION_RANGE_END_TAG: str(days[-1]),
    }
    result = dg.materialize([stg_subscriptions], resources=resources, tags=run)
    counts = resources["warehouse"].rows_per_day(TABLE, days[0], days[-1])
    assert counts[days[0]] == 40 and counts[days[7]] == 1  # the full load, then a change a day
    (anomaly,) = [
        e.asset_check_evaluation_data
        for e in result.all_events
        if e.event_type_value == "ASSET_CHECK_EVALUATION"
        and e.asset_check_evaluation_data.check_name == "row_count_anomaly"
    ]
    assert anomaly.passed, anomaly.metadata


def _threads_ahead() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("projection-ahead")]


def test_a_projection_ahead_that_fails_fails_its_group_which_writes_nothing(
    resources, monkeypatch
) -> None:
    """D3's export is projected while D2 is compared and written: its error comes out of the
    staging as itself, and no day of the group is written."""
    put_exports(resources["lake"])
    stage(resources, [D1])
    before = table_rows(resources["warehouse"])
    project = projection_ahead.project

    def project_but_d3(con, export, snapshot, *args, **kwargs):  # type: ignore[no-untyped-def]
        if snapshot.day == D3:
            raise duckdb.IOException("D3's export went away")
        project(con, export, snapshot, *args, **kwargs)

    monkeypatch.setattr(projection_ahead, "project", project_but_d3)
    with pytest.raises(duckdb.IOException, match="D3's export went away"):
        stage(resources, DAYS)

    assert table_rows(resources["warehouse"]) == before
    assert _threads_ahead() == []


def test_a_day_that_fails_while_the_next_is_projected_lets_it_end(resources, monkeypatch) -> None:
    """D2's comparison fails while D3 is being projected: the error is D2's, D3's projection
    ends before the engine's connection closes, and nothing of the group is written."""
    put_exports(resources["lake"])
    d3_started, d3_may_end, d3_ended = threading.Event(), threading.Event(), threading.Event()
    project, count_changes = projection_ahead.project, snapshot_staging.count_changes
    compared = []

    def slow_d3(con, export, snapshot, *args, **kwargs):  # type: ignore[no-untyped-def]
        if snapshot.day == D3:
            d3_started.set()
            d3_may_end.wait(timeout=30)
        project(con, export, snapshot, *args, **kwargs)
        if snapshot.day == D3:
            d3_ended.set()

    def failing_d2(con, table):  # type: ignore[no-untyped-def]
        compared.append(con)
        if len(compared) == 2:  # D2, while D3 is projected
            assert d3_started.wait(timeout=30)
            threading.Timer(0.2, d3_may_end.set).start()
            raise RuntimeError("D2's comparison failed")
        return count_changes(con, table)

    monkeypatch.setattr(projection_ahead, "project", slow_d3)
    monkeypatch.setattr(snapshot_staging, "count_changes", failing_d2)
    with pytest.raises(RuntimeError, match="D2's comparison failed"):
        stage(resources, DAYS)

    assert d3_ended.is_set()
    assert table_rows(resources["warehouse"]) == []
    assert _threads_ahead() == []


def test_another_connection_shares_the_session_s_tables_and_settings(engine) -> None:
    with engine.session() as con:
        other = another_connection(con)
        other.execute("CREATE TABLE made_elsewhere AS SELECT 1 AS n")
        assert con.execute("SELECT n FROM made_elsewhere").fetchall() == [(1,)]
        # A cursor does not inherit the connection's settings: the zone is set again.
        assert other.execute("SELECT current_setting('TimeZone')").fetchone() == ("UTC",)
        other.close()
