"""The next export snapshot projected while the current one is compared and written.

A snapshot's projection (its parquet read, pseudonyms and judging) keeps the engine's cores
busy; the counts, comparison and writes after it are small statements that leave a core of two
idle. So the next day's projection runs meanwhile in a second connection to the same engine
database (a DuckDB cursor, in a thread of its own) into `projected_ahead`, renamed `projected`
when its day comes. Its errors surface then, in the day's order, as if it had run in turn.
"""

from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor
from types import TracebackType
from typing import TYPE_CHECKING

import duckdb

from theletter_data.resources.ingest_engine import another_connection
from theletter_data.resources.lake import Lake
from theletter_data.resources.pseudonymizer import Pseudonymizer
from theletter_data.staging.export_snapshot import ExportSnapshot
from theletter_data.staging.known_newsletters import KnownNewsletters
from theletter_data.staging.snapshot_projection import project

if TYPE_CHECKING:
    from theletter_data.staging.snapshot_staging import AppExport

AHEAD = "projected_ahead"


class ProjectionAhead:
    """At most one projection ahead of the staging loop, in its own connection and thread."""

    def __init__(
        self,
        con: duckdb.DuckDBPyConnection,
        export: AppExport,
        lake: Lake,
        pseudonymizer: Pseudonymizer,
    ) -> None:
        self.export = export
        self.lake = lake
        self.pseudonymizer = pseudonymizer
        self._cursor = another_connection(con)
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="projection-ahead")
        self._pending: Future[None] | None = None

    def start(self, snapshot: ExportSnapshot, known: KnownNewsletters) -> None:
        """Begin projecting `snapshot` into `projected_ahead`."""
        if self._pending is not None:
            raise RuntimeError("a projection is already ahead")
        self._pending = self._pool.submit(
            project, self._cursor, self.export, snapshot, self.lake, known, self.pseudonymizer,
            into=AHEAD,
        )  # fmt: skip

    def take(self, con: duckdb.DuckDBPyConnection) -> None:
        """Wait for the projection started last (raising its error) and make it `projected`."""
        pending, self._pending = self._pending, None
        if pending is None:
            raise RuntimeError("no projection was started")
        pending.result()
        con.execute(f"ALTER TABLE {AHEAD} RENAME TO projected")

    def __enter__(self) -> ProjectionAhead:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        """A projection still running ends before the engine's connection may close."""
        self._pool.shutdown(wait=True)
        self._cursor.close()
