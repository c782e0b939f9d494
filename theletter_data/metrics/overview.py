"""What a business table shows in the Dagster UI on each partition's materialization, so its
numbers can be read there without a BI tool: a Markdown table of the partition's newest rows,
and the partition's own figures as numeric metadata, which the UI plots partition by partition
(the asset's Plots tab)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import date, timedelta
from typing import Any

import dagster as dg

from theletter_data.resources.warehouse import Warehouse
from theletter_data.tables import Table

Overview = Callable[[Warehouse, date, date], Mapping[date, Mapping[str, Any]]]
"""(warehouse, start, end) of the written window -> each day's materialization metadata."""


def recent_days_table(
    table: Table, columns: Sequence[str], plotted: Sequence[str], days: int = 14
) -> Overview:
    """For each day of the window: the `days` days up to it as a table, newest first, and its
    own `plotted` columns as numbers (which the asset's Plots tab draws day by day)."""

    def overview(warehouse: Warehouse, start: date, end: date) -> dict[date, dict[str, Any]]:
        column = table.partition_by
        rows = _rows(warehouse, table, [column, *columns], start - timedelta(days=days - 1), end)
        by_day = {row[column]: row for row in rows}
        result: dict[date, dict[str, Any]] = {}
        for day in _days(start, end):
            recent = [by_day[d] for d in sorted(by_day, reverse=True) if 0 <= (day - d).days < days]
            metadata: dict[str, Any] = {
                "overview": dg.MetadataValue.md(markdown_table(table, recent)),
                "overview_day": str(day),
            }
            if day in by_day:
                metadata.update({c: _number(by_day[day][c]) for c in plotted})
            result[day] = metadata
        return result

    return overview


def latest_day_table(
    table: Table,
    columns: Sequence[str],
    order_by: str,
    limit: int,
    note: Callable[[Sequence[Mapping[str, Any]]], str | None] | None = None,
) -> Overview:
    """For each day of the window: its rows, the first `limit` by `order_by`, and `note`'s
    remark on them, if any, under the table."""

    def overview(warehouse: Warehouse, start: date, end: date) -> dict[date, dict[str, Any]]:
        column = table.partition_by
        by_day: dict[date, list[dict[str, Any]]] = {day: [] for day in _days(start, end)}
        for row in _rows(warehouse, table, [column, *columns], start, end):
            by_day[row.pop(column)].append(row)
        result: dict[date, dict[str, Any]] = {}
        for day, rows in by_day.items():
            shown = sorted(rows, key=lambda row: row[order_by])[:limit]
            text = markdown_table(table, shown)
            if note is not None and (remark := note(shown)):
                text += f"\n\n_{remark}_"
            result[day] = {"overview_day": str(day), "overview": dg.MetadataValue.md(text)}
        return result

    return overview


def _days(start: date, end: date) -> list[date]:
    return [start + timedelta(days=i) for i in range((end - start).days)]


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
    """A figure to plot; fractions keep four significant digits (a rate of 1.553%, not
    0.01553156146179402)."""
    if isinstance(value, int):
        return dg.MetadataValue.int(value)
    if value is None:
        return dg.MetadataValue.float(float("nan"))
    return dg.MetadataValue.float(float(f"{float(value):.4g}"))
