"""A small partitioned table, a quarantine shared by streams, and a stream's day as staging
writes it, for the warehouse tests (integration/test_warehouse*.py)."""

from __future__ import annotations

from datetime import date, timedelta

import pyarrow as pa

from theletter_data.resources.warehouse import PartitionWrite, Warehouse
from theletter_data.tables import Column, Table

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


QUARANTINE = Table(
    layer="staging",
    name="q",
    grain="one row per stream, thing and day: shared by every stream, like staging.quarantine",
    partition_by="date",
    key=("date", "stream", "thing"),
    cluster_by=("stream",),
    columns=(
        Column("date", "DATE", "Day."),
        Column("stream", "STRING", "Stream."),
        Column("thing", "STRING", "Thing."),
    ),
)


def rows(*things: tuple[date, str, int]) -> pa.Table:
    return pa.Table.from_pylist(
        [{"date": d, "thing": t, "n": n} for d, t, n in things], schema=T.arrow_schema
    )


def staged(stream: str) -> Table:
    return Table(
        layer="staging", name=f"s_{stream}", grain="one row per thing per day",
        partition_by="date", key=("date", "thing"), columns=T.columns,
    )  # fmt: skip


def day_of(stream: str, good: int, bad: int) -> list[PartitionWrite]:
    """A stream's day as staging writes it: its staged rows and its quarantine rows."""
    quarantined = pa.Table.from_pylist(
        [{"date": DAY, "stream": stream, "thing": f"bad{i}"} for i in range(bad)],
        schema=QUARANTINE.arrow_schema,
    )
    return [
        PartitionWrite(
            staged(stream), DAY, NEXT, rows=rows(*((DAY, f"ok{i}", i) for i in range(good)))
        ),
        PartitionWrite(QUARANTINE, DAY, NEXT, rows=quarantined, scope={"stream": stream}),
    ]


def table_rows(warehouse: Warehouse, table: Table) -> list[tuple]:
    result = warehouse.query(f"SELECT * FROM {table.qualified_name}")
    return sorted(tuple(r.values()) for r in result.to_pylist())


def content(warehouse: Warehouse) -> list[tuple]:
    result = warehouse.query("SELECT date, thing, n FROM metrics.t ORDER BY date, thing")
    return [tuple(r.values()) for r in result.to_pylist()]
