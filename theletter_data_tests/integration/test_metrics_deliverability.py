"""newsletter_deliverability and its SES reputation check on hand-made email events, both
warehouses. D is 2026-11-20; every email is one message to one recipient."""

from __future__ import annotations

from datetime import timedelta

import dagster as dg
import pytest

from theletter_data.metrics.newsletter_deliverability import (
    NEWSLETTER_DELIVERABILITY,
    newsletter_deliverability,
)
from theletter_data.metrics.ses_reputation import THRESHOLDS
from theletter_data_tests.support.sent_emails import HARD, D, email, emails, stage
from theletter_data_tests.support.staged import checks_passed, materialize, rows_of


def by_newsletter(warehouse, day=D):
    return {
        r["newsletter_id"]: r
        for r in rows_of(warehouse, NEWSLETTER_DELIVERABILITY, "scope")
        if r["date"] == day
    }


def reputation(result: dg.ExecuteInProcessResult) -> dg.AssetCheckEvaluation:
    (evaluation,) = [
        e.asset_check_evaluation_data
        for e in result.all_events
        if e.event_type_value == "ASSET_CHECK_EVALUATION"
        and e.asset_check_evaluation_data.check_name == "ses_reputation"
    ]
    return evaluation


def test_emails_count_in_the_windows_of_their_send_day(warehouse):
    """nl_1's emails, by the day they were sent:
    - D-35: a complaint on D-1 (sent before both windows: not counted);
    - D-20: delivered, complaint on D-19 (30 days only);
    - D-3: a hard bounce (reported again on D-2: one email); another a soft bounce on D-2;
    - D-1: rejected by SES;
    - D: delayed on D; another bounces on D+1 (not yet on D); another whose Send line was lost
      (only its Delivery); a Rendering Failure (never sent);
    - the hard bounce suppressed by the account's own list (D-3): a bounce, not a hard one.
    nl_2 sent one email on D-10; nl_3 only on D-35 (no row)."""
    stage(
        warehouse,
        email("nl_1", 35, ("complaint", 34)),
        email("nl_1", 20, ("delivery", 0), ("complaint", 1)),
        email("nl_1", 3, HARD, ("bounce", 1, "Permanent", "General")),  # reported twice
        email("nl_1", 3, ("bounce", 1, "Transient", "MailboxFull")),
        email("nl_1", 3, ("bounce", 0, "Permanent", "OnAccountSuppressionList")),
        email("nl_1", 1, ("reject", 0)),
        email("nl_1", 0, ("delivery_delay", 0), ("delivery", 1)),
        email("nl_1", 0, ("bounce", 1, "Permanent", "General")),
        email("nl_1", 0, ("delivery", 0), send=False),
        email("nl_1", 0, ("rendering_failure", 0), send=False),
        email("nl_2", 10, ("delivery", 0)),
        email("nl_3", 35, ("delivery", 0)),
    )

    result = materialize(newsletter_deliverability, warehouse, str(D))

    assert result.success and all(checks_passed(result).values())
    rows = by_newsletter(warehouse)
    assert set(rows) == {None, "nl_1", "nl_2"}
    one, two, platform = rows["nl_1"], rows["nl_2"], rows[None]
    names = ("sends", "bounces", "hard_bounces", "complaints", "rejects", "delivery_delays")
    assert [one[f"{n}_7d"] for n in names] == [7, 3, 1, 0, 1, 1]
    assert [one[f"{n}_30d"] for n in names] == [8, 3, 1, 1, 1, 1]
    assert [two[f"{n}_7d"] for n in names] == [0, 0, 0, 0, 0, 0]
    assert two["sends_30d"] == 1
    assert [platform[f"{n}_30d"] for n in names] == [9, 3, 1, 1, 1, 1]
    assert (platform["scope"], platform["sends_7d"]) == ("platform", 7)
    assert (one["bounce_rate_7d"], one["hard_bounce_rate_7d"], one["reject_rate_7d"]) == (
        pytest.approx(3 / 7), pytest.approx(1 / 7), pytest.approx(1 / 7),
    )  # fmt: skip
    assert one["complaint_rate_30d"] == pytest.approx(1 / 8)
    assert one["delivery_delay_rate_30d"] == pytest.approx(1 / 8)
    assert two["hard_bounce_rate_7d"] is None  # no email in the 7 days
    assert (one["platform_send_share_7d"], one["platform_send_share_30d"]) == (
        1.0, pytest.approx(8 / 9),
    )  # fmt: skip
    assert (two["platform_send_share_30d"], platform["platform_send_share_30d"]) == (
        pytest.approx(1 / 9), 1.0,
    )  # fmt: skip
    assert {r["status"] for r in rows.values()} == {"too_few_sends"}
    assert reputation(result).passed  # 1 bounce in 7 emails is no alarm

    # The next day sees the D email's bounce; D's row is the same from a range run.
    materialize(
        newsletter_deliverability, warehouse, str(D - timedelta(days=1)), str(D + timedelta(days=1))
    )
    assert by_newsletter(warehouse)["nl_1"] == one
    later = by_newsletter(warehouse, D + timedelta(days=1))["nl_1"]
    assert (later["bounces_7d"], later["hard_bounces_7d"]) == (4, 2)


