"""Recovering by itself: a transient fault is retried with backoff until the step succeeds; a
backfill of a range, its days one by one, and any number of re-runs and overlapping backfills
all give the very same tables."""

from __future__ import annotations

import multiprocessing
import time
from datetime import date, timedelta
from pathlib import Path

import dagster as dg
import duckdb
import pytest
from dagster._core.storage.tags import (
    ASSET_PARTITION_RANGE_END_TAG,
    ASSET_PARTITION_RANGE_START_TAG,
)

from theletter_data.definitions import build_definitions
from theletter_data.metrics.newsletter_daily_traffic import newsletter_daily_traffic
from theletter_data.resources.duckdb_warehouse import DuckDBWarehouse
from theletter_data.settings import Environment, Settings
from theletter_data.staging.page_views import STG_PAGE_VIEWS
from theletter_data_dev.generate import generate_lake
from theletter_data_tests.support.staged import write_rows

pytestmark = pytest.mark.slow  # real Dagster runs of the whole daily graph, several times over


def _hold(path: str, holding, seconds: float) -> None:  # type: ignore[no-untyped-def]
    con = duckdb.connect(path)
    holding.set()
    time.sleep(seconds)
    con.close()


def test_a_transient_fault_is_retried_and_then_succeeds(tmp_path: Path) -> None:
    path = str(tmp_path / "warehouse.duckdb")
    day = date(2026, 11, 20)
    write_rows(DuckDBWarehouse(path=path), STG_PAGE_VIEWS, [], day, day + timedelta(days=1))
    # Another process holds the warehouse for five seconds; this step gives up on the lock after
    # 0.2 s, which is not a permanent error, so Dagster retries it after a backoff.
    context = multiprocessing.get_context("spawn")
    holding = context.Event()
    holder = context.Process(target=_hold, args=(path, holding, 5.0))
    holder.start()
    assert holding.wait(timeout=60)
    impatient = DuckDBWarehouse(path=path, lock_timeout_seconds=0.2)
    with dg.instance_for_test() as instance:
        result = dg.materialize(
            [newsletter_daily_traffic],
            instance=instance,
            resources={"warehouse": impatient},
            partition_key=day.isoformat(),
        )
        events = [e.event_type_value for e in result.all_events]
    holder.join()
    assert result.success
    assert events.count("STEP_UP_FOR_RETRY") >= 1
    assert events.count("STEP_SUCCESS") == 1


def _fingerprints(path: Path) -> dict[str, tuple]:
    with duckdb.connect(str(path), read_only=True) as con:
        tables = con.execute(
            "SELECT table_schema || '.' || table_name FROM information_schema.tables "
            "WHERE table_schema IN ('staging', 'metrics') ORDER BY 1"
        ).fetchall()
        return {
            name: con.execute(
                f"SELECT COUNT(*), md5(string_agg(md5(CAST(t AS VARCHAR)), '' "
                f"ORDER BY md5(CAST(t AS VARCHAR)))) FROM {name} AS t"
            ).fetchall()[0]
            for (name,) in tables
        }


def test_backfills_reruns_and_overlaps_all_give_the_same_tables(tmp_path: Path) -> None:
    """One clean backfill; the same days one by one; and the days run again and again in
    overlapping backfills: the same tables, row for row."""
    first, last = date(2026, 11, 9), date(2026, 11, 12)
    day = [first + timedelta(days=i) for i in range(4)]
    plans = {
        "backfill": [(first, last)],
        "daily": [(d, d) for d in day],
        # Day 2 runs four times here, in overlapping ranges and alone.
        "rerun_and_overlap": [
            (day[1], day[2]),
            (first, last),
            (day[1], day[1]),
            (day[1], day[1]),
            (day[2], last),
        ],
    }
    lake_dir = tmp_path / "shared"
    runs: dict[str, Path] = {}
    for mode, ranges in plans.items():
        data = tmp_path / mode
        data.mkdir()
        (data / "lake").symlink_to(lake_dir, target_is_directory=True)
        defs = build_definitions(
            Settings(environment=Environment.LOCAL, data_dir=data, pseudonym_key_set=False)
        )
        if mode == "backfill":
            lake_dir.mkdir()
            generate_lake(defs.resources["lake"], first, last, newsletters=6, readers=1_500, seed=3)
        job = defs.resolve_job_def("daily_refresh")
        with dg.instance_for_test() as instance:
            for start, end in ranges:
                tags = {
                    ASSET_PARTITION_RANGE_START_TAG: start.isoformat(),
                    ASSET_PARTITION_RANGE_END_TAG: end.isoformat(),
                }
                assert job.execute_in_process(instance=instance, tags=tags).success
        runs[mode] = data / "warehouse.duckdb"

    # Every table the job's assets declare, and staging's own two (a literal count went stale
    # when metrics were added).
    selected = job.asset_layer.selected_asset_keys
    declared = {
        str(spec.metadata["dagster/table_name"])
        for spec in defs.resolve_all_asset_specs()
        if spec.key in selected and "dagster/table_name" in spec.metadata
    }
    clean = _fingerprints(runs["backfill"])
    assert clean.keys() == declared | {"staging.quarantine", "staging.arrival_windows"}
    assert clean["staging.arrival_windows"][0] == 0  # no replay here
    assert all(count for name, (count, _) in clean.items() if name != "staging.arrival_windows")
    assert _fingerprints(runs["daily"]) == clean
    assert _fingerprints(runs["rerun_and_overlap"]) == clean
