"""The local Dagster instance's storage (dagster_home/dagster.yaml): Dagster's own SQLite storage,
created by one process at a time, its event log written a batch at a time.

On a new DAGSTER_HOME, each process that opens the instance creates the SQLite tables and stamps
their schema version. Two processes started at once (two `dagster asset materialize`, the demo
beside `dagster dev`) did it together, and one crashed (`table secondary_indexes already exists`,
`UNIQUE constraint failed: alembic_version.version_num`). Here every process opens the storage
under an exclusive lock on DAGSTER_HOME's folder (the kernel's `flock`, released when the process
ends), so the second one finds the tables made. Its event log: `EventLogWrittenInBatches`.
"""

from __future__ import annotations

import fcntl
import os
import threading
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager

from dagster._core.events.log import EventLogEntry
from dagster._core.storage.event_log.sqlite.sqlite_event_log import (
    INDEX_SHARD_NAME,
    SqliteEventLogStorage,
)
from dagster._core.storage.sqlite_storage import (
    DagsterSqliteStorage,
    SqliteStorageConfig,
    _event_logs_directory,
)
from dagster._serdes import ConfigurableClassData
from sqlalchemy.engine import Connection


class SqliteStorageCreatedOnce(DagsterSqliteStorage):
    """`storage: custom:` with `base_dir` as `storage: sqlite:` takes: the same files."""

    def __init__(self, base_dir: str, inst_data: ConfigurableClassData | None = None) -> None:
        with _exclusive(base_dir):
            super().__init__(base_dir, inst_data)
            self._event_log_storage = EventLogWrittenInBatches(_event_logs_directory(base_dir))

    @classmethod
    def from_config_value(  # type: ignore[override]
        cls, inst_data: ConfigurableClassData, config_value: SqliteStorageConfig
    ) -> SqliteStorageCreatedOnce:
        return cls.from_local(inst_data=inst_data, **config_value)


@contextmanager
def _exclusive(folder: str) -> Iterator[None]:
    fd = os.open(folder, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock


BATCH_SIZE_VARIABLE = "DAGSTER_EVENT_BATCH_SIZE"
BATCH_SIZE = 1000
"""Events per transaction at most. Dagster's batches: a run's planned materializations and
checks (639 for the demo's `daily_refresh`), and the materializations of an asset's partitions."""


class EventLogWrittenInBatches(SqliteEventLogStorage):
    """Dagster's SQLite event log, with a batch of events written in one transaction per file.

    A run of the daily graph over the demo's 28 days logs 560 materializations planned when it is
    created and 560 materializations in its steps. Dagster writes each with a connection and a
    commit of its own, in the run's file and again in the index file (what `dagster dev` lists).
    It hands them over in batches when DAGSTER_EVENT_BATCH_SIZE is set, which the base storage
    then writes one by one. Here each event is still written by Dagster's own `store_event`, but
    inside one transaction per file for the batch: the demo's `daily_refresh` took 56 s instead
    of 65. A batch that fails is rolled back whole, and Dagster then stores its events one by one.

    Dagster 1.13 has no public hook for this: it overrides the base's `_connect` and replaces its
    `_db_lock` (test_local_instance_events.py compares a run stored so with one stored event by
    event, and fails if a Dagster upgrade changes either).
    """

    def __init__(self, base_dir: str, inst_data: ConfigurableClassData | None = None) -> None:
        super().__init__(base_dir, inst_data)
        # Dagster reads the variable at every event; every process that opens this instance
        # (the demo, `dagster dev` and its run workers, a CLI run) asks for batches.
        os.environ.setdefault(BATCH_SIZE_VARIABLE, str(BATCH_SIZE))
        # The base holds this lock while a connection is open; a batch opens two.
        self._db_lock = threading.RLock()  # type: ignore[assignment]
        self._batch: dict[str, Connection] = {}

    @contextmanager
    def _connect(self, shard: str) -> Iterator[Connection]:
        with self._db_lock:
            if shard in self._batch:  # only the batch's thread gets here while it runs
                yield self._batch[shard]
                return
            with super()._connect(shard) as connection:
                yield connection

    def store_event_batch(self, events: Sequence[EventLogEntry]) -> None:
        shards = [*dict.fromkeys(event.run_id for event in events), INDEX_SHARD_NAME]
        with self._db_lock, ExitStack() as stack:
            try:
                for shard in shards:
                    self._batch[shard] = stack.enter_context(super()._connect(shard))
                for event in events:
                    self.store_event(event)
            finally:
                self._batch.clear()
