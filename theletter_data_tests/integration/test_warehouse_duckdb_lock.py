"""DuckDB's file lock: a second process waits for it; a program that holds it for good costs a
step minutes, retried a few times, then fails naming the holder."""

from __future__ import annotations

import multiprocessing
import re
import time

import dagster as dg
import duckdb
import pytest

from theletter_data.metrics.newsletter_daily_traffic import newsletter_daily_traffic
from theletter_data.resources.duckdb_warehouse import DuckDBWarehouse
from theletter_data.resources.warehouse import PartitionWrite
from theletter_data.staging.page_views import STG_PAGE_VIEWS
from theletter_data_tests.support.staged import write_rows
from theletter_data_tests.support.warehouse_tables import DAY, NEXT, T, content, rows


@pytest.mark.slow
def test_a_second_process_waits_for_the_duckdb_file_lock(tmp_path) -> None:
    path = str(tmp_path / "locked.duckdb")
    context = multiprocessing.get_context("spawn")
    holding = context.Event()
    holder = context.Process(target=_hold_lock, args=(path, holding, 1.0))
    holder.start()
    assert holding.wait(timeout=60), "the other process never took the lock"
    started = time.monotonic()
    warehouse = DuckDBWarehouse(path=path, lock_timeout_seconds=60)
    warehouse.replace([PartitionWrite(T, DAY, NEXT, rows=rows((DAY, "a", 1)))])
    waited = time.monotonic() - started
    holder.join()
    assert holder.exitcode == 0
    assert waited > 0.2  # it waited for the lock instead of failing
    assert content(warehouse) == [(DAY, "a", 1)]


def _hold_lock(path: str, holding, seconds: float) -> None:  # type: ignore[no-untyped-def]
    con = duckdb.connect(path)
    holding.set()
    time.sleep(seconds)
    con.close()


def _hold_lock_until(path: str, holding, release) -> None:  # type: ignore[no-untyped-def]
    con = duckdb.connect(path)
    holding.set()
    release.wait(300)
    con.close()


def test_another_program_holding_the_file_costs_a_step_minutes_not_an_hour() -> None:
    """Worst case of a step behind a program that keeps DuckDB's lock (a BI tool left open):
    each attempt waits `lock_timeout_seconds`, retried `lock_retries` times."""
    default = DuckDBWarehouse(path="unused.duckdb")
    worst = (default.lock_retries + 1) * default.lock_timeout_seconds + (
        default.lock_retries * default.lock_retry_delay_seconds
    )
    assert worst == 200


@pytest.mark.slow
def test_a_held_lock_is_retried_a_few_times_then_fails_naming_the_holder(tmp_path) -> None:
    path = tmp_path / "held.duckdb"
    write_rows(DuckDBWarehouse(path=str(path)), STG_PAGE_VIEWS, [], DAY, NEXT)
    context = multiprocessing.get_context("spawn")
    holding, release = context.Event(), context.Event()
    holder = context.Process(target=_hold_lock_until, args=(str(path), holding, release))
    holder.start()
    try:
        assert holding.wait(timeout=60), "the other process never took the lock"
        impatient = DuckDBWarehouse(
            path=str(path), lock_timeout_seconds=1, lock_retries=1, lock_retry_delay_seconds=1
        )
        started = time.monotonic()
        with dg.instance_for_test() as instance:
            result = dg.materialize(
                [newsletter_daily_traffic], instance=instance, partition_key=DAY.isoformat(),
                resources={"warehouse": impatient}, raise_on_error=False,
            )  # fmt: skip
            logs = [e.message for e in instance.all_logs(result.run_id) if e.message]
        elapsed = time.monotonic() - started
    finally:
        release.set()
        holder.join(timeout=60)

    events = [e.event_type_value for e in result.all_events]
    assert events.count("STEP_UP_FOR_RETRY") == 1
    first_line = result.failure_data_for_node("newsletter_daily_traffic").error.message
    holder_named = rf"[^()]*python[^()]*, PID {holder.pid}"
    assert re.fullmatch(
        rf"dagster\._core\.definitions\.events\.Failure: The warehouse {re.escape(str(path))} "
        rf"is locked by another process \({holder_named}\) and stayed locked for 1 s: close "
        r"that program's connection to it \(even a read-only one blocks writes\), or point the "
        r"program at a copy; then re-run\. \(Attempt 2 of 2\.\)",
        first_line.splitlines()[0],
    ), first_line
    waits = [m for m in logs if m.startswith("Waiting up to 1 s for DuckDB's lock on")]
    assert len(waits) == 2 and all(re.search(holder_named, m) for m in waits)
    assert elapsed < 30
