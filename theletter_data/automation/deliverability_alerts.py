"""Telling people that the platform's sending reputation is at risk: each new failing evaluation
of the `ses_reputation` check (metrics/ses_reputation.py) is posted to Slack once, naming the
platform's state and each newsletter above SES's thresholds with its numbers and its share of
the platform's emails. The check does not block anything; this is how someone hears of it.
"""

from __future__ import annotations

from typing import Any

import dagster as dg

from theletter_data.metrics.newsletter_deliverability import newsletter_deliverability
from theletter_data.metrics.ses_reputation import CHECK_NAME, WINDOWS
from theletter_data.resources.alerts import Alert, Alerts

CHECK_KEY = dg.AssetCheckKey(newsletter_deliverability.key, CHECK_NAME)
_MAX_NEWSLETTERS = 10
_TITLES = {
    "pause": "SES may pause the platform's email: a pause threshold is reached",
    "review": "SES may review the platform's email: a review threshold is reached",
}


def deliverability_alert(metadata: dict[str, Any], alerts: Alerts) -> Alert:
    """What the check's evaluation says, as one Slack message."""
    platform = metadata["platform"]
    newsletters = metadata["newsletters"]
    title = _TITLES.get(
        platform["status"], "A newsletter is above SES's thresholds (the platform is not yet)"
    )
    lines = [f"Day {metadata['day']}. Platform: {platform['status']}; {_figures(platform)}"]
    for newsletter in newsletters[:_MAX_NEWSLETTERS]:
        share = newsletter["platform_send_share_30d"] or 0.0
        lines.append(
            f"`{newsletter['newsletter_id']}`: {newsletter['status']}; {_figures(newsletter)}; "
            f"{share:.1%} of the platform's emails over {WINDOWS[-1]} days"
        )
    if len(newsletters) > _MAX_NEWSLETTERS:
        lines.append(f"and {len(newsletters) - _MAX_NEWSLETTERS} more newsletters")
    return Alert(title=title, lines=tuple(lines), link=alerts.asset_link(CHECK_KEY.asset_key))


def _figures(row: dict[str, Any]) -> str:
    """Hard bounces and complaints of both windows, e.g. `7 days: 1,000 emails, hard bounces
    100 (10.00%), complaints 0 (0.000%)`."""
    return "; ".join(
        f"{w} days: {row[f'sends_{w}d']:,} emails, hard bounces {row[f'hard_bounces_{w}d']:,} "
        f"({_percent(row[f'hard_bounce_rate_{w}d'], 2)}), complaints "
        f"{row[f'complaints_{w}d']:,} ({_percent(row[f'complaint_rate_{w}d'], 3)})"
        for w in WINDOWS
    )


def _percent(value: float | None, digits: int) -> str:
    return "-" if value is None else f"{value:.{digits}%}"


def deliverability_alerts(default_status: dg.DefaultSensorStatus) -> dg.SensorDefinition:
    @dg.sensor(
        name="deliverability_alerts",
        minimum_interval_seconds=300,
        default_status=default_status,
        description="Posts to Slack when newsletter_deliverability's ses_reputation check warns "
        "or fails: the platform's state and each newsletter above SES's thresholds.",
    )
    def _sensor(context: dg.SensorEvaluationContext, alerts: Alerts) -> dg.SensorResult:
        announced = int(context.cursor or 0)
        record = context.instance.get_latest_asset_check_evaluation_record(CHECK_KEY)
        # An evaluation in progress (or skipped) has no verdict yet: the last one stands.
        evaluation = record.event.asset_check_evaluation if record and record.event else None
        if evaluation is not None and not evaluation.passed and record.id > announced:
            metadata = {k: v.value for k, v in evaluation.metadata.items()}
            alerts.send(deliverability_alert(metadata, alerts))
            announced = record.id
        return dg.SensorResult(cursor=str(announced))

    return _sensor
