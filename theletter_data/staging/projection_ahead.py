"""The next export snapshots projected while the current one is compared and written.

A snapshot's projection (its parquet read, pseudonyms and judging) is mostly one thread's work:
an export file of one row group is read by one thread, and the counts, comparison and writes
after it are small statements. So the next days' projections run meanwhile, each in a
connection of its own to the same engine database (a DuckDB cursor, in a thread of its own),
into `projected_ahead_<slot>`, renamed `projected` when its day comes. Their errors surface
then, in the days' order, as if they had run in turn.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
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

DEPTH = 2
"""Projections ahead of the staging loop: with the loop's own statements, two keep two cores
busy (October of the benchmark's year at scale 1, 5.6M export rows, five runs each,
alternating: 17.7 s with one ahead, 14.9 s with two, medians; 165 MiB more at peak)."""


class ProjectionAhead:
    """`take` each of `snapshots` in turn as `projected`; up to `depth` are projected ahead."""

    def __init__(
        self,
        con: duckdb.DuckDBPyConnection,
        export: AppExport,
        lake: Lake,
        pseudonymizer: Pseudonymizer,
        snapshots: Sequence[tuple[ExportSnapshot, KnownNewsletters]],
        depth: int = DEPTH,
    ) -> None:
        self.export = export
        self.lake = lake
        self.pseudonymizer = pseudonymizer
        self._snapshots = deque(snapshots)
        self._cursors = [another_connection(con) for _ in range(depth)]
        self._pool = ThreadPoolExecutor(max_workers=depth, thread_name_prefix="projection-ahead")
        self._pending: deque[tuple[int, Future[None]]] = deque()
        for slot in range(min(depth, len(self._snapshots))):
            self._start(slot)

    def _start(self, slot: int) -> None:
        snapshot, known = self._snapshots.popleft()
        future = self._pool.submit(
            project, self._cursors[slot], self.export, snapshot, self.lake, known,
            self.pseudonymizer, into=_table(slot),
        )  # fmt: skip
        self._pending.append((slot, future))

    def take(self, con: duckdb.DuckDBPyConnection) -> None:
        """Wait for the next snapshot's projection (raising its error), make it `projected`,
        and start the next one not yet started in its place."""
        if not self._pending:
            raise RuntimeError("every snapshot was taken")
        slot, future = self._pending.popleft()
        future.result()
        con.execute(f"ALTER TABLE {_table(slot)} RENAME TO projected")
        if self._snapshots:
            self._start(slot)

    def __enter__(self) -> ProjectionAhead:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        """Projections still running end before the engine's connection may close."""
        self._pool.shutdown(wait=True)
        for cursor in self._cursors:
            cursor.close()


def _table(slot: int) -> str:
    return f"projected_ahead_{slot}"