def test_each_newsletter_is_judged_at_each_threshold_above_the_minimum_volume(warehouse):
    """1,000 emails each on D (the minimum volume): 50 hard bounces is SES's review threshold
    (5%), 100 its pause (10%), 1 complaint review (0.1%), 5 pause (0.5%); 49 hard bounces is
    below. Under the minimum nothing is judged: 1 hard bounce in 3 emails (33%), 100 in 999.
    Soft, undetermined and suppressed-by-our-own-list bounces are not SES's bounces. nl_big's 40,000
    clean emails keep the platform healthy (0.64% hard bounces): the check warns, naming the
    flagged newsletters, pauses first."""
    assert THRESHOLDS.min_sends == 1000
    complaint = ("complaint", 0)
    stage(
        warehouse,
        emails("nl_b_review", 50, HARD), emails("nl_b_review", 950),
        emails("nl_b_pause", 100, HARD), emails("nl_b_pause", 900),
        emails("nl_b_below", 49, HARD), emails("nl_b_below", 951),
        emails("nl_c_review", 1, complaint), emails("nl_c_review", 999),
        emails("nl_c_pause", 5, complaint), emails("nl_c_pause", 995),
        emails("nl_small", 1, HARD), emails("nl_small", 2),
        emails("nl_999", 100, HARD), emails("nl_999", 899),
        emails("nl_soft", 300, ("bounce", 0, "Transient", "General")),
        emails("nl_soft", 100, ("bounce", 0, "Undetermined", "Undetermined")),
        emails("nl_soft", 100, ("bounce", 0, "Permanent", "OnAccountSuppressionList")),
        emails("nl_soft", 500),
        emails("nl_big", 40_000),
    )  # fmt: skip

    result = materialize(newsletter_deliverability, warehouse, str(D))

    assert result.success and all(
        passed for name, passed in checks_passed(result).items() if name != "ses_reputation"
    )
    rows = by_newsletter(warehouse)
    assert {k: r["status"] for k, r in rows.items()} == {
        None: "healthy", "nl_big": "healthy", "nl_b_review": "review", "nl_b_pause": "pause",
        "nl_b_below": "healthy", "nl_c_review": "review", "nl_c_pause": "pause",
        "nl_small": "too_few_sends", "nl_999": "too_few_sends", "nl_soft": "healthy",
    }  # fmt: skip
    assert (rows["nl_soft"]["bounce_rate_7d"], rows["nl_soft"]["hard_bounce_rate_7d"]) == (
        0.5, 0.0,
    )  # fmt: skip
    platform = rows[None]
    assert (platform["sends_7d"], platform["hard_bounces_7d"], platform["complaints_7d"]) == (
        47_002, 300, 6,
    )  # fmt: skip

    check = reputation(result)
    assert not check.passed and check.severity == dg.AssetCheckSeverity.WARN
    flagged = check.metadata["newsletters"].value
    assert [(f["newsletter_id"], f["status"]) for f in flagged] == [
        ("nl_b_pause", "pause"), ("nl_c_pause", "pause"),
        ("nl_b_review", "review"), ("nl_c_review", "review"),
    ]  # fmt: skip
    (reason,) = flagged[0]["reasons"][:1]
    assert (reason["rate"], reason["value"], reason["count"], reason["sends"], reason["level"]) == (
        "hard_bounce_rate", 0.1, 100, 1000, "pause",
    )  # fmt: skip
    assert flagged[0]["platform_send_share_7d"] == pytest.approx(1000 / 47_002)
    assert check.description.startswith("platform: healthy; nl_b_pause: pause, hard bounce rate")


@pytest.mark.parametrize(
    ("hard_bounces", "severity", "status"),
    [(110, dg.AssetCheckSeverity.WARN, "review"), (220, dg.AssetCheckSeverity.ERROR, "pause")],
)
def test_the_platform_is_judged_as_a_whole(warehouse, hard_bounces, severity, status):
    """One newsletter sends all 2,000 of the platform's emails: 110 hard bounces (5.5%) put the
    platform under review (a warning), 220 (11%) at the pause threshold (an error). The check
    does not block: the run succeeds and the table is written."""
    stage(warehouse, emails("nl_1", hard_bounces, HARD), emails("nl_1", 2000 - hard_bounces))

    result = materialize(newsletter_deliverability, warehouse, str(D))

    assert result.success
    check = reputation(result)
    assert (check.passed, check.severity) == (False, severity)
    platform = check.metadata["platform"].value
    assert (platform["status"], platform["hard_bounces_30d"], platform["sends_30d"]) == (
        status, hard_bounces, 2000,
    )  # fmt: skip
    assert [f["newsletter_id"] for f in check.metadata["newsletters"].value] == ["nl_1"]
    assert check.description.startswith(f"platform: {status}, hard bounce rate")
    assert by_newsletter(warehouse)["nl_1"]["status"] == status
