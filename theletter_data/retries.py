"""Retrying what may pass, failing at once what cannot.

Transient faults (S3 throttling, a dropped connection, a busy warehouse) usually clear within
minutes, so steps that do I/O retry with exponential backoff and jitter. A permanent error (SQL
that does not bind, a missing table, a bad configuration) fails the step immediately instead of
burning the retries: `fail_fast_on` turns those exceptions into a non-retryable `dg.Failure`.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import dagster as dg
import duckdb

IO_RETRY_POLICY = dg.RetryPolicy(
    max_retries=3, delay=15, backoff=dg.Backoff.EXPONENTIAL, jitter=dg.Jitter.PLUS_MINUS
)

ENGINE_PERMANENT_ERRORS: tuple[type[BaseException], ...] = (
    duckdb.BinderException,
    duckdb.CatalogException,
    duckdb.ParserException,
    duckdb.ConversionException,
)
"""Errors of the in-process DuckDB engine that no retry can fix."""


@contextmanager
def fail_fast_on(permanent: tuple[type[BaseException], ...]) -> Iterator[None]:
    try:
        yield
    except permanent as error:
        raise dg.Failure(
            description=f"Permanent error, not retried: {type(error).__name__}: {error}",
            allow_retries=False,
        ) from error
