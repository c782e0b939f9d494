"""What can be wrong with the DuckDB warehouse file, as the failure a run stops with: truncated,
corrupt or not writable (permanent: retrying cannot mend a file), or locked by another program
(named, so that its user can close it). The warehouse (duckdb_warehouse.py) decides the waiting.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import dagster as dg
import duckdb

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


@contextmanager
def file_faults(path: Path) -> Iterator[None]:
    """Raise DuckDB's I/O errors that stand for a corrupt or unwritable file at `path` as a
    permanent failure that says what to do (a commit fails when the log cannot be written);
    let every other error pass."""
    try:
        yield
    except (duckdb.IOException, duckdb.TransactionException) as error:
        fault = _file_fault(path, error)
        if fault is None:
            raise
        raise fault from error


def check_intact(con: duckdb.DuckDBPyConnection, path: Path) -> None:
    """Refuse a file shorter than the blocks it uses (a truncated copy, a full disk): DuckDB
    opens one and reads the missing blocks only when a query needs them, so a run would write
    into it and lose what the missing blocks held. A file holding every block its header counts
    is whole (every used block is one of them); only a shorter one (DuckDB also leaves one
    when it drops free blocks at the end) has its catalog's block lists read, which took 0.8 s
    on the benchmark's 365 days of history (36M staged rows)."""
    ((block_size, total_blocks),) = con.sql(
        "SELECT block_size, total_blocks FROM pragma_database_size() "
        "WHERE database_name = current_database()"
    ).fetchall()
    actual = path.stat().st_size
    if actual >= HEADER_BYTES + int(block_size) * int(total_blocks):
        return
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
    if actual < needed:
        raise _corrupt(path, f"truncated: {actual:,} bytes, its blocks need {needed:,}")


def lock_holder(message: str) -> str:
    """The program and pid that DuckDB's "Could not set lock" error names."""
    found = _HOLDER.search(message)
    return f"{found.group('program')}, PID {found.group('pid')}" if found else "unknown program"


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
