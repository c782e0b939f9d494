"""The app's MySQL (or MariaDB) database, read directly: an alternative to its nightly Parquet
exports that writes the very same lake layout (`appdb/<table>/dt=YYYY-MM-DD/`).

Connect as a read-only user (docs: README, *Operations*):

    CREATE USER 'theletter_extract'@'%' IDENTIFIED BY '<secret>';
    GRANT SELECT ON app.newsletters TO 'theletter_extract'@'%';   -- and posts, subscriptions

Every read of a run happens inside one `START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY`
at REPEATABLE READ: InnoDB serves it from its MVCC snapshot, so the app's writes are neither
blocked nor seen half-done, and no row is read twice or missed between batches.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import dagster as dg
from pydantic import Field


class AppDatabase(dg.ConfigurableResource):
    host: str = Field(description="Host of the app's MySQL (a read replica is best).")
    port: int = Field(default=3306)
    user: str = Field(description="A user with SELECT on the three tables only.")
    password: str = Field(description="Its password (from the environment: dagster.EnvVar).")
    database: str = Field(description="The app's schema.")
    batch_rows: int = Field(
        default=10_000, description="Rows per read: memory stays a batch, not a table."
    )
    connect_timeout_seconds: int = Field(default=10)

    @contextmanager
    def snapshot(self) -> Iterator[Any]:
        """A cursor inside one consistent, read-only snapshot of the database."""
        import pymysql

        connection = pymysql.connect(
            host=self.host,
            port=self.port,
            user=self.user,
            password=self.password,
            database=self.database,
            charset="utf8mb4",
            autocommit=False,
            connect_timeout=self.connect_timeout_seconds,
        )
        try:
            with connection.cursor() as cursor:
                cursor.execute("SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ")
                cursor.execute("SET SESSION time_zone = '+00:00'")
                cursor.execute("START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY")
                yield cursor
                connection.rollback()  # read only: nothing to keep
        finally:
            connection.close()
