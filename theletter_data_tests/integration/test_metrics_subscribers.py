"""newsletter_subscriber_growth and newsletter_subscriber_cohorts on hand-made snapshots."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from theletter_data.metrics.newsletter_subscriber_cohorts import (
    NEWSLETTER_SUBSCRIBER_COHORTS,
    newsletter_subscriber_cohorts,
)
from theletter_data.metrics.newsletter_subscriber_growth import (
    NEWSLETTER_SUBSCRIBER_GROWTH,
    newsletter_subscriber_growth,
)
from theletter_data.staging.app_exports import SUBSCRIPTIONS
from theletter_data_tests.support.rawdata import utc
from theletter_data_tests.support.staged import (
    checks_passed,
    materialize,
    rows_of,
    write_snapshots,
)

D = date(2026, 11, 20)
TABLE = SUBSCRIPTIONS.table


def sub(sid, snapshot, subscribed, unsubscribed=None, newsletter="nl_1", plan="free"):
    end_of_snapshot = utc(f"{snapshot} 15:00:00")  # midnight JST after the snapshot day
    gone = utc(unsubscribed) if unsubscribed else None
    return {
        "snapshot_date": snapshot,
        "subscription_id": sid,
        "newsletter_id": newsletter,
        "reader_hash": f"reader-{sid}",
        "plan": plan,
        "subscribed_at": utc(subscribed),
        "unsubscribed_at": gone,
        "is_active": gone is None or gone >= end_of_snapshot,
    }


def test_growth_counts_changes_of_the_day_and_the_total_at_its_end(warehouse):
    rows = [
        sub("s1", D, "2026-11-15 00:00:00"),
        sub("s2", D, "2026-11-19 15:00:00"),  # 00:00 JST on D: new on D
        sub("s3", D, "2026-11-10 00:00:00", "2026-11-20 03:00:00"),  # lost on D
        sub("s4", D, "2026-11-20 01:00:00", "2026-11-20 02:00:00"),  # joined and left on D
        sub("s5", D, "2026-10-01 00:00:00", plan="paid"),
        sub("s6", D, "2026-11-19 14:59:59"),  # 23:59:59 JST the day before: not new on D
        # nl_2 has no subscriber left and no change on D: no row.
        sub("s7", D, "2026-10-01 00:00:00", "2026-11-18 00:00:00", newsletter="nl_2"),
    ]
    write_snapshots(warehouse, TABLE, rows, D, D + timedelta(days=1))

    result = materialize(newsletter_subscriber_growth, warehouse, "2026-11-20")

    assert result.success and all(checks_passed(result).values())
    (row,) = rows_of(warehouse, NEWSLETTER_SUBSCRIBER_GROWTH, "newsletter_id")
    assert row == {
        "date": D,
        "newsletter_id": "nl_1",
        "new_subscribers": 2,
        "lost_subscribers": 2,
        "net_change": 0,
        "total_subscribers": 4,
        "paid_subscribers": 1,
    }


def test_a_newsletter_whose_subscriptions_never_ended_lost_none(warehouse):
    """No subscription of nl_1 has an end: its lost subscribers are 0, as BigQuery's COUNTIF
    counts them (before: NULL on DuckDB, whose COUNT_IF sqlglot wrote, and the blocking check
    failed the run: a new newsletter stopped every author's dashboard locally)."""
    rows = [sub("s1", D, "2026-11-01 00:00:00"), sub("s2", D, "2026-11-20 01:00:00")]
    write_snapshots(warehouse, TABLE, rows, D, D + timedelta(days=1))

    result = materialize(
        newsletter_subscriber_growth, warehouse, "2026-11-20", raise_on_error=False
    )

    assert result.success and all(checks_passed(result).values())
    (row,) = rows_of(warehouse, NEWSLETTER_SUBSCRIBER_GROWTH, "newsletter_id")
    assert (row["new_subscribers"], row["lost_subscribers"], row["net_change"]) == (1, 0, 1)


def test_cohorts_are_measured_on_the_snapshot_at_the_end_of_the_week(warehouse):
    week = date(2026, 11, 16)  # Monday; its snapshot is Sunday 2026-11-22
    sunday = week + timedelta(days=6)
    rows = [
        # This week's cohort: two joined, one already left.
        sub("a1", sunday, "2026-11-16 01:00:00"),
        sub("a2", sunday, "2026-11-17 01:00:00", "2026-11-18 00:00:00"),
        # Last week's cohort (from Monday 2026-11-09 00:00 JST = Nov 8 15:00 UTC): 2 of 3 stay.
        sub("b1", sunday, "2026-11-08 15:00:00"),
        sub("b2", sunday, "2026-11-12 00:00:00"),
        sub("b3", sunday, "2026-11-13 00:00:00", "2026-11-20 00:00:00"),
        # Sunday 23:59 JST of the week before last (Nov 8): cohort of Monday Nov 2.
        sub("c1", sunday, "2026-11-08 14:59:00"),
        # More than 26 weeks ago: outside the table.
        sub("old", sunday, "2026-03-01 00:00:00"),
        # A Saturday snapshot of the same week is not read.
        sub("x", sunday - timedelta(days=1), "2026-11-16 01:00:00"),
    ]
    write_snapshots(warehouse, TABLE, rows, week, week + timedelta(days=7))

    result = materialize(newsletter_subscriber_cohorts, warehouse, "2026-11-16")

    assert result.success and all(checks_passed(result).values())
    rows = rows_of(warehouse, NEWSLETTER_SUBSCRIBER_COHORTS, "cohort_week DESC")
    assert [
        (r["cohort_week"], r["weeks_since_signup"], r["cohort_size"], r["retained_subscribers"])
        for r in rows
    ] == [
        (week, 0, 2, 1),
        (date(2026, 11, 9), 1, 3, 2),
        (date(2026, 11, 2), 2, 1, 1),
    ]
    assert rows[1]["retention_rate"] == pytest.approx(2 / 3)
    assert {r["week_start"] for r in rows} == {week}
