"""The DuckDB warehouse: partition replacement is atomic, scoped and confined to its window."""

from __future__ import annotations

import threading
import time
from datetime import date, timedelta

import duckdb
import pyarrow as pa
import pytest

from theletter_data.resources.duckdb_warehouse import DuckDBWarehouse
from theletter_data.resources.warehouse import PartitionWrite
from theletter_data.tables import Column, Table

DAY = date(2026, 11, 20)
NEXT = DAY + timedelta(days=1)
T = Table(
    layer="metrics",
    name="t",
    grain="one row per thing per day",
    partition_by="date",
    key=("date", "thing"),
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


def content(warehouse: DuckDBWarehouse) -> list[tuple]:
    return [
        tuple(r.values())
        for r in warehouse.query("SELECT * FROM metrics.t ORDER BY 1, 2").to_pylist()
    ]


def test_a_failed_write_leaves_the_previous_partition_intact(warehouse: DuckDBWarehouse) -> None:
    warehouse.replace([PartitionWrite(T, DAY, NEXT, rows=rows((DAY, "a", 1)))])
    broken = PartitionWrite(T, DAY, NEXT, query="SELECT date, thing, n FROM metrics.missing")
    good = PartitionWrite(T, DAY, NEXT, rows=rows((DAY, "b", 2)))
    with pytest.raises(duckdb.CatalogException):
        warehouse.replace([good, broken])
    assert content(warehouse) == [(DAY, "a", 1)]


def test_a_write_never_touches_rows_outside_its_window(warehouse: DuckDBWarehouse) -> None:
    warehouse.replace(
        [PartitionWrite(T, NEXT, NEXT + timedelta(days=1), rows=rows((NEXT, "x", 9)))]
    )
    counts = warehouse.replace(
        [PartitionWrite(T, DAY, NEXT, rows=rows((DAY, "a", 1), (NEXT, "stray", 5)))]
    )
    assert counts == {"metrics.t": 1}
    assert content(warehouse) == [(DAY, "a", 1), (NEXT, "x", 9)]


def test_a_query_write_is_transpiled_from_bigquery(warehouse: DuckDBWarehouse) -> None:
    sql = (
        "SELECT DATE_ADD(@start_date, INTERVAL 0 DAY) AS date, 'q' AS thing, "
        "COUNTIF(x > 1) AS n FROM UNNEST([1, 2, 3]) AS x"
    )
    warehouse.replace([PartitionWrite(T, DAY, NEXT, query=sql, params={"start_date": DAY})])
    assert content(warehouse) == [(DAY, "q", 2)]


def test_scoped_writes_share_a_table(warehouse: DuckDBWarehouse) -> None:
    shared = Table(
        layer="staging", name="shared", grain="one row per stream per day",
        partition_by="date", key=("date", "stream"),
        columns=(Column("date", "DATE", "Day."), Column("stream", "STRING", "Stream.")),
    )  # fmt: skip

    def write(stream: str) -> None:
        data = pa.Table.from_pylist([{"date": DAY, "stream": stream}], schema=shared.arrow_schema)
        warehouse.replace([PartitionWrite(shared, DAY, NEXT, rows=data, scope={"stream": stream})])

    write("a")
    write("b")
    write("a")
    assert warehouse.query("SELECT stream FROM staging.shared ORDER BY 1").column(
        0
    ).to_pylist() == [
        "a",
        "b",
    ]


def test_a_second_process_waits_for_the_file_lock(tmp_path) -> None:
    import multiprocessing

    path = str(tmp_path / "locked.duckdb")
    holder = multiprocessing.get_context("spawn").Process(target=_hold_lock, args=(path, 1.5))
    holder.start()
    time.sleep(1.0)  # the other process now holds the write lock
    started = time.monotonic()
    warehouse = DuckDBWarehouse(path=path, lock_timeout_seconds=30)
    warehouse.replace([PartitionWrite(T, DAY, NEXT, rows=rows((DAY, "a", 1)))])
    holder.join()
    assert holder.exitcode == 0
    assert time.monotonic() - started > 0.2  # it waited instead of failing
    assert content(warehouse) == [(DAY, "a", 1)]


def _hold_lock(path: str, seconds: float) -> None:
    con = duckdb.connect(path)
    threading.Event().wait(seconds)
    con.close()
