"""newsletter_engagement_segments on hand-made snapshots and email events, both warehouses.

D is 2026-11-20; the platform's email history starts 120 days before it. nl_1's subscribers on D,
each with the last day they opened (not a machine open) or clicked nl_1's email:
- a: opened on D-5 (and D-40)                        -> active
- b: clicked only, on D-29 (the 30th day)            -> active
- c: opened on D-30 (the 31st day)                   -> at risk
- d: opened on D-89 (the 90th day)                   -> at risk
- e: opened on D-90 (the 91st day)                   -> dormant
- f: only Apple's proxy opened, on D-2               -> dormant
- g: opened nl_2's email on D, never nl_1's          -> dormant (for nl_1)
- h: subscribed on D-3, nothing sent yet             -> dormant, and new
- i: opened on D-1 but unsubscribed on D-2           -> not a subscriber
- j: opened on D+1 only                              -> dormant on D (a later day is not D's)
A week before (D-7) a to g were subscribed: b and c active (22, 23 days), a (D-40), d and e at
risk, f and g dormant. g is also nl_2's only subscriber on D, and opened it on D.
"""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from theletter_data.metrics.newsletter_engagement_segments import (
    NEWSLETTER_ENGAGEMENT_SEGMENTS,
    newsletter_engagement_segments,
)
from theletter_data.resources.duckdb_warehouse import DuckDBWarehouse
from theletter_data.staging.app_exports import SUBSCRIPTIONS
from theletter_data.staging.email_events import STG_EMAIL_EVENTS
from theletter_data_tests.support.rawdata import utc
from theletter_data_tests.support.staged import (
    checks_passed,
    materialize,
    rows_of,
    write_rows,
    write_snapshots,
)

D = date(2026, 11, 20)
WEEK_BEFORE = D - timedelta(days=7)
HISTORY_START = D - timedelta(days=120)


def subscription(reader, snapshot, newsletter="nl_1", since=D - timedelta(days=200), gone=None):
    return {
        "snapshot_date": snapshot,
        "subscription_id": f"{newsletter}-{reader}",
        "newsletter_id": newsletter,
        "reader_hash": reader,
        "plan": "free",
        "subscribed_at": utc(f"{since} 00:00:00"),
        "unsubscribed_at": utc(f"{gone} 00:00:00") if gone else None,
        "is_active": gone is None,
    }


def event(event_type, days_before, reader, newsletter="nl_1", machine=None):
    day = D - timedelta(days=days_before)
    return {
        "event_date": day,
        "event_at": utc(f"{day} 03:00:00"),
        "event_id": f"{event_type}-{reader}-{newsletter}-{days_before}",
        "event_type": event_type,
        "message_id": f"m-{reader}-{newsletter}-{days_before}",
        "sent_at": utc(f"{day} 01:00:00"),
        "newsletter_id": newsletter,
        "post_id": "po_1",
        "recipient_hash": reader,
        "is_machine_open": machine if event_type == "open" else None,
        "source_object": "ses-events/x.gz",
    }


def human_open(days_before, reader, newsletter="nl_1"):
    return event("open", days_before, reader, newsletter, machine=False)


@pytest.fixture
def readers(warehouse):
    write_readers(warehouse)


def write_readers(warehouse):
    week_before = [subscription(r, WEEK_BEFORE) for r in "abcdefg"]
    on_d = [
        *(subscription(r, D) for r in "abcdefgj"),
        subscription("h", D, since=D - timedelta(days=3)),
        subscription("i", D, gone=D - timedelta(days=2)),
        subscription("g", D, newsletter="nl_2"),
    ]
    write_snapshots(
        warehouse, SUBSCRIPTIONS.table, [*week_before, *on_d], WEEK_BEFORE, D + timedelta(days=2)
    )
    events = [
        event("send", 120, "z", newsletter="nl_3"),  # the platform's first day of email events
        human_open(5, "a"),
        human_open(40, "a"),
        event("click", 29, "b"),
        human_open(30, "c"),
        human_open(89, "d"),
        human_open(90, "e"),
        event("open", 2, "f", machine=True),
        human_open(0, "g", newsletter="nl_2"),
        human_open(1, "i"),
        human_open(-1, "j"),
    ]
    write_rows(warehouse, STG_EMAIL_EVENTS, events, HISTORY_START, D + timedelta(days=2))


