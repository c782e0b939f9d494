"""The deliverability guard reaches Slack: a newsletter above SES's thresholds is posted once to
the webhook (a local HTTP server that records what it receives) with its numbers and its share
of the platform's emails; a passing check posts nothing; the platform at a pause threshold says
so first."""

from __future__ import annotations

import dagster as dg

from theletter_data.automation.deliverability_alerts import deliverability_alerts
from theletter_data.metrics.newsletter_deliverability import newsletter_deliverability
from theletter_data.resources.alerts import Alerts
from theletter_data_tests.support.sent_emails import HARD, D, emails, stage
from theletter_data_tests.support.slack_webhook import UI


def run(instance: dg.DagsterInstance, warehouse) -> None:  # type: ignore[no-untyped-def]
    result = dg.materialize(
        [newsletter_deliverability],
        instance=instance,
        resources={"warehouse": warehouse},
        partition_key=str(D),
    )
    assert result.success  # the check never blocks


def tick(instance: dg.DagsterInstance, cursor: str | None, alerts: Alerts) -> str | None:
    sensor = deliverability_alerts(dg.DefaultSensorStatus.STOPPED)
    context = dg.build_sensor_context(
        instance=instance, cursor=cursor, resources={"alerts": alerts}
    )
    result = sensor(context)
    return result.cursor


def test_a_newsletter_above_a_threshold_is_posted_once_with_its_share(
    webhook, duckdb_warehouse
) -> None:
    """nl_bad sends 1,000 of the platform's 10,000 emails, 120 of which hard-bounce (12%, above
    SES's 10% pause threshold); the platform's 1.2% is healthy."""
    alerts = Alerts(webhook_url=webhook.url, ui_url=UI)
    stage(duckdb_warehouse, emails("nl_bad", 120, HARD), emails("nl_bad", 880),
          emails("nl_good", 9000))  # fmt: skip
    with dg.instance_for_test() as instance:
        run(instance, duckdb_warehouse)
        cursor = tick(instance, None, alerts)
        cursor = tick(instance, cursor, alerts)  # the same evaluation: not posted again

        (text,) = webhook.texts()
        assert text.startswith("*A newsletter is above SES's thresholds (the platform is not yet)*")
        assert (
            "• Day 2026-11-20. Platform: healthy; 7 days: 10,000 emails, hard bounces 120 (1.20%)"
            in text
        )
        assert (
            "• `nl_bad`: pause; 7 days: 1,000 emails, hard bounces 120 (12.00%), complaints 0 "
            "(0.000%); 30 days: 1,000 emails, hard bounces 120 (12.00%), complaints 0 (0.000%); "
            "10.0% of the platform's emails over 30 days"
        ) in text
        assert "nl_good" not in text
        assert f"<{UI}/assets/newsletter_deliverability|Open in Dagster>" in text

        # The list is cleaned: the check passes, nothing is posted.
        stage(duckdb_warehouse, emails("nl_bad", 1000), emails("nl_good", 9000))
        run(instance, duckdb_warehouse)
        cursor = tick(instance, cursor, alerts)
        assert len(webhook.texts()) == 1

        # Then the platform itself reaches the pause threshold: 1,100 of 10,000 (11%).
        stage(duckdb_warehouse, emails("nl_bad", 1000, HARD), emails("nl_good", 100, HARD),
              emails("nl_good", 8900))  # fmt: skip
        run(instance, duckdb_warehouse)
        tick(instance, cursor, alerts)
    assert len(webhook.texts()) == 2
    paused = webhook.texts()[-1]
    assert paused.startswith("*SES may pause the platform's email: a pause threshold is reached*")
    assert "Platform: pause; 7 days: 10,000 emails, hard bounces 1,100 (11.00%)" in paused
    assert "• `nl_bad`: pause; 7 days: 1,000 emails, hard bounces 1,000 (100.00%)" in paused
    assert "`nl_good`" not in paused  # 100 of 9,000 (1.1%): healthy
