"""Both warehouses: partition replacement is atomic, scoped and confined to its window, and a day
written to two tables changes both or neither; SQL written for BigQuery runs on both. What only
one of them has: test_warehouse_duckdb_lock.py, test_warehouse_bigquery.py."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

import pyarrow as pa
import pytest

from theletter_data.resources.warehouse import PartitionWrite, Warehouse
from theletter_data.tables import Column, Table
from theletter_data_tests.support.warehouse_tables import (
    DAY,
    NEXT,
    QUARANTINE,
    T,
    content,
    day_of,
    rows,
    staged,
    table_rows,
)


def test_a_table_exists_once_written(warehouse: Warehouse) -> None:
    assert not warehouse.has_table(T)
    warehouse.replace([PartitionWrite(T, DAY, NEXT, rows=rows())])
    assert warehouse.has_table(T)
    assert not warehouse.has_table(dataclasses.replace(T, name="t_never_written"))


def test_a_failed_write_leaves_the_previous_partition_intact(warehouse: Warehouse) -> None:
    warehouse.replace([PartitionWrite(T, DAY, NEXT, rows=rows((DAY, "a", 1)))])
    good = PartitionWrite(T, DAY, NEXT, rows=rows((DAY, "b", 2)))
    broken = PartitionWrite(T, DAY, NEXT, query="SELECT date, thing, n FROM metrics.missing")
    with pytest.raises(warehouse.permanent_errors()):
        warehouse.replace([good, broken])
    assert content(warehouse) == [(DAY, "a", 1)]


def test_a_day_written_to_two_tables_changes_both_or_neither(warehouse: Warehouse) -> None:
    warehouse.replace(day_of("a", good=2, bad=1))
    before = table_rows(warehouse, staged("a")), table_rows(warehouse, QUARANTINE)
    # The staged table's new rows fail only while the write runs (a bad cast of the rows it
    # reads, which no dry run sees); the quarantine rows of the same day are fine.
    failing = PartitionWrite(
        staged("a"), DAY, NEXT,
        query="SELECT date, thing, CAST(CONCAT('x', thing) AS INT64) AS n FROM staging.q",
    )  # fmt: skip
    quarantine = day_of("a", good=0, bad=3)[1]
    with pytest.raises(warehouse.permanent_errors()):
        warehouse.replace([failing, quarantine])
    assert (table_rows(warehouse, staged("a")), table_rows(warehouse, QUARANTINE)) == before
    assert len(before[0]) == 2 and len(before[1]) == 1


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
