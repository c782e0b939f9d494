"""The benchmark's printed tables: each goal of issue 17 gets its verdict beside its figure."""

from __future__ import annotations

import io

from theletter_data_dev.benchmark.demo_days import DemoRun
from theletter_data_dev.benchmark.incremental import Refresh
from theletter_data_dev.benchmark.run import write_demo, write_refreshes
from theletter_data_dev.benchmark.steps import Step


def refreshes(*pairs: tuple[int, float]) -> list[Refresh]:
    return [Refresh(days, days * 250_000, seconds, 50 * 2**20) for days, seconds in pairs]


def printed(rows: list[Refresh]) -> str:
    out = io.StringIO()
    write_refreshes(rows, out)
    return out.getvalue()


def test_the_refresh_table_says_whether_365_days_stay_within_1_2x_of_7() -> None:
    missed = printed(refreshes((7, 1.85), (30, 2.33), (90, 1.96), (365, 2.31)))
    assert "   365d   91,250,000    2.31       50      1.25x\n" in missed
    assert missed.endswith(
        "  365 days of history: 1.25x the time of 7 (goal within 1.2x: not met)\n"
    )
    met = printed(refreshes((7, 2.0), (365, 2.2)))
    assert met.endswith("  365 days of history: 1.10x the time of 7 (goal within 1.2x: met)\n")


def test_a_run_without_both_ends_of_the_goal_gives_no_verdict() -> None:
    """`histories` other than 7 and 365 (a quick run) measure something else: the ratio is
    printed, the verdict says where the goal applies instead of claiming it."""
    partial = printed(refreshes((30, 2.0), (90, 2.6)))
    assert partial.endswith(
        "  90 days of history: 1.30x the time of 30 (the goal compares 365 days with 7)\n"
    )
    assert printed(refreshes((7, 2.0))).endswith("1.00x\n")
    assert (
        printed([])
        == f"{'history':>8} {'staged rows':>12} {'s':>7} {'MB read':>8} {'vs 7 days':>10}\n"
    )


def test_the_verdict_compares_the_shortest_history_with_the_longest_in_any_order() -> None:
    shuffled = printed(refreshes((365, 2.31), (30, 2.33), (7, 1.85)))
    assert "      7d    1,750,000    1.85       50      1.00x\n" in shuffled
    assert shuffled.endswith(
        "  365 days of history: 1.25x the time of 7 (goal within 1.2x: not met)\n"
    )


def demo(runs: dict[str, float], success: bool = True) -> str:
    steps = [Step("stg_email_events", 19.2, 1_549_395), Step("platform_daily_kpis", 1.8, 28)]
    out = io.StringIO()
    write_demo(DemoRun(False, 100.4, runs, steps, success), out)
    return out.getvalue()


def test_the_demo_part_judges_daily_refresh_against_60_seconds() -> None:
    met = demo({"daily_refresh": 59.9, "weekly_cohorts": 0.6, "publish_dashboards": 4.8})
    assert "  stg_email_events                   19.2     1,549,395    80,698    32%\n" in met
    assert "  daily_refresh, the whole run       59.9  (goal under 60 s: met)\n" in met
    assert "  publish_dashboards, its run         4.8\n" in met
    assert met.endswith("  the demo command                  100.4  (succeeded)\n")
    missed = demo({"daily_refresh": 60.5})
    assert "(goal under 60 s: not met)\n" in missed
    assert "weekly_cohorts" not in missed


def test_a_demo_that_failed_before_its_refresh_ran_says_so_without_a_verdict() -> None:
    failed = demo({}, success=False)
    assert "goal" not in failed
    assert failed.endswith("  the demo command                  100.4  (FAILED)\n")
