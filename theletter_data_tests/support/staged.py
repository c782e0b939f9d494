"""Write hand-made rows into staged tables and materialize one metric over a partition range."""

from __future__ import annotations

import importlib
import pkgutil
import sys
from collections.abc import Sequence
from datetime import date

import dagster as dg
import pyarrow as pa
from dagster._core.storage.tags import (
    ASSET_PARTITION_RANGE_END_TAG,
    ASSET_PARTITION_RANGE_START_TAG,
)

from theletter_data.resources.warehouse import PartitionWrite, Warehouse
from theletter_data.tables import Table


def write_rows(
    warehouse: Warehouse, table: Table, rows: Sequence[dict], start: date, end: date
) -> None:
    """Replace [start, end) of `table` with `rows` (columns not given are NULL)."""
    arrow = pa.Table.from_pylist(
        [{c: row.get(c) for c in table.column_names} for row in rows], schema=table.arrow_schema
    )
    warehouse.replace([PartitionWrite(table, start, end, rows=arrow)])


def write_snapshots(
    warehouse: Warehouse, table: Table, rows: Sequence[dict], start: date, end: date
) -> None:
    """Stage hand-made whole snapshots (rows with `snapshot_date`) of [start, end) into a table
    staged as changes (stg_subscriptions), as staging would: each day's new, changed and deleted
    rows against the day before (a day without rows has no subscription), the day before
    `start` being what the table holds as of then."""
    key = table.key[1]
    carried = [c for c in table.column_names if c not in (table.partition_by, "change")]
    previous: dict[str, dict] = {}
    if warehouse.has_table(table):
        earlier = warehouse.query(
            f"SELECT * FROM {table.qualified_name} WHERE {table.partition_by} < @start_date",
            {"start_date": start},
        ).to_pylist()
        for row in sorted(earlier, key=lambda r: r[table.partition_by]):
            previous[row[key]] = row
        previous = {k: r for k, r in previous.items() if r["change"] != "deleted"}
    changes = []
    for offset in range((end - start).days):
        day = date.fromordinal(start.toordinal() + offset)
        current = {r[key]: r for r in rows if r["snapshot_date"] == day}
        for k, row in current.items():
            if k not in previous:
                changes.append({**row, table.partition_by: day, "change": "new"})
            elif any(row.get(c) != previous[k].get(c) for c in carried):
                changes.append({**row, table.partition_by: day, "change": "changed"})
        for k, row in previous.items():
            if k not in current:
                changes.append({**row, table.partition_by: day, "change": "deleted"})
        previous = current
    write_rows(warehouse, table, changes, start, end)


def snapshots_of(table: Table, alias: str = "s") -> str:
    """A FROM item with a table's rows per staged snapshot day (`snapshot_date`): a table
    staged as changes read as of each day it has rows for, as the metrics read it."""
    if table.partition_by == "snapshot_date":
        return table.qualified_name
    cols = ", ".join(
        f"v.{c}" for c in table.column_names if c not in (table.partition_by, "change")
    )
    name, valid_from = table.qualified_name, table.partition_by
    return (
        f"(SELECT d.snapshot_date, {cols} FROM (SELECT DISTINCT {valid_from} AS snapshot_date "
        f"FROM {name}) AS d INNER JOIN (SELECT *, LEAD({valid_from}) OVER (PARTITION BY "
        f"{table.key[1]} ORDER BY {valid_from}) AS valid_to FROM {name}) AS v "
        f"ON v.{valid_from} <= d.snapshot_date AND (v.valid_to IS NULL OR "
        f"v.valid_to > d.snapshot_date) WHERE v.change != 'deleted') AS {alias}"
    )


def materialize(
    asset: dg.AssetsDefinition,
    warehouse: Warehouse,
    first: str,
    last: str | None = None,
    raise_on_error: bool = True,
) -> dg.ExecuteInProcessResult:
    """Materialize `asset` for the partitions first..last (keys) in one run."""
    return dg.materialize(
        [asset],
        resources={"warehouse": warehouse},
        tags={ASSET_PARTITION_RANGE_START_TAG: first, ASSET_PARTITION_RANGE_END_TAG: last or first},
        raise_on_error=raise_on_error,
    )


def rows_of(warehouse: Warehouse, table: Table, order_by: str) -> list[dict]:
    return warehouse.query(f"SELECT * FROM {table.qualified_name} ORDER BY {order_by}").to_pylist()


def checks_passed(result: dg.ExecuteInProcessResult) -> dict[str, bool]:
    return {
        e.asset_check_evaluation_data.check_name: e.asset_check_evaluation_data.passed
        for e in result.all_events
        if e.event_type_value == "ASSET_CHECK_EVALUATION"
    }


def declared_tables() -> dict[str, Table]:
    """Every `Table` the staging and metrics packages declare (also an app export's), by
    qualified name."""
    for package in ("theletter_data.staging", "theletter_data.metrics"):
        for module in pkgutil.walk_packages(
            importlib.import_module(package).__path__, f"{package}."
        ):
            importlib.import_module(module.name)
    tables: dict[str, Table] = {}
    for name, module in list(sys.modules.items()):
        if name.startswith(("theletter_data.staging.", "theletter_data.metrics.")):
            for value in vars(module).values():
                table = getattr(value, "table", value)
                if isinstance(table, Table):
                    tables[table.qualified_name] = table
    return tables


def create_empty_tables(warehouse: Warehouse, but: Sequence[Table] = ()) -> None:
    """Create, empty, every declared table the test did not write (`but` those, left absent):
    a query over the documents' sections reads them all, and a new section needs no edit of the
    tests that build them."""
    left_out = {t.qualified_name for t in but}
    for name, table in declared_tables().items():
        if name not in left_out and not warehouse.has_table(table):
            warehouse.create_table(table)
