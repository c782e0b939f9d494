"""The warehouse interface: BigQuery in production, a DuckDB file by default.

Assets talk only to this interface. Every write replaces whole partitions inside one transaction,
so a re-run or a backfill of any window gives the same table and never duplicates rows.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date

import dagster as dg
import pyarrow as pa
from sqlglot import exp

from theletter_data.tables import Table

Rows = pa.Table | pa.RecordBatchReader


@dataclass
class QueryCost:
    """What warehouse jobs scanned: estimated by dry runs, then billed."""

    estimated_bytes: int = 0
    billed_bytes: int = 0

    def add(self, other: QueryCost) -> None:
        self.estimated_bytes += other.estimated_bytes
        self.billed_bytes += other.billed_bytes

    def metadata(self) -> dict[str, object]:
        return {
            "warehouse/estimated_bytes": self.estimated_bytes,
            "warehouse/billed_bytes": self.billed_bytes,
            "warehouse/billed_gib": round(self.billed_bytes / 2**30, 3),
        }


@dataclass(frozen=True)
class PartitionWrite:
    """Replace the rows of `table` whose partition column lies in [start, end) (and that match
    `scope`, for tables several writers share) with `rows`, or with the result of `query`."""

    table: Table
    start: date
    end: date
    rows: Rows | None = None
    query: str | None = None
    """A BigQuery-dialect SELECT that yields the table's columns by name."""
    params: Mapping[str, object] = field(default_factory=dict)
    scope: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if (self.rows is None) == (self.query is None):
            raise ValueError("a PartitionWrite takes exactly one of rows or query")
        if self.end <= self.start:
            raise ValueError(f"empty window [{self.start}, {self.end})")
        unknown = set(self.scope) - set(self.table.column_names)
        if unknown:
            raise ValueError(f"scope columns not in {self.table.qualified_name}: {unknown}")

    def predicate(self, qualifier: str = "", dialect: str = "bigquery") -> str:
        """The rows this write replaces, as a SQL condition on columns named `<qualifier>column`.
        Its bounds and scope are literals (dates and stream names, rendered by sqlglot): a
        BigQuery transaction's statements share one parameter namespace, and the emulator binds
        no parameters inside a script."""
        column = self.table.partition_by
        parts = [
            f"{column} >= {_literal(self.start, dialect)}",
            f"{column} < {_literal(self.end, dialect)}",
            *(f"{name} = {_literal(value, dialect)}" for name, value in sorted(self.scope.items())),
        ]
        return " AND ".join(f"{qualifier}{part}" for part in parts)


def _literal(value: object, dialect: str) -> str:
    return exp.convert(value).sql(dialect=dialect)


class Warehouse(dg.ConfigurableResource, ABC):
    """Where staged and metric tables live; tables are named `layer.table` in all SQL."""

    @abstractmethod
    def replace(self, writes: Sequence[PartitionWrite]) -> dict[str, int]:
        """Apply all writes atomically; return the rows now in each written window."""

    @abstractmethod
    def query(self, sql: str, params: Mapping[str, object] | None = None) -> pa.Table:
        """Run one BigQuery-dialect SELECT (parameters as `@name`) and return its rows."""

    @abstractmethod
    def create_table(self, table: Table) -> None:
        """Create `table` (and its layer) if it does not exist, for a read before any write."""

    @abstractmethod
    def has_table(self, table: Table) -> bool:
        """Whether `table` exists yet (a table is created by its first write): a reader of a
        table that nothing has written, such as the weekly cohorts before any week ended, can
        tell "nothing measured yet" from an error."""

    @abstractmethod
    def permanent_errors(self) -> tuple[type[BaseException], ...]:
        """Exceptions that retrying cannot fix (bad SQL, a missing table): fail at once."""

    def rows_per_day(self, table: Table, start: date, end: date) -> dict[date, int]:
        """Rows of each partition day in [start, end) that has any."""
        column = table.partition_by
        rows = self.query(
            f"SELECT {column} AS day, COUNT(*) AS n FROM {table.qualified_name} "
            f"WHERE {column} >= @start_date AND {column} < @end_date GROUP BY day",
            {"start_date": start, "end_date": end},
        ).to_pylist()
        return {row["day"]: int(row["n"]) for row in rows}

    def metric_statement_days(self) -> int | None:
        """The most days one metric statement computes: a longer window is computed and
        written in consecutive parts of this many days (a multiple of 7, so that a weekly
        metric's parts are whole weeks); None: any window in one statement."""
        return None

    def take_costs(self) -> QueryCost | None:
        """Bytes estimated and billed since the last call, where queries are billed by bytes
        (None for an engine that bills nothing)."""
        return None
