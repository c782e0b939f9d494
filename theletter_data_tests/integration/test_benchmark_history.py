"""The benchmark's refresh-with-history part on today's staged tables: it is no test's subject
otherwise, and staging subscriptions as changes broke it unseen (it copied a `snapshot_date`
the table no longer has)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import duckdb
import pytest

from theletter_data_dev.benchmark.incremental import refresh_metrics, staged_day, with_history
from theletter_data_dev.benchmark.lakes import DAY, small_day

pytestmark = pytest.mark.slow  # a generated day staged and its metrics materialized


def test_history_is_days_of_events_and_one_full_load_of_subscriptions(tmp_path: Path) -> None:
    base = staged_day(small_day(tmp_path / "small"), tmp_path / "work", DAY)
    target = tmp_path / "history.duckdb"

    with_history(base, target, DAY, 3)

    with duckdb.connect(str(target), read_only=True) as con:

        def by_day(table: str, column: str) -> dict:
            return dict(con.sql(f"SELECT {column}, COUNT(*) FROM {table} GROUP BY 1").fetchall())

        events = by_day("staging.stg_email_events", "event_date")
        assert sorted(events) == [DAY - timedelta(days=k) for k in (3, 2, 1, 0)]
        assert len(set(events.values())) == 1  # each day a copy of the staged one
        # The day's subscriptions, each one version, valid from the history's first day.
        with duckdb.connect(str(base), read_only=True) as staged:
            ((subscriptions,),) = staged.sql(
                "SELECT COUNT(*) FROM staging.stg_subscriptions"
            ).fetchall()
        assert by_day("staging.stg_subscriptions", "valid_from") == {
            DAY - timedelta(days=3): subscriptions
        }
    seconds, _ = refresh_metrics(target, DAY)  # fails unless every metric step succeeds
    assert seconds > 0
