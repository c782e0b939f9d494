"""The embedded default warehouse: one DuckDB file, a schema per layer as BigQuery has datasets."""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path

import duckdb
import pyarrow as pa
from pydantic import Field

from theletter_data.resources.warehouse import PartitionWrite, Warehouse
from theletter_data.retries import ENGINE_PERMANENT_ERRORS
from theletter_data.sql import to_duckdb
from theletter_data.tables import Table


class DuckDBWarehouse(Warehouse):
    """A DuckDB database file. DuckDB lets one process write at a time, so concurrent steps wait
    for the file lock (up to `lock_timeout_seconds`) instead of failing."""

    path: str = Field(description="Path of the DuckDB database file.")
    memory_limit: str = Field(default="2GB", description="DuckDB memory limit per connection.")
    append_memory_limit: str = Field(
        default="256MB",
        description="Memory limit while appending streamed rows (staging): an append needs "
        "little, and the step's memory belongs to the ingestion engine producing the stream.",
    )
    lock_timeout_seconds: float = Field(
        default=900, description="How long to wait for the file lock."
    )

    @contextmanager
    def connect(self) -> Iterator[duckdb.DuckDBPyConnection]:
        Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        deadline = time.monotonic() + self.lock_timeout_seconds
        delay = 0.05
        while True:
            try:
                con = duckdb.connect(self.path, config=self._config())
                break
            except duckdb.IOException as error:
                if "lock" not in str(error).lower() or time.monotonic() > deadline:
                    raise
                time.sleep(delay)
                delay = min(delay * 2, 2.0)
        try:
            con.execute("SET TimeZone = 'UTC'")
            yield con
        finally:
            con.close()

    def _config(self) -> dict[str, str | bool]:
        # Tables are sets: letting DuckDB write and read them in any order parallelises inserts.
        return {"memory_limit": self.memory_limit, "preserve_insertion_order": False}

    def replace(self, writes: Sequence[PartitionWrite]) -> dict[str, int]:
        counts: dict[str, int] = {}
        with self.connect() as con:
            if all(write.rows is not None for write in writes):
                con.execute(f"SET memory_limit = '{self.append_memory_limit}'")
            for write in writes:
                con.execute(f"CREATE SCHEMA IF NOT EXISTS {write.table.layer}")
                con.execute(write.table.duckdb_ddl(write.table.qualified_name))
            con.execute("BEGIN TRANSACTION")
            try:
                for write in writes:
                    counts[write.table.qualified_name] = _replace_one(con, write)
                con.execute("COMMIT")
            except BaseException:
                con.execute("ROLLBACK")
                raise
        return counts

    def create_table(self, table: Table) -> None:
        with self.connect() as con:
            con.execute(f"CREATE SCHEMA IF NOT EXISTS {table.layer}")
            con.execute(table.duckdb_ddl(table.qualified_name))

    def permanent_errors(self) -> tuple[type[BaseException], ...]:
        return ENGINE_PERMANENT_ERRORS

    def has_table(self, table: Table) -> bool:
        with self.connect() as con:
            (found,) = con.execute(
                "SELECT COUNT(*) FROM information_schema.tables "
                "WHERE table_schema = $layer AND table_name = $name",
                {"layer": table.layer, "name": table.name},
            ).fetchone() or (0,)
        return bool(found)

    def query(self, sql: str, params: Mapping[str, object] | None = None) -> pa.Table:
        with self.connect() as con:
            return con.sql(to_duckdb(sql), params=dict(params or {})).to_arrow_table()


def _replace_one(con: duckdb.DuckDBPyConnection, write: PartitionWrite) -> int:
    table = write.table
    name = table.qualified_name
    window = {"_window_start": write.start, "_window_end": write.end}
    predicate = f"{table.partition_by} >= $_window_start AND {table.partition_by} < $_window_end"
    for i, (column, value) in enumerate(sorted(write.scope.items())):
        predicate += f" AND {column} = $_scope_{i}"
        window[f"_scope_{i}"] = value
    columns = ", ".join(table.column_names)

    con.execute(f"DELETE FROM {name} WHERE {predicate}", window)
    if write.rows is not None:
        con.register("_incoming_rows", write.rows)
        try:
            con.execute(
                f"INSERT INTO {name} ({columns}) SELECT {columns} FROM _incoming_rows "
                f"WHERE {predicate}",
                window,
            )
        finally:
            con.unregister("_incoming_rows")
    else:
        assert write.query is not None
        con.execute(
            f"INSERT INTO {name} ({columns}) SELECT {columns} FROM ({to_duckdb(write.query)}) "
            f"AS _result WHERE {predicate}",
            {**write.params, **window},
        )
    return int(
        con.execute(f"SELECT COUNT(*) FROM {name} WHERE {predicate}", window).fetchall()[0][0]
    )
