"""The asset shape of every metric table: one BigQuery-dialect SELECT that computes the rows of
a date window from staged tables, written by replacing exactly that window, then checked.

Adding a metric is a table spec, a SQL file in `sql/` and a call to `metric_asset` in a module of
its own, whose docstring defines the metric for the people who read it.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta

import dagster as dg

from theletter_data.automation.policies import (
    DAILY_FRESHNESS,
    DAILY_METRIC_AUTOMATION,
    INTRADAY_FRESHNESS,
    WEEKLY_FRESHNESS,
    WEEKLY_METRIC_AUTOMATION,
)
from theletter_data.automation.selection import Cadence
from theletter_data.checks import log_failed_checks, run_table_checks, table_check_specs
from theletter_data.metrics.overview import Overview
from theletter_data.partitions import (
    FIRST_DAY,
    CurrentDay,
    current_day,
    daily_partitions,
    date_bounds,
    weekly_partitions,
)
from theletter_data.resources.warehouse import PartitionWrite, Warehouse
from theletter_data.retries import IO_RETRY_POLICY, fail_fast_on
from theletter_data.sizing import WAREHOUSE_POOL, WAREHOUSE_SQL
from theletter_data.tables import Table

AUTHOR_DASHBOARD = "team:creator-experience"
BUSINESS = "team:business"


@dataclass(frozen=True)
class Upstream:
    """A staged asset the metric reads, and how many days before the window it needs."""

    asset: dg.AssetsDefinition
    days_before: int = 0

    def dep(self) -> dg.AssetDep:
        mapping = (
            dg.TimeWindowPartitionMapping(start_offset=-self.days_before)
            if self.days_before
            else None
        )
        return dg.AssetDep(self.asset, partition_mapping=mapping)


def metric_asset(
    *,
    table: Table,
    sql: str,
    upstream: Sequence[Upstream],
    description: str,
    owner: str = AUTHOR_DASHBOARD,
    partitions_def: dg.TimeWindowPartitionsDefinition = daily_partitions,
    expected_rows_sql: str | None = None,
    overview: Overview | None = None,
) -> dg.AssetsDefinition:
    """A metric asset; `sql` selects the rows of [@start_date, @end_date) by partition column,
    `expected_rows_sql` the keys that must be among them (checked), `overview` what each
    materialization shows of the new rows in the UI. It brings itself up to date after its
    inputs (automation/policies.py)."""
    weekly = partitions_def is weekly_partitions
    lookback_days = max((u.days_before for u in upstream), default=0)

    @dg.asset(
        partitions_def=partitions_def,
        deps=[u.dep() for u in upstream],
        backfill_policy=dg.BackfillPolicy.single_run(),
        automation_condition=WEEKLY_METRIC_AUTOMATION if weekly else DAILY_METRIC_AUTOMATION,
        freshness_policy=WEEKLY_FRESHNESS if weekly else DAILY_FRESHNESS,
        tags=(Cadence.WEEKLY if weekly else Cadence.DAILY).tags,
        **_shape(table, sql, description, owner, expected_rows_sql),
    )
    def _asset(context: dg.AssetExecutionContext, warehouse: Warehouse) -> dg.MaterializeResult:
        start, end = date_bounds(context.partition_time_window)
        result, _ = _write(
            context, warehouse, table, sql, start, end, replace_from=start,
            expected_rows_sql=expected_rows_sql, lookback_days=lookback_days,
        )  # fmt: skip
        _add_partition_metadata(context, warehouse, table, partitions_def, start, end, overview)
        return result

    return _asset


def _add_partition_metadata(
    context: dg.AssetExecutionContext,
    warehouse: Warehouse,
    table: Table,
    partitions_def: dg.TimeWindowPartitionsDefinition,
    start: date,
    end: date,
    overview: Overview | None,
) -> None:
    """Each partition's materialization gets its own figures (rows, the overview of its day),
    not the run's: a backfill of a month in one run still shows and plots every day."""
    rows = warehouse.rows_per_day(table, start, end)
    days = overview(warehouse, start, end) if overview is not None else {}
    for key in context.partition_keys:
        first, last = date_bounds(partitions_def.time_window_for_partition_key(key))
        metadata = {
            "dagster/row_count": sum(n for day, n in rows.items() if first <= day < last),
            "window": f"[{first}, {last})",
            **days.get(first, {}),
        }
        context.add_asset_metadata(metadata, partition_key=key)


def current_day_metric_asset(
    *,
    table: Table,
    sql: str,
    upstream: Sequence[dg.AssetsDefinition],
    description: str,
    expected_rows_sql: str | None = None,
) -> dg.AssetsDefinition:
    """A metric of the current Japan-time day so far: the table holds that one day, rebuilt by
    every refresh (the intraday schedule) with the same SQL as its daily twin."""

    @dg.asset(
        deps=list(upstream),
        freshness_policy=INTRADAY_FRESHNESS,
        tags=Cadence.INTRADAY.tags,
        **_shape(table, sql, description, AUTHOR_DASHBOARD, expected_rows_sql),
    )
    def _asset(
        context: dg.AssetExecutionContext, config: CurrentDay, warehouse: Warehouse
    ) -> dg.MaterializeResult:
        day = current_day(config.day)
        result, rows = _write(
            context, warehouse, table, sql, day, day + timedelta(days=1), replace_from=FIRST,
            expected_rows_sql=expected_rows_sql,
        )  # fmt: skip
        # Unpartitioned: the run's figures are the table's.
        context.add_asset_metadata({"dagster/row_count": rows})
        return result

    return _asset


FIRST = date.fromisoformat(FIRST_DAY)


def _shape(
    table: Table, sql: str, description: str, owner: str, expected_rows_sql: str | None
) -> dict[str, object]:
    """What every metric asset declares alike."""
    return {
        "name": table.name,
        "group_name": "metrics",
        "description": description,
        "kinds": {"sql", "table"},
        "owners": [owner],
        "metadata": {
            **table.definition_metadata(),
            "sql": dg.MetadataValue.md(f"```sql\n{sql}\n```"),
        },
        "retry_policy": IO_RETRY_POLICY,
        "op_tags": WAREHOUSE_SQL.op_tags,
        "pool": WAREHOUSE_POOL,
        "check_specs": table_check_specs(
            table, table.name, expected_rows=expected_rows_sql is not None
        ),
    }


def _write(
    context: dg.AssetExecutionContext,
    warehouse: Warehouse,
    table: Table,
    sql: str,
    start: date,
    end: date,
    replace_from: date,
    expected_rows_sql: str | None,
    lookback_days: int = 0,
) -> tuple[dg.MaterializeResult, int]:
    """Compute [start, end) and make it the table's content from `replace_from` to `end`; the
    result holds the run's own metadata (its window as text, which the UI does not plot, and
    the warehouse cost) and the checks; and the rows written."""
    params = {"start_date": start, "end_date": end}
    with fail_fast_on(warehouse.permanent_errors()):
        written = warehouse.replace(
            [PartitionWrite(table, replace_from, end, query=sql, params=params)]
        )
        checks = run_table_checks(warehouse, table, start, end, expected_rows_sql, lookback_days)
    rows = written[table.qualified_name]
    context.log.info(f"{table.qualified_name} [{start}, {end}): {rows} rows")
    log_failed_checks(context, table, checks)
    metadata: dict[str, object] = {"run_window": f"[{start}, {end}): {rows} rows"}
    if (cost := warehouse.take_costs()) is not None:
        metadata.update(cost.metadata())
    return dg.MaterializeResult(metadata=metadata, check_results=checks), rows
