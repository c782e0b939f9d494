"""Where readers signed up (the app's attribution columns): staged as a domain and a traffic
source, added after snapshots without them, and a source the platform does not know fails the
blocking check.

Day D, the export rows and `stage`: support/staged_app_exports.py.
"""

from __future__ import annotations

from datetime import date

import dagster as dg
import pytest

from theletter_data.checks import run_table_checks
from theletter_data.resources.ingest_engine import IngestEngine
from theletter_data.staging.app_exports import SUBSCRIPTIONS
from theletter_data_tests.support.rawdata import put_export
from theletter_data_tests.support.staged_app_exports import (
    AS_OF,
    NEXT,
    D,
    put_newsletters,
    stage,
    subscription,
    ten_subscriptions,
)

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
