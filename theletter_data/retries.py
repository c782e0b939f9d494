"""Retrying what may pass, failing at once what cannot.

Transient faults (S3 throttling, a dropped connection, a busy warehouse) usually clear within
minutes, so steps that do I/O retry with exponential backoff and jitter. A permanent error (SQL
that does not bind, a missing table, a bad configuration) fails the step immediately instead of
burning the retries: `fail_fast_on` turns those exceptions into a non-retryable `dg.Failure`.
Resources that can tell a permanent fault themselves (a warehouse file that is corrupt or not
writable) raise a non-retryable `dg.Failure` whose first line names the cause and the fix. A
fault that may pass but must not be waited for long (another program holding the warehouse's
lock) is retried a bounded number of times by `retry_then_fail`, whose last attempt fails with
that first line rather than Dagster's "Exceeded max_retries".
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


def retry_then_fail(description: str, *, max_retries: int, seconds_to_wait: float) -> Exception:
    """What to raise for a fault that may pass: inside a step, a retry of the step (at most
    `max_retries`, `seconds_to_wait` apart) and on its last attempt a failure that says
    `description` first; outside a step, a `TimeoutError` saying it."""
    try:
        context = dg.OpExecutionContext.get()
    except dg.DagsterInvariantViolationError:
        return TimeoutError(description)
    if context.retry_number < max_retries:
        return dg.RetryRequested(max_retries=max_retries, seconds_to_wait=seconds_to_wait)
    return dg.Failure(
        description=f"{description} (Attempt {context.retry_number + 1} of {max_retries + 1}.)",
        allow_retries=False,
    )
