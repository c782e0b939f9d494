"""The embedded default warehouse: one DuckDB file, a schema per layer as BigQuery has datasets."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path

import dagster as dg
import duckdb
import pyarrow as pa
from pydantic import Field, PrivateAttr

from theletter_data.resources.warehouse import PartitionWrite, Warehouse
from theletter_data.resources.writer_lock import RunIdentity, WriterLock
from theletter_data.retries import ENGINE_PERMANENT_ERRORS, retry_then_fail
from theletter_data.sql import to_duckdb
from theletter_data.tables import Table

HEADER_BYTES = 3 * 4096
"""A DuckDB file starts with three 4 KiB headers, then its blocks (block i at
HEADER_BYTES + i x block_size)."""

_HOLDER = re.compile(r"Conflicting lock is held in (?P<program>.+?) \(PID (?P<pid>\d+)\)")
_NOT_WRITABLE = ("Permission denied", "Operation not permitted", "Read-only file system")
_CORRUPT = (
    "not a valid DuckDB database",
    "Could not read enough bytes",
    "Corrupt database file",
    "checksum",
)
_FILE_IN_MESSAGE = re.compile(r'file "(?P<file>[^"]+)"')


class DuckDBWarehouse(Warehouse):
    """A DuckDB database file. One local run writes it at a time: a run takes the file's writer
    lock at its first statement and keeps it to its end (resources/writer_lock.py); other runs
    wait for it, without limit but interruptibly, and saying for whom. Another program holding
    DuckDB's own lock on the file (a BI tool, a notebook) is waited for only
    `lock_timeout_seconds`, and retried `lock_retries` times: worst case
    (lock_retries + 1) x lock_timeout_seconds + lock_retries x lock_retry_delay_seconds
    (200 s by default). A file that cannot be written, or is corrupt, fails at once."""

    path: str = Field(description="Path of the DuckDB database file.")
    memory_limit: str = Field(default="2GB", description="DuckDB memory limit per connection.")
    append_memory_limit: str = Field(
        default="256MB",
        description="Memory limit while appending streamed rows (staging): an append needs "
        "little, and the step's memory belongs to the ingestion engine producing the stream.",
    )
    lock_timeout_seconds: float = Field(
        default=60,
        description="How long to wait for DuckDB's lock on the file while another program "
        "(a BI tool, a notebook, `theletter-data trace`) holds it.",
    )
    lock_retries: int = Field(
        default=2, description="How many times a step retries after such a wait timed out."
    )
    lock_retry_delay_seconds: float = Field(
        default=10, description="Pause before each of those retries."
    )
    read_only: bool = Field(
        default=False,
        description="Open the file read-only, and never create it (readers: `trace`).",
    )

    _writer: WriterLock | None = PrivateAttr(default=None)
    _checked_inode: int | None = PrivateAttr(default=None)
    _stopped: str | None = PrivateAttr(default=None)

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        run = context.run
        if run is not None and context.instance is not None and not self.read_only:
            identity = RunIdentity(run.run_id, run.job_name, context.instance)
            self._writer = WriterLock(Path(self.path), identity)

    def teardown_after_execution(self, context: dg.InitResourceContext) -> None:
        if self._writer is not None:
            self._writer.release()

    @contextmanager
    def connect(self) -> Iterator[duckdb.DuckDBPyConnection]:
        path = Path(self.path)
        con = self._wait_and_open(path)
        try:
            inode = path.stat().st_ino
            if inode != self._checked_inode:  # once per file (its own writes keep it whole)
                _check_intact(con, path)
                self._checked_inode = inode
            con.execute("SET TimeZone = 'UTC'")
            yield con
        except (duckdb.IOException, duckdb.TransactionException) as error:
            fault = _file_fault(path, error)  # a commit fails when the log cannot be written
            if fault is None:
                raise
            raise fault from error
        finally:
            con.close()

    def _wait_and_open(self, path: Path) -> duckdb.DuckDBPyConnection:
        """In a run, wait for the run writing the warehouse, if any; then open the file."""
        if self.read_only and not path.exists():
            raise dg.Failure(
                description=f"No warehouse at {path}: THELETTER_DATA_DIR points at a folder "
                "without one. Set THELETTER_DATA_DIR to the data folder (default `data`), or "
                "build a warehouse there with `theletter-data demo`.",
                allow_retries=False,
            )
        if self._stopped is not None:  # stopped while waiting: the run's later steps too
            raise dg.Failure(description=self._stopped, allow_retries=False)
        try:
            if self._writer is not None:
                self._writer.acquire()
            elif not self.read_only:
                path.parent.mkdir(parents=True, exist_ok=True)
            return self._open(path)
        except (KeyboardInterrupt, dg.DagsterExecutionInterruptedError) as interrupt:
            # Not retried: Dagster retries an interrupted step under its retry policy (meant
            # for preempted containers), and a local run would simply wait again.
            waited_for = (
                f"the warehouse {path}, which another run writes"
                if self._writer is not None and not self._writer.held
                else f"DuckDB's lock on {path}, which another program holds"
            )
            self._stopped = f"Stopped (Ctrl-C or SIGTERM) while waiting for {waited_for}."
            raise dg.Failure(description=self._stopped, allow_retries=False) from interrupt

    def _open(self, path: Path) -> duckdb.DuckDBPyConnection:
        """Connect, waiting up to `lock_timeout_seconds` for another program's lock."""
        deadline = time.monotonic() + self.lock_timeout_seconds
        delay = 0.05
        told = False
        while True:
            try:
                return duckdb.connect(str(path), read_only=self.read_only, config=self._config())
            except duckdb.IOException as error:
                if "Could not set lock" not in str(error):
                    fault = _file_fault(path, error)
                    if fault is None:
                        raise
                    raise fault from error
                holder = _holder(str(error))
                if not told:
                    told = True
                    dg.get_dagster_logger().info(
                        f"Waiting up to {self.lock_timeout_seconds:.0f} s for DuckDB's lock on "
                        f"{path}: another process holds it ({holder})."
                    )
                if time.monotonic() > deadline:
                    raise retry_then_fail(
                        f"The warehouse {path} is locked by another process ({holder}) and "
                        f"stayed locked for {self.lock_timeout_seconds:.0f} s: close that "
                        "program's connection to it (even a read-only one blocks writes), or "
                        "point the program at a copy; then re-run.",
                        max_retries=self.lock_retries,
                        seconds_to_wait=self.lock_retry_delay_seconds,
                    ) from error
                time.sleep(delay)
                delay = min(delay * 2, 2.0)

    def _config(self) -> dict[str, str | bool]:
        # Tables are sets: letting DuckDB write and read them in any order parallelises inserts.
        return {"memory_limit": self.memory_limit, "preserve_insertion_order": False}

    def replace(self, writes: Sequence[PartitionWrite]) -> dict[str, int]:
        counts: dict[str, int] = {}
        with self.connect() as con:
            if all(write.rows is not None for write in writes):
                con.execute(f"SET memory_limit = '{self.append_memory_limit}'")
            for write in writes:
                _create_or_extend(con, write.table)
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
            _create_or_extend(con, table)

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


