"""Data-quality checks every table gets from its spec: unique key, required columns, accepted
values, counts that cannot be negative and shares within [0, 1].

They run inside the asset's own step, right after its write, over exactly the window written,
so a partitioned run checks what it changed. Blocking checks stop downstream assets from being
rebuilt on bad data.
"""

from __future__ import annotations

import re
import statistics
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, timedelta

import dagster as dg
import sqlglot

from theletter_data.resources.warehouse import Warehouse
from theletter_data.tables import Table

UNIQUE_KEY = "unique_key"
COLUMN_VALUES = "column_values"
EXPECTED_ROWS = "expected_rows_present"
ROW_COUNT_ANOMALY = "row_count_anomaly"

ANOMALY_WEEKS = 4
ANOMALY_LOW, ANOMALY_HIGH = 0.5, 2.0
"""A partition is anomalous below half or above twice the median of the same weekday over the
previous four weeks (with at least two of them to compare with)."""
ANOMALY_MIN_ROWS = 20
"""Smaller medians are noise, not a signal."""


def table_check_specs(
    table: Table, asset_key: str, expected_rows: bool = False
) -> list[dg.AssetCheckSpec]:
    key_columns = ", ".join(table.key)
    specs = []
    if expected_rows:
        specs.append(
            dg.AssetCheckSpec(
                EXPECTED_ROWS,
                asset=asset_key,
                blocking=True,
                description="Every newsletter (post, day) with activity in the staged inputs "
                "has its row in the written window.",
            )
        )
    return [
        *specs,
        dg.AssetCheckSpec(
            ROW_COUNT_ANOMALY,
            asset=asset_key,
            description=f"Rows per partition within {ANOMALY_LOW}x to {ANOMALY_HIGH}x the "
            f"median of the same weekday over the previous {ANOMALY_WEEKS} weeks (a warning).",
        ),
        dg.AssetCheckSpec(
            UNIQUE_KEY,
            asset=asset_key,
            blocking=True,
            description=f"No two rows share the key ({key_columns}) in the written window.",
        ),
        dg.AssetCheckSpec(
            COLUMN_VALUES,
            asset=asset_key,
            blocking=True,
            description="Required columns hold no NULLs; enumerations hold only accepted values; "
            "counts are non-negative; shares lie within [0, 1].",
        ),
    ]


def run_table_checks(
    warehouse: Warehouse,
    table: Table,
    start: date,
    end: date,
    expected_rows_sql: str | None = None,
    lookback_days: int = 0,
    expected_rows_params: Mapping[str, object] | None = None,
) -> list[dg.AssetCheckResult]:
    """Evaluate the spec's checks over [start, end) of the partition column; with
    `expected_rows_sql` (a BigQuery SELECT of some key columns for @start_date..@end_date, and
    of the other parameters it names, given in `expected_rows_params`), also that every expected
    row is there. `lookback_days`: how many days before a partition its rows depend on (a 30-day
    funnel), which the row-count comparison needs to hold."""
    params = {"start_date": start, "end_date": end}
    window = f"{table.partition_by} >= @start_date AND {table.partition_by} < @end_date"
    keys = ", ".join(table.key)
    (duplicates,) = (
        warehouse.query(
            f"SELECT COUNT(*) AS duplicate_keys FROM (SELECT {keys} FROM {table.qualified_name} "
            f"WHERE {window} GROUP BY {keys} HAVING COUNT(*) > 1) AS grouped",
            params,
        )
        .to_pylist()[0]
        .values()
    )

    rules = _value_rules(table)
    counts = warehouse.query(
        "SELECT COUNT(*) AS rows_checked, "
        + ", ".join(f"COUNTIF({rule.condition}) AS {name}" for name, rule in rules.items())
        + f" FROM {table.qualified_name} WHERE {window}",
        params,
    ).to_pylist()[0]
    violations = {name: int(counts[name]) for name in rules if counts[name]}
    examples = [
        _examples(warehouse, table, rules[name], n, window, params)
        for name, n in list(violations.items())[:_EXAMPLE_RULES]
    ]
    window_text = f"[{start}, {end})"
    results = [_row_count_anomaly(warehouse, table, start, end, lookback_days)]
    if expected_rows_sql is not None:
        bound = {**params, **(expected_rows_params or {})}
        results.append(_expected_rows(warehouse, table, expected_rows_sql, bound, window))
    return [
        *results,
        dg.AssetCheckResult(
            check_name=UNIQUE_KEY,
            passed=duplicates == 0,
            metadata={"window": window_text, "duplicate_keys": int(duplicates)},
        ),
        dg.AssetCheckResult(
            check_name=COLUMN_VALUES,
            passed=not violations,
            description="\n".join(examples) or None,
            metadata={
                "window": window_text,
                "rows_checked": int(counts["rows_checked"]),
                "violations": dg.MetadataValue.json(violations),
            },
        ),
    ]


def log_failed_checks(
    context: dg.AssetExecutionContext, table: Table, checks: list[dg.AssetCheckResult]
) -> None:
    """Say in the run's log what a failed check found: the run's own failure only names it."""
    for result in checks:
        if result.passed:
            continue
        found = result.description or ", ".join(
            f"{name}={getattr(value, 'value', value)}"
            for name, value in (result.metadata or {}).items()
        )
        log = context.log.warning if result.severity == dg.AssetCheckSeverity.WARN else None
        (log or context.log.error)(
            f"{table.qualified_name}: check {result.check_name} failed: {found}"
        )


