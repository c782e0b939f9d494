"""The asset shape of every metric table: one BigQuery-dialect SELECT that computes the rows of
a date window from staged tables, written by replacing exactly that window, then checked.

A metric is one declaration, `metric_asset(...)` in a module of its own whose docstring defines
the metric for the people who read it: its `Table`, the assets it reads (and how many days
before the window), the constants its SQL names as parameters, its owner, its partitions, what
the UI shows of each partition, and the section of the authors' dashboard that shows it. Its
SELECT is `sql/<table name>.sql`; `sql/<table name>.expected_rows.sql`, if there, selects the
keys that must be among its rows (a blocking check). A part that several metrics' SQL need
alike is written once in `sql/shared/` and put in where a statement says
`/* include shared/<name>.sql */` (`read_statement`): subscriptions as of a day, for one.
"""

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

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
from theletter_data.metrics.parameters import STANDARD, WINDOW, bind, check_declared_are_used
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
from theletter_data.serving.registry import register
from theletter_data.serving.sections import DashboardSection
from theletter_data.sizing import WAREHOUSE_POOL, WAREHOUSE_SQL
from theletter_data.sql import with_shared_parts, with_tables
from theletter_data.tables import Table

SQL_DIR = Path(__file__).parent / "sql"
AUTHOR_DASHBOARD = "team:creator-experience"
BUSINESS = "team:business"


def read_statement(file: str) -> str:
    """`sql/<file>` as it is sent to the warehouse: its shared parts (`sql/shared/`) put in."""
    return with_shared_parts((SQL_DIR / file).read_text(), SQL_DIR)


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


@dataclass(frozen=True)
class MetricCheck:
    """A check of the metric's own besides its table's, evaluated in the asset's step over the
    window just written: `evaluate(warehouse, start, end)`."""

    name: str
    description: str
    evaluate: Callable[[Warehouse, date, date], dg.AssetCheckResult]
    blocking: bool = False

    def spec(self, asset: str) -> dg.AssetCheckSpec:
        return dg.AssetCheckSpec(
            self.name, asset=asset, blocking=self.blocking, description=self.description
        )


@dataclass(frozen=True)
class MetricSql:
    """A metric's SELECT and its expected-rows SELECT, with the constants they name."""

    name: str
    select: str
    expected_rows: str | None
    constants: Mapping[str, object]
    """The standard parameters (`@timezone`) and the metric's declared ones."""

    @classmethod
    def read(
        cls, name: str, params: Mapping[str, object], reading: Mapping[str, str] | None = None
    ) -> "MetricSql":
        """`sql/<name>.sql` (and `<name>.expected_rows.sql`), reading other tables if asked
        (`with_tables`); every parameter they name must be declared, and every declared one
        named: a constant is written once, in Python."""
        if clash := sorted(set(params) & {*STANDARD, *WINDOW}):
            raise ValueError(f"{name}: {clash} are standard parameters, not the metric's own")
        statements = {f"{name}.sql": read_statement(f"{name}.sql")}
        if (expected := SQL_DIR / f"{name}.expected_rows.sql").exists():
            statements[expected.name] = read_statement(expected.name)
        if reading:
            statements = {k: with_tables(v, reading) for k, v in statements.items()}
        sql = cls(
            name=name,
            select=statements[f"{name}.sql"],
            expected_rows=statements.get(expected.name),
            constants={**STANDARD, **params},
        )
        for file, text in statements.items():
            sql.bind(text, start=date.min, end=date.max, what=f"metrics/sql/{file}")
        check_declared_are_used(params, statements, what=f"metric {name}")
        return sql

    def bind(self, sql: str, start: date, end: date, what: str = "") -> dict[str, object]:
        window = dict(zip(WINDOW, (start, end), strict=True))
        return bind(sql, {**window, **self.constants}, what=what or f"metric {self.name}")


