"""The local Dagster instance's storage (dagster_home/dagster.yaml): Dagster's own SQLite storage,
created by one process at a time.

On a new DAGSTER_HOME, each process that opens the instance creates the SQLite tables and stamps
their schema version. Two processes started at once (two `dagster asset materialize`, the demo
beside `dagster dev`) did it together, and one crashed (`table secondary_indexes already exists`,
`UNIQUE constraint failed: alembic_version.version_num`). Here every process opens the storage
under an exclusive lock on DAGSTER_HOME's folder (the kernel's `flock`, released when the process
ends), so the second one finds the tables made.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager

from dagster._core.storage.sqlite_storage import DagsterSqliteStorage, SqliteStorageConfig
from dagster._serdes import ConfigurableClassData


class SqliteStorageCreatedOnce(DagsterSqliteStorage):
    """`storage: custom:` with `base_dir` as `storage: sqlite:` takes: the same files."""

    def __init__(self, base_dir: str, inst_data: ConfigurableClassData | None = None) -> None:
        with _exclusive(base_dir):
            super().__init__(base_dir, inst_data)

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
