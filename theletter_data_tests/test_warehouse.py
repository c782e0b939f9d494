"""Both warehouses: partition replacement is atomic, scoped and confined to its window; SQL
written for BigQuery runs on both. Then what only one of them has: DuckDB's file lock, and
BigQuery's partitioned, clustered tables loaded by Parquet load jobs."""

from __future__ import annotations

import multiprocessing
import re
import time
from datetime import date, timedelta

import dagster as dg
import duckdb
import pyarrow as pa
import pytest

from theletter_data.metrics.newsletter_daily_traffic import newsletter_daily_traffic
from theletter_data.resources.bigquery_warehouse import BigQueryWarehouse
from theletter_data.resources.duckdb_warehouse import DuckDBWarehouse
from theletter_data.resources.warehouse import PartitionWrite, Warehouse
from theletter_data.staging.page_views import STG_PAGE_VIEWS
from theletter_data.tables import Column, Table
from theletter_data_tests.staged import write_rows

DAY = date(2026, 11, 20)
NEXT = DAY + timedelta(days=1)
T = Table(
    layer="metrics",
    name="t",
    grain="one row per thing per day",
    partition_by="date",
    key=("date", "thing"),
    cluster_by=("thing",),
    columns=(
        Column("date", "DATE", "Day."),
        Column("thing", "STRING", "Thing."),
        Column("n", "INT64", "Count."),
    ),
)


def rows(*things: tuple[date, str, int]) -> pa.Table:
    return pa.Table.from_pylist(
        [{"date": d, "thing": t, "n": n} for d, t, n in things], schema=T.arrow_schema
    )


def content(warehouse: Warehouse) -> list[tuple]:
    result = warehouse.query("SELECT date, thing, n FROM metrics.t ORDER BY date, thing")
    return [tuple(r.values()) for r in result.to_pylist()]


def test_a_failed_write_leaves_the_previous_partition_intact(warehouse: Warehouse) -> None:
    warehouse.replace([PartitionWrite(T, DAY, NEXT, rows=rows((DAY, "a", 1)))])
    good = PartitionWrite(T, DAY, NEXT, rows=rows((DAY, "b", 2)))
    broken = PartitionWrite(T, DAY, NEXT, query="SELECT date, thing, n FROM metrics.missing")
    with pytest.raises(warehouse.permanent_errors()):
        warehouse.replace([good, broken])
    assert content(warehouse) == [(DAY, "a", 1)]


def test_a_write_never_touches_rows_outside_its_window(warehouse: Warehouse) -> None:
    later = PartitionWrite(T, NEXT, NEXT + timedelta(days=1), rows=rows((NEXT, "x", 9)))
    warehouse.replace([later])
    counts = warehouse.replace(
        [PartitionWrite(T, DAY, NEXT, rows=rows((DAY, "a", 1), (NEXT, "stray", 5)))]
    )
    assert counts == {"metrics.t": 1}
    assert content(warehouse) == [(DAY, "a", 1), (NEXT, "x", 9)]


def test_a_rerun_replaces_instead_of_adding(warehouse: Warehouse) -> None:
    for _ in range(3):
        warehouse.replace([PartitionWrite(T, DAY, NEXT, rows=rows((DAY, "a", 1), (DAY, "b", 2)))])
    assert content(warehouse) == [(DAY, "a", 1), (DAY, "b", 2)]


def test_bigquery_sql_runs_with_parameters(warehouse: Warehouse) -> None:
    sql = (
        "SELECT CAST(DATE_ADD(@start_date, INTERVAL 0 DAY) AS DATE) AS date, 'q' AS thing, "
        "COUNTIF(x > 1) AS n FROM UNNEST([1, 2, 3]) AS x"
    )
    warehouse.replace([PartitionWrite(T, DAY, NEXT, query=sql, params={"start_date": DAY})])
    assert content(warehouse) == [(DAY, "q", 2)]


def test_scoped_writes_share_a_table(warehouse: Warehouse) -> None:
    shared = Table(
        layer="staging", name="shared", grain="one row per stream per day",
        partition_by="date", key=("date", "stream"),
        columns=(Column("date", "DATE", "Day."), Column("stream", "STRING", "Stream.")),
    )  # fmt: skip

    def write(stream: str) -> None:
        data = pa.Table.from_pylist([{"date": DAY, "stream": stream}], schema=shared.arrow_schema)
        warehouse.replace([PartitionWrite(shared, DAY, NEXT, rows=data, scope={"stream": stream})])

    for stream in ("a", "b", "a"):
        write(stream)
    result = warehouse.query("SELECT stream FROM staging.shared ORDER BY stream")
    assert result.column(0).to_pylist() == ["a", "b"]


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


@pytest.fixture
def bigquery(bigquery_emulator) -> BigQueryWarehouse:  # type: ignore[no-untyped-def]
    import uuid

    return BigQueryWarehouse(
        project=bigquery_emulator.project,
        dataset_prefix=f"t{uuid.uuid4().hex[:10]}_",
        api_endpoint=bigquery_emulator.api_endpoint,
        maximum_bytes_billed=123 * 2**30,
    )


def test_bigquery_tables_are_day_partitioned_clustered_and_described(bigquery) -> None:
    bigquery.replace([PartitionWrite(T, DAY, NEXT, rows=rows((DAY, "a", 1)))])
    table = bigquery.client.get_table(bigquery.table_id(T))
    assert table.time_partitioning.field == "date"
    assert table.time_partitioning.type_ == "DAY"
    assert table.clustering_fields == ["thing"]
    assert [f.description for f in table.schema] == ["Day.", "Thing.", "Count."]
    assert table.table_id == "t" and bigquery.table_id(T).split(".")[1].endswith("_metrics")


def test_bigquery_rows_arrive_by_load_job_and_leave_no_scratch_table(bigquery) -> None:
    reader = rows((DAY, "a", 1), (DAY, "b", 2)).to_reader(max_chunksize=1)
    bigquery.replace([PartitionWrite(T, DAY, NEXT, rows=reader)])
    dataset = bigquery.dataset("metrics")
    assert [t.table_id for t in bigquery.client.list_tables(dataset)] == ["t"]
    assert content(bigquery) == [(DAY, "a", 1), (DAY, "b", 2)]


def test_bigquery_names_follow_the_configured_datasets(bigquery) -> None:
    sql = bigquery._qualify("SELECT * FROM staging.stg_page_views AS v JOIN metrics.t USING (x)")
    prefix = bigquery.dataset_prefix
    assert f"`{bigquery.project}`.{prefix}staging.stg_page_views AS v" in sql
    assert f"`{bigquery.project}`.{prefix}metrics.t USING" in sql


def test_every_bigquery_job_carries_the_bytes_limit(bigquery) -> None:
    # The emulator accepts but never enforces maximum_bytes_billed, and reports no bytes: what
    # can be checked offline is that every job is configured with the limit.
    for dry_run in (False, True):
        config = bigquery._job_config({"d": DAY}, dry_run=dry_run)
        assert config.maximum_bytes_billed == 123 * 2**30
        assert config.dry_run is dry_run
