"""A failed blocking check on a staged table stops the metrics from being rebuilt from it: the
automation conditions the daemon evaluates, ticked against a real (ephemeral) instance.

The staged tables' checks are not partitioned, so Dagster gates on each check's latest result:
a staging run whose reconciliation fails holds back every metric read from that table until the
table is staged again with its checks passing.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import dagster as dg
import pytest

from theletter_data.definitions import build_definitions
from theletter_data.metrics.post_email_funnel import FUNNEL_DAYS
from theletter_data.partitions import TIMEZONE
from theletter_data.settings import load_settings
from theletter_data.staging.staged_asset import RECONCILIATION

DAY = date(2026, 11, 20)
FIRST_TICK = datetime(2026, 11, 21, 3, 55, tzinfo=ZoneInfo(TIMEZONE))
"""Just before the day's raw streams close (03:00 JST) and get staged; ticks every 5 minutes."""
STAGED = ["stg_page_views", "stg_email_events", "stg_subscriptions", "stg_posts", "stg_newsletters"]
DAILY_METRICS = {
    "newsletter_daily_traffic",
    "newsletter_traffic_sources",
    "newsletter_subscriber_growth",
    "post_email_funnel",
    "platform_daily_kpis",
}
READING_EMAIL_EVENTS = {"post_email_funnel", "platform_daily_kpis"}


class Daemon:
    """Successive automation ticks over `defs`, as the daemon would run them."""

    def __init__(self, defs: dg.Definitions, instance: dg.DagsterInstance) -> None:
        self.defs, self.instance = defs, instance
        self.now, self.cursor = FIRST_TICK, None
        self.tick()  # the daemon was already running before anything was staged

    def tick(self) -> dict[str, set[str]]:
        """The partitions of each daily metric requested on the next tick."""
        result = dg.evaluate_automation_conditions(
            defs=self.defs, instance=self.instance, evaluation_time=self.now, cursor=self.cursor
        )
        self.now, self.cursor = self.now + timedelta(minutes=5), result.cursor
        return {
            name: set(result.get_requested_partitions(dg.AssetKey(name))) for name in DAILY_METRICS
        }

    def stage(self, tables: list[str], days: list[date], failing: str | None = None) -> None:
        """Record `days` (oldest first) of `tables` as staged, every blocking check passing
        except the reconciliation of `failing`."""
        graph = self.defs.resolve_asset_graph()
        for day in days:
            for name in tables:
                key = dg.AssetKey(name)
                self.instance.report_runless_asset_event(
                    dg.AssetMaterialization(key, partition=str(day))
                )
                for check in graph.get(key).check_keys:
                    if graph.get_check_spec(check).blocking:
                        fails = (name, check.name) == (failing, RECONCILIATION)
                        self.instance.report_runless_asset_event(
                            dg.AssetCheckEvaluation(
                                asset_key=key, check_name=check.name, passed=not fails
                            )
                        )


@pytest.fixture
def daemon(tmp_path: Path) -> Iterator[Daemon]:
    defs = build_definitions(load_settings({"THELETTER_DATA_DIR": str(tmp_path)}))
    with dg.DagsterInstance.ephemeral() as instance:
        yield Daemon(defs, instance)


def history() -> list[date]:
    """The days before DAY that DAY's metrics read: post_email_funnel reads the most."""
    return [DAY - timedelta(days=n) for n in range(FUNNEL_DAYS, 0, -1)]


def test_metrics_follow_staged_inputs_whose_blocking_checks_passed(daemon: Daemon) -> None:
    daemon.stage(STAGED, [*history(), DAY])
    requested = daemon.tick()
    assert {name for name, days in requested.items() if str(DAY) in days} == DAILY_METRICS


def test_a_failed_reconciliation_holds_back_the_metrics_until_the_table_is_restaged(
    daemon: Daemon,
) -> None:
    daemon.stage(STAGED, history())
    daemon.stage(STAGED, [DAY], failing="stg_email_events")
    requested = daemon.tick()
    held_back = {name for name, days in requested.items() if not days}
    assert held_back == READING_EMAIL_EVENTS
    assert all(str(DAY) in requested[name] for name in DAILY_METRICS - READING_EMAIL_EVENTS)

    assert not any(daemon.tick()[name] for name in READING_EMAIL_EVENTS)  # still held back

    daemon.stage(["stg_email_events"], [DAY])  # the on-call fixes the cause and re-stages the day
    requested = daemon.tick()
    assert all(str(DAY) in requested[name] for name in READING_EMAIL_EVENTS)
