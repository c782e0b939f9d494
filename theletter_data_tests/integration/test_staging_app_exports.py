"""Staging the app database's nightly snapshots: keys, pseudonyms and activity at day end, a
missing export, and backfills (each snapshot's own figures; one engine session and one write
per group). Drift, conflicting copies and bad ids, and signup attribution:
test_staging_app_exports_*.py.

Day D, the export rows and `stage`: support/staged_app_exports.py.
"""

from __future__ import annotations

from datetime import date, timedelta

import dagster as dg
import pytest
from dagster._core.storage.tags import (
    ASSET_PARTITION_RANGE_END_TAG,
    ASSET_PARTITION_RANGE_START_TAG,
)

from theletter_data.resources.ingest_engine import IngestEngine
from theletter_data.staging.app_exports import NEWSLETTERS, POSTS, stg_newsletters
from theletter_data.staging.snapshot_staging import stage_snapshots
from theletter_data_tests.support.rawdata import put_export, utc
from theletter_data_tests.support.recorded import Recorded
from theletter_data_tests.support.staged_app_exports import AS_OF, D, stage, subscription


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
