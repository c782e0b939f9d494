"""The embedded default warehouse: one DuckDB file, a schema per layer as BigQuery has datasets."""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from pathlib import Path

import dagster as dg
import duckdb
import pyarrow as pa
from pydantic import Field, PrivateAttr

from theletter_data.resources.duckdb_file import check_intact, file_faults, lock_holder
from theletter_data.resources.warehouse import PartitionWrite, Warehouse
from theletter_data.resources.writer_lock import RunIdentity, WriterLock
from theletter_data.retries import ENGINE_PERMANENT_ERRORS, retry_then_fail
from theletter_data.sql import to_duckdb
from theletter_data.tables import Table


class DuckDBWarehouse(Warehouse):
    """A DuckDB database file. One local run writes it at a time: a run takes the file's writer
    lock at its first statement and keeps it to its end (resources/writer_lock.py); other runs
    wait for it, without limit but interruptibly, and saying for whom. Another program holding
    DuckDB's own lock on the file (a BI tool, a notebook) is waited for only
    `lock_timeout_seconds`, and retried `lock_retries` times: worst case
    (lock_retries + 1) x lock_timeout_seconds + lock_retries x lock_retry_delay_seconds
    (200 s by default). A file that cannot be written, or is corrupt, fails at once.

    In a run the file stays open from the run's first statement to its end (`_anchor`): every
    statement's connection is then one more to the same open database, where opening the file
    (and checkpointing it as the last connection closed) cost 35-45 ms each time, 121 times in
    a 7-day `daily_refresh` of the demo's world. The run holds the file for its whole length,
    as it already held the writer lock; outside a run (`trace`, the demo's summary) each use
    opens and closes."""

    path: str = Field(description="Path of the DuckDB database file.")
    memory_limit: str = Field(
        default="2GB", description="DuckDB memory limit of the open file (all its connections)."
    )
    append_memory_limit: str = Field(
        default="256MB",
        description="Memory limit while appending streamed rows (staging): an append needs "
        "little, and the step's memory belongs to the ingestion engine producing the stream.",
    )
    metric_days: int = Field(
        default=84,
        ge=7,
        multiple_of=7,
        description="A metric's window longer than this many days is computed and written "
        "this many days at a time: DuckDB holds a statement's intermediate rows within "
        "`memory_limit`, and a year of a big platform in one statement does not fit (at the "
        "benchmark's year at scale 1, two metrics ran out of 2 GB). Each part reads the days "
        "before it that its metric looks back over (up to 97), so short parts read them "
        "again and again: the year's 13 metrics took 215 s in 28-day parts, 187 s in 84-day "
        "ones, the same rows, at a peak of 2.6 GB instead of 2.2. A multiple of 7 (whole "
        "weeks for weekly metrics).",
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
    _anchor: duckdb.DuckDBPyConnection | None = PrivateAttr(default=None)
    """In a run: a connection held open to its end, so that the database stays open (the
    file `_checked_inode` names: a file found replaced closes it first)."""

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        run = context.run
        if run is not None and context.instance is not None and not self.read_only:
            identity = RunIdentity(run.run_id, run.job_name, context.instance)
            self._writer = WriterLock(Path(self.path), identity)

    def teardown_after_execution(self, context: dg.InitResourceContext) -> None:
        self._close_anchor()  # before the writer lock goes: the next run opens the file at once
        if self._writer is not None:
            self._writer.release()

    @contextmanager
    def connect(self) -> Iterator[duckdb.DuckDBPyConnection]:
        path = Path(self.path)
        if self._anchor is not None and _inode(path) != self._checked_inode:
            self._close_anchor()  # the file was replaced or removed: open the one there now
        con = self._wait_and_open(path)
        ended = False
        try:
            with file_faults(path):
                inode = path.stat().st_ino
                if inode != self._checked_inode:  # once per file (its own writes keep it whole)
                    check_intact(con, path)
                    self._checked_inode = inode
                if self._writer is not None and self._anchor is None:
                    # The same open database as `con`, kept to the run's end.
                    self._anchor = duckdb.connect(str(path), config=self._config())
                con.execute("SET TimeZone = 'UTC'")
                yield con
                ended = True
        finally:
            con.close()
            if not ended:  # a failed statement may leave the database unusable: reopen it
                self._close_anchor()

    def _close_anchor(self) -> None:
        """Let the database close (DuckDB checkpoints it as its last connection closes)."""
        anchor, self._anchor = self._anchor, None
        if anchor is None:
            return
        try:
            anchor.close()
        except duckdb.Error as error:
            # What was committed is in the write-ahead log, applied when the file next opens.
            dg.get_dagster_logger().warning(
                f"Closing the warehouse {self.path} failed ({error}); its committed writes are "
                "in its write-ahead log and are applied when it is next opened."
            )

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
        with file_faults(path):
            while True:
                try:
                    return duckdb.connect(
                        str(path), read_only=self.read_only, config=self._config()
                    )
                except duckdb.IOException as error:
                    if "Could not set lock" not in str(error):
                        raise
                    holder = lock_holder(str(error))
                    if not told:
                        told = True
                        dg.get_dagster_logger().info(
                            f"Waiting up to {self.lock_timeout_seconds:.0f} s for DuckDB's lock "
                            f"on {path}: another process holds it ({holder})."
                        )
                    if time.monotonic() > deadline:
                        raise retry_then_fail(
                            f"The warehouse {path} is locked by another process ({holder}) and "
                            f"stayed locked for {self.lock_timeout_seconds:.0f} s: close that "
                            "program's connection to it (even a read-only one blocks writes), "
                            "or point the program at a copy; then re-run.",
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
        appending = all(write.rows is not None for write in writes)
        with self.connect() as con:
            if appending:
                # The database's setting, not the connection's: set back for what follows.
                con.execute(f"SET memory_limit = '{self.append_memory_limit}'")
            try:
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
            finally:
                if appending:  # a database a failure left unusable is closed (`connect`)
                    with suppress(duckdb.Error):
                        con.execute(f"SET memory_limit = '{self.memory_limit}'")
        return counts

    def metric_statement_days(self) -> int | None:
        return self.metric_days

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


def _inode(path: Path) -> int | None:
    try:
        return path.stat().st_ino
    except FileNotFoundError:
        return None


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
    name = write.table.qualified_name
    window = write.predicate(dialect="duckdb")
    columns = ", ".join(write.table.column_names)

    con.execute(f"DELETE FROM {name} WHERE {window}")
    if write.rows is not None:
        con.register("_incoming_rows", write.rows)
        try:
            con.execute(
                f"INSERT INTO {name} ({columns}) SELECT {columns} FROM _incoming_rows "
                f"WHERE {window}"
            )
        finally:
            con.unregister("_incoming_rows")
    else:
        assert write.query is not None
        con.execute(
            f"INSERT INTO {name} ({columns}) SELECT {columns} FROM ({to_duckdb(write.query)}) "
            f"AS _result WHERE {window}",
            dict(write.params),
        )
    return int(con.execute(f"SELECT COUNT(*) FROM {name} WHERE {window}").fetchall()[0][0])
