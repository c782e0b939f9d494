"""Staging the app database's nightly snapshots: keys, pseudonyms, schema drift, quarantine."""

from __future__ import annotations

from datetime import date

import dagster as dg
import pytest
from dagster._core.storage.tags import (
    ASSET_PARTITION_RANGE_END_TAG,
    ASSET_PARTITION_RANGE_START_TAG,
)

from theletter_data.staging.app_exports import (
    NEWSLETTERS,
    SUBSCRIPTIONS,
    stage_snapshot,
    stg_newsletters,
)
from theletter_data_tests.rawdata import put_export, utc

D = date(2026, 11, 20)


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
    assert result.extra_columns == ["updated_at"] and result.missing_optional_columns == []
    staged = {
        r["subscription_id"]: r
        for r in resources["warehouse"].query("SELECT * FROM staging.stg_subscriptions").to_pylist()
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
    assert result.missing_optional_columns == ["name", "category", "author_id"]

    put_export(resources["lake"], "newsletters", date(2026, 11, 21), [{"newsletter_id": "nl_1"}])
    with pytest.raises(dg.Failure, match=r"lacks required column\(s\) \['slug', 'created_at'\]"):
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