def metric_asset(
    *,
    table: Table,
    upstream: Sequence[Upstream],
    description: str,
    owner: str = AUTHOR_DASHBOARD,
    partitions_def: dg.TimeWindowPartitionsDefinition = daily_partitions,
    params: Mapping[str, object] | None = None,
    overview: Overview | None = None,
    section: DashboardSection | None = None,
    checks: Sequence[MetricCheck] = (),
) -> dg.AssetsDefinition:
    """A metric asset: `sql/<table name>.sql` selects the rows of [@start_date, @end_date) by
    partition column, naming `params` (constants, e.g. `{"funnel_days": FUNNEL_DAYS}`) and
    `@timezone` as parameters; `overview`: what each materialization shows of the new rows in
    the UI; `section`: the part of the authors' dashboard documents that shows it; `checks`: its
    own checks besides its table's. It brings itself up to date after its inputs
    (automation/policies.py)."""
    sql = MetricSql.read(table.name, params or {})
    weekly = partitions_def is weekly_partitions
    lookback_days = max((u.days_before for u in upstream), default=0)

    @dg.asset(
        partitions_def=partitions_def,
        deps=[u.dep() for u in upstream],
        backfill_policy=dg.BackfillPolicy.single_run(),
        automation_condition=WEEKLY_METRIC_AUTOMATION if weekly else DAILY_METRIC_AUTOMATION,
        freshness_policy=WEEKLY_FRESHNESS if weekly else DAILY_FRESHNESS,
        tags=(Cadence.WEEKLY if weekly else Cadence.DAILY).tags,
        **_shape(table, sql, description, owner, checks),
    )
    def _asset(context: dg.AssetExecutionContext, warehouse: Warehouse) -> dg.MaterializeResult:
        start, end = date_bounds(context.partition_time_window)
        result, _ = _write(
            context, warehouse, table, sql, start, end, replace_from=start,
            lookback_days=lookback_days, checks=checks,
        )  # fmt: skip
        _add_partition_metadata(context, warehouse, table, partitions_def, start, end, overview)
        return result

    if section is not None:
        register(section, _asset, table, partitions_def)
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
    same_as: Table,
    reading: Mapping[str, str],
    upstream: Sequence[dg.AssetsDefinition],
    description: str,
    params: Mapping[str, object] | None = None,
) -> dg.AssetsDefinition:
    """A metric of the current Japan-time day so far: the table holds that one day, rebuilt by
    every refresh (the intraday schedule) with the SQL of its daily twin `same_as`, reading the
    current-day tables instead (`reading`: `layer.table` -> `layer.table`)."""
    sql = MetricSql.read(same_as.name, params or {}, reading)

    @dg.asset(
        deps=list(upstream),
        freshness_policy=INTRADAY_FRESHNESS,
        tags=Cadence.INTRADAY.tags,
        **_shape(table, sql, description, AUTHOR_DASHBOARD),
    )
    def _asset(
        context: dg.AssetExecutionContext, config: CurrentDay, warehouse: Warehouse
    ) -> dg.MaterializeResult:
        day = current_day(config.day)
        result, rows = _write(
            context, warehouse, table, sql, day, day + timedelta(days=1), replace_from=FIRST
        )
        # Unpartitioned: the run's figures are the table's.
        context.add_asset_metadata({"dagster/row_count": rows})
        return result

    return _asset


FIRST = date.fromisoformat(FIRST_DAY)


def statement_windows(start: date, end: date, days: int | None) -> list[tuple[date, date]]:
    """[start, end) in consecutive parts of at most `days` days (one part when None)."""
    if days is None:
        return [(start, end)]
    parts = [(start, min(start + timedelta(days=days), end))]
    while parts[-1][1] < end:
        first = parts[-1][1]
        parts.append((first, min(first + timedelta(days=days), end)))
    return parts


def _shape(
    table: Table,
    sql: MetricSql,
    description: str,
    owner: str,
    checks: Sequence[MetricCheck] = (),
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
            "sql": dg.MetadataValue.md(f"```sql\n{sql.select}\n```"),
            "sql_file": f"metrics/sql/{sql.name}.sql",
            "sql_parameters": dg.MetadataValue.json(dict(sql.constants)),
        },
        "retry_policy": IO_RETRY_POLICY,
        "op_tags": WAREHOUSE_SQL.op_tags,
        "pool": WAREHOUSE_POOL,
        "check_specs": [
            *table_check_specs(table, table.name, expected_rows=sql.expected_rows is not None),
            *(check.spec(table.name) for check in checks),
        ],
    }


def _write(
    context: dg.AssetExecutionContext,
    warehouse: Warehouse,
    table: Table,
    sql: MetricSql,
    start: date,
    end: date,
    replace_from: date,
    lookback_days: int = 0,
    checks: Sequence[MetricCheck] = (),
) -> tuple[dg.MaterializeResult, int]:
    """Compute [start, end) and make it the table's content from `replace_from` to `end`, in
    parts as long as the warehouse computes in one statement (each part its own write: a
    failure leaves the parts before it written, and the step's retry or re-run writes them
    again, alike); the result holds the run's own metadata (its window as text, which the UI
    does not plot, and the warehouse cost) and the checks; and the rows written."""
    expected = sql.expected_rows
    # The checks bind the window themselves; the expected rows' own constants come from here.
    constants = {
        k: v for k, v in sql.bind(expected, start, end).items() if k not in WINDOW
    } if expected else {}  # fmt: skip
    with fail_fast_on(warehouse.permanent_errors()):
        rows, parts = 0, statement_windows(start, end, warehouse.metric_statement_days())
        for first, last in parts:
            params = sql.bind(sql.select, first, last)
            since = replace_from if first == start else first
            written = warehouse.replace(
                [PartitionWrite(table, since, last, query=sql.select, params=params)]
            )
            rows += written[table.qualified_name]
        results = run_table_checks(
            warehouse, table, start, end, expected, lookback_days, expected_rows_params=constants
        )
        results += [check.evaluate(warehouse, start, end) for check in checks]
    context.log.info(f"{table.qualified_name} [{start}, {end}): {rows} rows")
    log_failed_checks(context, table, results)
    metadata: dict[str, object] = {
        "run_window": f"[{start}, {end}): {rows} rows",
        "run_statements": len(parts),
    }
    if (cost := warehouse.take_costs()) is not None:
        metadata.update(cost.metadata())
    return dg.MaterializeResult(metadata=metadata, check_results=results), rows
