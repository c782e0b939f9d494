"""Staged rows streamed into a warehouse write: the warehouse reads them batch by batch while
staging produces them, and commits only at the end, so a failure while staging (a broken
object, a day above the quarantine limit) leaves every partition of the write as it was."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pyarrow as pa

from theletter_data.tables import Table


class WriteGuard:
    """The first exception raised while the warehouse read a stream: the warehouse's engine
    may wrap it beyond recognition, so it is kept to be re-raised as itself."""

    failure: Exception | None = None

    @contextmanager
    def reraised(self) -> Iterator[None]:
        """Around the warehouse write: an exception of the stream comes out as itself."""
        try:
            yield
        except Exception as error:
            if self.failure is not None:  # raised inside the warehouse's read of the stream
                raise self.failure from error
            raise


def streamed(
    guard: WriteGuard, table: Table, batches: Iterator[pa.RecordBatch]
) -> pa.RecordBatchReader:
    """The batches as a reader of `table`'s schema, any exception kept in `guard`."""

    schema = table.arrow_schema

    def guarded() -> Iterator[pa.RecordBatch]:
        try:
            for batch in batches:
                yield batch.select(schema.names).cast(schema)
        except Exception as error:
            guard.failure = error
            raise

    return pa.RecordBatchReader.from_batches(schema, guarded())
