"""Events as columns: a dict of equally long numpy arrays, never one Python object per event."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

Table = dict[str, np.ndarray]


def rows(table: Table) -> int:
    return len(next(iter(table.values()))) if table else 0


def select(table: Table, index: np.ndarray) -> Table:
    """Rows by boolean mask or integer positions."""
    return {k: v[index] for k, v in table.items()}


def concat(tables: Iterable[Table]) -> Table:
    tables = [t for t in tables if t and rows(t)]
    if not tables:
        return {}
    return {k: np.concatenate([t[k] for t in tables]) for k in tables[0]}


def split_by_day(table: Table, days: np.ndarray) -> dict[int, Table]:
    """Rows grouped by day number, each group keeping the table's row order."""
    out: dict[int, Table] = {}
    if not rows(table):
        return out
    for day in np.unique(days):
        out[int(day)] = select(table, days == day)
    return out