def test_readers_are_segmented_by_their_last_engagement(warehouse, readers):
    result = materialize(newsletter_engagement_segments, warehouse, str(D))

    assert result.success and all(checks_passed(result).values())
    one, two = rows_of(warehouse, NEWSLETTER_ENGAGEMENT_SEGMENTS, "newsletter_id")
    assert {k: one[k] for k in (
        "date", "newsletter_id", "subscribers", "active_readers", "at_risk_readers",
        "dormant_readers", "dormant_new_readers", "engagement_days_seen",
    )} == {
        "date": D, "newsletter_id": "nl_1", "subscribers": 9, "active_readers": 2,
        "at_risk_readers": 2, "dormant_readers": 5, "dormant_new_readers": 1,
        "engagement_days_seen": 90,
    }  # fmt: skip
    assert (one["active_share"], one["at_risk_share"], one["dormant_share"]) == pytest.approx(
        (2 / 9, 2 / 9, 5 / 9)
    )
    # A week before: 7 subscribers, 2 active (b, c), 3 at risk (a, d, e), 2 dormant (f, g).
    assert (one["active_change_7d"], one["at_risk_change_7d"], one["dormant_change_7d"]) == (
        0, -1, 3,
    )  # fmt: skip
    assert (
        one["active_share_change_7d"], one["at_risk_share_change_7d"],
        one["dormant_share_change_7d"],
    ) == pytest.approx((2 / 9 - 2 / 7, 2 / 9 - 3 / 7, 5 / 9 - 2 / 7))  # fmt: skip
    # nl_2 had no subscriber a week before (a measured day): +1 reader, no share to compare.
    assert (two["newsletter_id"], two["subscribers"], two["active_readers"]) == ("nl_2", 1, 1)
    assert (two["active_change_7d"], two["at_risk_change_7d"], two["dormant_change_7d"]) == (
        1, 0, 0,
    )  # fmt: skip
    assert two["active_share_change_7d"] is None


def test_a_day_run_alone_gives_the_same_rows_as_a_range_run(warehouse, readers):
    """Events of a later day of the same run (j's open on D+1) never reach D's row."""
    materialize(
        newsletter_engagement_segments, warehouse, str(D - timedelta(days=1)),
        str(D + timedelta(days=1)),
    )  # fmt: skip
    from_range = rows_of(warehouse, NEWSLETTER_ENGAGEMENT_SEGMENTS, "newsletter_id")
    materialize(newsletter_engagement_segments, warehouse, str(D))
    alone = rows_of(warehouse, NEWSLETTER_ENGAGEMENT_SEGMENTS, "newsletter_id")
    assert alone == from_range and [r["date"] for r in alone] == [D, D]


def test_a_long_window_is_computed_in_parts_with_the_rows_of_one_statement(duckdb_warehouse):
    """DuckDB computes a metric `metric_days` days per statement (a year in one ran out of
    memory); parts of a week give the rows of one statement, D-7 and D in different parts."""
    write_readers(duckdb_warehouse)
    first, last = str(D - timedelta(days=20)), str(D + timedelta(days=1))
    whole = materialize(newsletter_engagement_segments, duckdb_warehouse, first, last)
    in_one = rows_of(duckdb_warehouse, NEWSLETTER_ENGAGEMENT_SEGMENTS, "date, newsletter_id")
    by_week = DuckDBWarehouse(path=duckdb_warehouse.path, metric_days=7)
    parts = materialize(newsletter_engagement_segments, by_week, first, last)
    in_parts = rows_of(duckdb_warehouse, NEWSLETTER_ENGAGEMENT_SEGMENTS, "date, newsletter_id")
    assert in_parts == in_one
    assert {WEEK_BEFORE, D} <= {r["date"] for r in in_one}
    assert [_run_metadata(r)["run_statements"] for r in (whole, parts)] == [1, 4]


def _run_metadata(result):
    (materialization,) = [
        e for e in result.all_events if e.event_type_value == "ASSET_MATERIALIZATION"
    ][-1:]
    return {k: v.value for k, v in materialization.materialization.metadata.items()}


def test_a_young_platform_says_how_many_days_it_saw_and_has_no_change(warehouse):
    """Email history from D-9 and no snapshot a week before: 10 days seen, changes unknown."""
    write_snapshots(
        warehouse, SUBSCRIPTIONS.table, [subscription(r, D) for r in "ab"], WEEK_BEFORE,
        D + timedelta(days=1),
    )  # fmt: skip
    write_rows(
        warehouse, STG_EMAIL_EVENTS, [event("send", 9, "a"), human_open(8, "a")], HISTORY_START,
        D + timedelta(days=1),
    )  # fmt: skip

    result = materialize(newsletter_engagement_segments, warehouse, str(D))

    assert result.success and all(checks_passed(result).values())
    (row,) = rows_of(warehouse, NEWSLETTER_ENGAGEMENT_SEGMENTS, "newsletter_id")
    assert (row["active_readers"], row["dormant_readers"], row["engagement_days_seen"]) == (
        1, 1, 10,
    )  # fmt: skip
    assert row["active_change_7d"] is None and row["active_share_change_7d"] is None
