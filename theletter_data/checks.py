"""Data-quality checks every table gets from its spec: unique key, required columns, accepted
values, counts that cannot be negative and shares within [0, 1].

They run inside the asset's own step, right after its write, over exactly the window written,
so a partitioned run checks what it changed. Blocking checks stop downstream assets from being
rebuilt on bad data.
"""

from __future__ import annotations

from datetime import date

import dagster as dg

from theletter_data.resources.warehouse import Warehouse
from theletter_data.tables import Table

UNIQUE_KEY = "unique_key"
COLUMN_VALUES = "column_values"


def table_check_specs(table: Table, asset_key: str) -> list[dg.AssetCheckSpec]:
    key_columns = ", ".join(table.key)
    return [
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
    warehouse: Warehouse, table: Table, start: date, end: date
) -> list[dg.AssetCheckResult]:
    """Evaluate the spec's checks over [start, end) of the partition column."""
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
        + ", ".join(f"COUNTIF({condition}) AS {name}" for name, condition in rules.items())
        + f" FROM {table.qualified_name} WHERE {window}",
        params,
    ).to_pylist()[0]
    violations = {name: int(counts[name]) for name in rules if counts[name]}
    window_text = f"[{start}, {end})"
    return [
        dg.AssetCheckResult(
            check_name=UNIQUE_KEY,
            passed=duplicates == 0,
            metadata={"window": window_text, "duplicate_keys": int(duplicates)},
        ),
        dg.AssetCheckResult(
            check_name=COLUMN_VALUES,
            passed=not violations,
            metadata={
                "window": window_text,
                "rows_checked": int(counts["rows_checked"]),
                "violations": dg.MetadataValue.json(violations),
            },
        ),
    ]


def _value_rules(table: Table) -> dict[str, str]:
    """Violation name -> BigQuery condition that is true for a violating row."""
    rules: dict[str, str] = {}
    for column in table.columns:
        name = column.name
        if column.required:
            rules[f"null_{name}"] = f"{name} IS NULL"
        if column.accepted_values:
            values = ", ".join("'" + v.replace("'", "\\'") + "'" for v in column.accepted_values)
            rules[f"unaccepted_{name}"] = f"{name} NOT IN ({values})"
        if column.type == "INT64" and not column.signed:
            rules[f"negative_{name}"] = f"{name} < 0"
    for name in table.rate_columns:
        rules[f"out_of_range_{name}"] = f"({name} < 0 OR {name} > 1)"
    return rules