def _create_or_extend(con: duckdb.DuckDBPyConnection, table: Table) -> None:
    """Create the table, or add the columns its declaration gained (NULL in older rows): an
    additive change reaches a warehouse that already holds the table."""
    con.execute(f"CREATE SCHEMA IF NOT EXISTS {table.layer}")
    con.execute(table.duckdb_ddl(table.qualified_name))
    have = {
        name
        for (name,) in con.execute(
            "SELECT column_name FROM information_schema.columns "
            "WHERE table_schema = $layer AND table_name = $name",
            {"layer": table.layer, "name": table.name},
        ).fetchall()
    }
    for column in table.columns:
        if column.name not in have:
            con.execute(
                f"ALTER TABLE {table.qualified_name} ADD COLUMN {column.name} {column.duckdb_type}"
            )


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


def _check_intact(con: duckdb.DuckDBPyConnection, path: Path) -> None:
    """Refuse a file shorter than the blocks it uses (a truncated copy, a full disk): DuckDB
    opens one and reads the missing blocks only when a query needs them, so a run would write
    into it and lose what the missing blocks held. Reads only the catalog's block lists."""
    ((block_size,),) = con.sql(
        "SELECT block_size FROM pragma_database_size() WHERE database_name = current_database()"
    ).fetchall()
    used = [
        con.execute("SELECT max(block_id) FROM pragma_metadata_info()").fetchall()[0][0],
        *(
            con.execute(
                "SELECT max(greatest(block_id, coalesce(list_max(additional_block_ids), -1))) "
                "FROM pragma_storage_info($table)",
                {"table": f'"{schema}"."{table}"'},
            ).fetchall()[0][0]
            for schema, table in con.execute(
                "SELECT schema_name, table_name FROM duckdb_tables() "
                "WHERE database_name = current_database()"
            ).fetchall()
        ),
    ]
    highest = max((block for block in used if block is not None), default=-1)
    needed = HEADER_BYTES + int(block_size) * (highest + 1)
    actual = path.stat().st_size
    if actual < needed:
        raise _corrupt(path, f"truncated: {actual:,} bytes, its blocks need {needed:,}")


def _file_fault(path: Path, error: duckdb.Error) -> dg.Failure | None:
    """The permanent failure an I/O error of DuckDB stands for, if it is one."""
    message = str(error)
    if isinstance(error, duckdb.IOException) and any(marker in message for marker in _CORRUPT):
        return _corrupt(path, message.removeprefix("IO Error: "))
    reason = next((marker for marker in _NOT_WRITABLE if marker in message), None)
    if reason is None:
        return None
    named = _FILE_IN_MESSAGE.search(message)
    file = named.group("file") if named else str(path)
    return dg.Failure(
        description=f"The warehouse file {file} is not writable ({reason}): make it and its "
        "folder writable for the user running Dagster (permissions, `chattr -i`, a read-only "
        "mount), or set THELETTER_DATA_DIR to a writable folder.",
        allow_retries=False,
    )


def _corrupt(path: Path, detail: str) -> dg.Failure:
    return dg.Failure(
        description=f"The warehouse file {path} is corrupt ({detail}); nothing was written to "
        f"it. Restore it from a backup, or delete it (and {path.name}.wal if present) and "
        "re-run the days to rebuild it from the lake.",
        allow_retries=False,
    )


def _holder(message: str) -> str:
    found = _HOLDER.search(message)
    return f"{found.group('program')}, PID {found.group('pid')}" if found else "unknown program"
