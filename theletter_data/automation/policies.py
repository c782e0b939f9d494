"""When each kind of asset is expected to be fresh, and what brings it up to date. Assets take
these from here, so the UI shows the same policy on every asset of a kind.

The original platform ran its daily workflow at 10:00 JST; here a day's raw streams close their
arrival window at 03:00 JST, staging follows at once (raw_arrivals.py) and the metrics follow
their staged inputs, so every daily table is due by the same 10:00 JST.
"""

from __future__ import annotations

from datetime import timedelta

import dagster as dg

from theletter_data.partitions import TIMEZONE

DAILY_DEADLINE_CRON = "0 10 * * *"
WEEKLY_DEADLINE_CRON = "0 10 * * 1"
INTRADAY_CRON = "5 */3 * * *"
"""Every three hours (JST), five minutes after the hour: Firehose has flushed by then."""

LATE_DATA_DAYS = 7
"""Metrics follow re-staged inputs this far back; older corrections are a backfill."""

DAILY_FRESHNESS = dg.FreshnessPolicy.cron(
    deadline_cron=DAILY_DEADLINE_CRON, lower_bound_delta=timedelta(hours=8), timezone=TIMEZONE
)
"""Materialized between 02:00 and 10:00 JST every day."""

WEEKLY_FRESHNESS = dg.FreshnessPolicy.cron(
    deadline_cron=WEEKLY_DEADLINE_CRON, lower_bound_delta=timedelta(hours=12), timezone=TIMEZONE
)
"""Materialized between Sunday 22:00 and Monday 10:00 JST every week."""

INTRADAY_FRESHNESS = dg.FreshnessPolicy.time_window(
    fail_window=timedelta(hours=4), warn_window=timedelta(hours=3, minutes=30)
)
"""Never older than about one three-hour refresh."""


def after_inputs(lookback: timedelta) -> dg.AutomationCondition:
    """Materialize a partition when its inputs were updated (or it went missing), once none of
    them is missing or being written: the latest partitions and those `lookback` before, so a
    late correction upstream reaches the metrics too. The staged tables' checks are not
    partitioned, so a failed blocking check (a reconciliation, a duplicate key) holds back
    everything read from its table until the table is staged again with its checks passing."""
    return (
        dg.AutomationCondition.in_latest_time_window(lookback_delta=lookback)
        & (
            dg.AutomationCondition.newly_missing() | dg.AutomationCondition.any_deps_updated()
        ).since_last_handled()
        & ~dg.AutomationCondition.any_deps_missing()
        & ~dg.AutomationCondition.any_deps_in_progress()
        & dg.AutomationCondition.all_deps_blocking_checks_passed()
        & ~dg.AutomationCondition.in_progress()
    ).with_label(f"after its inputs (last {lookback.days} days)")


DAILY_METRIC_AUTOMATION = after_inputs(timedelta(days=LATE_DATA_DAYS))
WEEKLY_METRIC_AUTOMATION = after_inputs(timedelta(weeks=2))