@dataclass(frozen=True)
class _Rule:
    condition: str
    """BigQuery condition that is true for a violating row."""
    column: str
    broken: str
    """What is wrong with the column's value, in words."""


_EXAMPLE_RULES = 3
_EXAMPLE_ROWS = 3


def _value_rules(table: Table) -> dict[str, _Rule]:
    """Violation name -> its rule."""
    rules: dict[str, _Rule] = {}
    for column in table.columns:
        name = column.name
        if column.required:
            rules[f"null_{name}"] = _Rule(f"{name} IS NULL", name, "is NULL")
        if column.accepted_values:
            values = ", ".join("'" + v.replace("'", "\\'") + "'" for v in column.accepted_values)
            rules[f"unaccepted_{name}"] = _Rule(
                f"{name} NOT IN ({values})", name, "is not an accepted value"
            )
        if column.type == "INT64" and not column.signed:
            rules[f"negative_{name}"] = _Rule(f"{name} < 0", name, "is negative")
    for name in table.rate_columns:
        rules[f"out_of_range_{name}"] = _Rule(
            f"({name} < 0 OR {name} > 1)", name, "is outside [0, 1]"
        )
    return rules


def _examples(
    warehouse: Warehouse,
    table: Table,
    rule: _Rule,
    violating: int,
    window: str,
    params: dict[str, object],
) -> str:
    """The first violating rows in words, by key, with the column and the columns its
    description names (a rate's numerator and denominator): e.g. `delivery_rate is outside
    [0, 1] in 1 row: date=2026-11-20, post_id=po_1 has delivery_rate=1.029 (delivered / sent:
    delivered=35, sent=34)`. The check says which row and why, not only how many."""
    column = table.column(rule.column)
    named = [w for w in re.findall(r"\w+", column.description) if w in table.column_names]
    inputs = [c for c in dict.fromkeys(named) if c != column.name and c not in table.key]
    selected = ", ".join(dict.fromkeys([*table.key, column.name, *inputs]))
    rows = warehouse.query(
        f"SELECT {selected} FROM {table.qualified_name} WHERE {window} AND {rule.condition} "
        f"ORDER BY {', '.join(table.key)} LIMIT {_EXAMPLE_ROWS}",
        params,
    ).to_pylist()
    shown = []
    for row in rows:
        text = ", ".join(f"{k}={_value(row[k])}" for k in table.key)
        text += f" has {column.name}={_value(row[column.name])}"
        if inputs:
            values = ", ".join(f"{c}={_value(row[c])}" for c in inputs)
            text += f" ({column.description.rstrip('.')}: {values})"
        shown.append(text)
    more = f", and {violating - len(rows)} more" if violating > len(rows) else ""
    noun = "row" if violating == 1 else "rows"
    return f"{column.name} {rule.broken} in {violating} {noun}: {'; '.join(shown)}{more}"


def _value(value: object) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def _expected_rows(
    warehouse: Warehouse, table: Table, sql: str, params: dict[str, object], window: str
) -> dg.AssetCheckResult:
    columns = sqlglot.parse_one(sql, read="bigquery").named_selects
    selected = ", ".join(columns)
    (missing,) = (
        warehouse.query(
            f"SELECT COUNT(*) AS missing FROM ({sql} EXCEPT DISTINCT "
            f"SELECT DISTINCT {selected} FROM {table.qualified_name} WHERE {window}) AS m",
            params,
        )
        .to_pylist()[0]
        .values()
    )
    return dg.AssetCheckResult(
        check_name=EXPECTED_ROWS,
        passed=missing == 0,
        metadata={"expected_by": dg.MetadataValue.json(columns), "missing_rows": int(missing)},
    )


def _row_count_anomaly(
    warehouse: Warehouse, table: Table, start: date, end: date, lookback_days: int
) -> dg.AssetCheckResult:
    """A peer day counts only when the table also holds the day its lookback starts: while a
    table is younger than its lookback (a 30-day funnel in its first month), its row counts
    grow by construction and are not compared."""
    lookback = timedelta(days=lookback_days)
    history_start = start - timedelta(weeks=ANOMALY_WEEKS) - lookback
    counts = warehouse.rows_per_day(table, history_start, end)
    flagged: dict[str, dict[str, float]] = {}
    judged = 0
    day = start
    while day < end:
        peers = sorted(
            counts[p]
            for p in (day - timedelta(weeks=w) for w in range(1, ANOMALY_WEEKS + 1))
            if p in counts and p - lookback in counts
        )
        if len(peers) >= 2 and (median := statistics.median(peers)) >= ANOMALY_MIN_ROWS:
            judged += 1
            rows = counts.get(day, 0)
            if not ANOMALY_LOW * median <= rows <= ANOMALY_HIGH * median:
                flagged[str(day)] = {"rows": rows, "median": median}
        day += timedelta(days=1)
    return dg.AssetCheckResult(
        check_name=ROW_COUNT_ANOMALY,
        passed=not flagged,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={"partitions_judged": judged, "anomalies": dg.MetadataValue.json(flagged)},
    )
