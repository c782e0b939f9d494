"""What a business table shows in the Dagster UI on each materialization, so its numbers can be
read there without a BI tool: a Markdown table of the newest rows, and the newest day's figures
as numeric metadata, which the UI plots across materializations (the asset's Plots tab)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import date, timedelta
from typing import Any

import dagster as dg

from theletter_data.resources.warehouse import Warehouse
from theletter_data.tables import Table

Overview = Callable[[Warehouse, date, date], Mapping[str, Any]]
"""(warehouse, start, end) of the written window -> materialization metadata."""


def recent_days_table(
    table: Table, columns: Sequence[str], plotted: Sequence[str], days: int = 14
) -> Overview:
    """The window's last `days` days as a table, newest first; `plotted` columns of the last
    day as numbers."""

    def overview(warehouse: Warehouse, start: date, end: date) -> Mapping[str, Any]:
        first = max(start, end - timedelta(days=days))
        rows = _rows(warehouse, table, [table.partition_by, *columns], first, end)
        rows.sort(key=lambda row: row[table.partition_by], reverse=True)
        metadata: dict[str, Any] = {
            "overview": dg.MetadataValue.md(markdown_table(table, rows)),
        }
        if rows:
            metadata["overview_day"] = str(rows[0][table.partition_by])
            metadata.update({c: _number(rows[0][c]) for c in plotted})
        return metadata

    return overview


def latest_day_table(table: Table, columns: Sequence[str], order_by: str, limit: int) -> Overview:
    """The rows of the window's last day, the first `limit` by `order_by`."""

    def overview(warehouse: Warehouse, start: date, end: date) -> Mapping[str, Any]:
        day = end - timedelta(days=1)
        rows = _rows(warehouse, table, columns, day, end)
        rows = sorted(rows, key=lambda row: row[order_by])[:limit]
        return {
            "overview_day": str(day),
            "overview": dg.MetadataValue.md(markdown_table(table, rows)),
        }

    return overview


def markdown_table(table: Table, rows: Sequence[Mapping[str, Any]]) -> str:
    if not rows:
        return "_No rows in the window._"
    names = list(rows[0])
    types = {c.name: c.type for c in table.columns}
    lines = [
        "| " + " | ".join(names) + " |",
        "|"
        + "|".join("---:" if types.get(n) in ("INT64", "FLOAT64") else "---" for n in names)
        + "|",
    ]
    lines += ["| " + " | ".join(_cell(row[n], n) for n in names) + " |" for row in rows]
    return "\n".join(lines)


def _rows(
    warehouse: Warehouse, table: Table, columns: Sequence[str], start: date, end: date
) -> list[dict[str, Any]]:
    column = table.partition_by
    return warehouse.query(
        f"SELECT {', '.join(columns)} FROM {table.qualified_name} "
        f"WHERE {column} >= @start_date AND {column} < @end_date",
        {"start_date": start, "end_date": end},
    ).to_pylist()


def _cell(value: Any, name: str) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.2%}" if "rate" in name else f"{value:,.2f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value).replace("|", "\\|")


def _number(value: Any) -> dg.MetadataValue:
    if isinstance(value, int):
        return dg.MetadataValue.int(value)
    return dg.MetadataValue.float(float(value) if value is not None else float("nan"))
