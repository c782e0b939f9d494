"""Warehouse table specifications: one declaration per table gives its table on every engine
(DuckDB DDL, BigQuery's partitioned and clustered table), its column schema in the Dagster UI,
its Arrow schema for loads, and its generic data-quality checks.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import dagster as dg
import pyarrow as pa

# BigQuery standard SQL type -> (DuckDB type, Arrow type). BigQuery is the source dialect.
_TYPES: dict[str, tuple[str, pa.DataType]] = {
    "STRING": ("VARCHAR", pa.string()),
    "INT64": ("BIGINT", pa.int64()),
    "FLOAT64": ("DOUBLE", pa.float64()),
    "BOOL": ("BOOLEAN", pa.bool_()),
    "DATE": ("DATE", pa.date32()),
    "TIMESTAMP": ("TIMESTAMPTZ", pa.timestamp("us", tz="UTC")),
}


@dataclass(frozen=True)
class Column:
    name: str
    type: str
    description: str
    required: bool = True
    """Required columns hold no NULLs. An asset check says so, not the DDL: a load never fails
    half-way on one bad row, and the check names the problem instead."""
    accepted_values: tuple[str, ...] = ()
    """When set, the only values the column may hold (checked)."""
    signed: bool = False
    """INT64 columns are counts, checked non-negative, unless signed (e.g. a net change)."""

    def __post_init__(self) -> None:
        if self.type not in _TYPES:
            raise ValueError(f"column {self.name}: unknown type {self.type!r}")

    @property
    def duckdb_type(self) -> str:
        return _TYPES[self.type][0]


@dataclass(frozen=True)
class Table:
    """A partitioned warehouse table: `layer.name`, one date column deciding the partition."""

    layer: str
    name: str
    grain: str
    columns: tuple[Column, ...]
    partition_by: str
    key: tuple[str, ...]
    cluster_by: tuple[str, ...] = ()
    rate_columns: tuple[str, ...] = field(default=())
    """Columns holding a share in [0, 1] (checked)."""

    def __post_init__(self) -> None:
        names = self.column_names
        for name in (self.partition_by, *self.key, *self.cluster_by, *self.rate_columns):
            if name not in names:
                raise ValueError(f"{self.qualified_name}: {name!r} is not a column")
        if self.column(self.partition_by).type != "DATE":
            raise ValueError(f"{self.qualified_name}: partition column must be a DATE")

    @property
    def qualified_name(self) -> str:
        return f"{self.layer}.{self.name}"

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)

    def column(self, name: str) -> Column:
        return next(c for c in self.columns if c.name == name)

    @property
    def arrow_schema(self) -> pa.Schema:
        return pa.schema([pa.field(c.name, _TYPES[c.type][1]) for c in self.columns])

    def duckdb_ddl(self, qualified_name: str) -> str:
        columns = ", ".join(f"{c.name} {c.duckdb_type}" for c in self.columns)
        return f"CREATE TABLE IF NOT EXISTS {qualified_name} ({columns})"

    @property
    def column_schema(self) -> dg.TableSchema:
        return dg.TableSchema(
            columns=[
                dg.TableColumn(
                    name=c.name,
                    type=c.type,
                    description=c.description,
                    constraints=dg.TableColumnConstraints(nullable=not c.required),
                )
                for c in self.columns
            ],
            constraints=dg.TableConstraints(other=[f"unique key: ({', '.join(self.key)})"]),
        )

    def definition_metadata(self) -> dict[str, object]:
        """Static metadata the UI shows before anything ran: table name, grain and columns."""
        return {
            "dagster/table_name": self.qualified_name,
            "dagster/column_schema": self.column_schema,
            "grain": self.grain,
            "partitioned_by": self.partition_by,
        }
