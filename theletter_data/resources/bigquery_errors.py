"""What a BigQuery error means for a step: wait and retry, retry the write, or stop and say why.

BigQuery answers 403 both for "you may not" (reason `accessDenied`) and for "not now"
(`rateLimitExceeded`, `quotaExceeded`), so the status alone cannot decide: the reason does. A
refused permission is permanent and is reported with the permission, the roles that hold it
(`bigquery_iam.json`, the one table of roles this deployment uses) and what the deployment grants.

Two writers mutating the same table at once collide: BigQuery fails one of them with a 400 whose
reason is the generic `invalidQuery`, recognisable only by its message ("Could not serialize
access to table ... due to concurrent update" for a DML statement, "Transaction is aborted due to
concurrent update against table ..." for a transaction). That one is worth retrying.
"""

from __future__ import annotations

import json
import random
import re
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import cache
from pathlib import Path
from typing import Any

import dagster as dg
from google.api_core import exceptions as google_exceptions

IAM_FILE = Path(__file__).with_name("bigquery_iam.json")
SETUP_COMMAND = "theletter-data bigquery-setup"

RETRYABLE_403_REASONS = frozenset({"rateLimitExceeded", "quotaExceeded"})
"""403s that clear with time; every other 403 (accessDenied, billingNotEnabled, ...) does not."""

_CONCURRENT_UPDATE = re.compile(
    r"could not serialize access to table .* due to concurrent update"
    r"|transaction is aborted due to concurrent update",
    re.IGNORECASE | re.DOTALL,
)
_PERMISSION = re.compile(r"\bbigquery\.[A-Za-z]+\.[A-Za-z]+\b")
_QUERY_TABLE = re.compile(r"permission to query table", re.IGNORECASE)


class AccessDenied(PermissionError):
    """BigQuery refused a call for a reason retrying cannot change (permanent)."""


class ConcurrentUpdate(RuntimeError):
    """A write kept colliding with concurrent writes to the same table (worth retrying later)."""


@cache
def iam() -> dict[str, Any]:
    """The roles this deployment uses (with their permissions) and who is granted which."""
    return json.loads(IAM_FILE.read_text())


def roles_holding(permission: str) -> list[str]:
    return sorted(r for r, role in iam()["roles"].items() if permission in role["permissions"])


def reasons(error: google_exceptions.GoogleAPICallError) -> list[str]:
    return [e.get("reason", "") for e in error.errors or [] if isinstance(e, dict)]


def _messages(error: google_exceptions.GoogleAPICallError) -> str:
    details = [e.get("message", "") for e in error.errors or [] if isinstance(e, dict)]
    return " ".join([error.message or "", *details])


def is_concurrent_update(error: BaseException) -> bool:
    return isinstance(error, google_exceptions.BadRequest) and bool(
        _CONCURRENT_UPDATE.search(_messages(error))
    )


def is_retryable_403(error: BaseException) -> bool:
    return isinstance(error, google_exceptions.Forbidden) and bool(
        RETRYABLE_403_REASONS & set(reasons(error))
    )


def refused_permission(error: google_exceptions.GoogleAPICallError) -> str | None:
    """The permission a 403 names; "permission to query table" is `bigquery.tables.getData`."""
    text = _messages(error)
    named = _PERMISSION.search(text)
    if named:
        return named.group(0)
    return "bigquery.tables.getData" if _QUERY_TABLE.search(text) else None


def _granted(identity: str) -> str:
    grants = iam()["identities"][identity]["grants"]
    return "; ".join(
        f"{g['role']} on the project"
        if g["on"] == "project"
        else f"{g['role']} on datasets " + ", ".join(f"<prefix>{x}" for x in g["layers"])
        for g in grants
    )


def access_denied(error: google_exceptions.Forbidden) -> AccessDenied:
    """The permanent error for a refused call: which permission, which roles hold it, what this
    deployment grants, and BigQuery's own words."""
    said = error.message or str(error)
    permission = refused_permission(error)
    if permission is None:
        return AccessDenied(
            f"BigQuery refused the call ({', '.join(reasons(error)) or 'no reason'}), which "
            f"retrying cannot change: {said}"
        )
    holders = ", ".join(roles_holding(permission)) or "none of the roles in bigquery_iam.json"
    return AccessDenied(
        f"BigQuery denied {permission} (not retried: retrying cannot grant it). Roles that hold "
        f"it: {holders}. This deployment grants the run identity {_granted('run')} "
        f"(deploy/README.md, 'BigQuery side'); the datasets are created once by "
        f"`{SETUP_COMMAND}`, run with {_granted('setup')}, and must exist before the "
        f"dataset roles can be granted. BigQuery said: {said}"
    )


@contextmanager
def classified_errors() -> Iterator[None]:
    """Turn the errors whose meaning is in their reason or message into errors whose meaning
    is in their type: a refused permission into `AccessDenied`, a collision into
    `ConcurrentUpdate`. Everything else passes unchanged."""
    try:
        yield
    except google_exceptions.Forbidden as error:
        if is_retryable_403(error):
            raise
        raise access_denied(error) from error
    except google_exceptions.BadRequest as error:
        if is_concurrent_update(error):
            raise ConcurrentUpdate(
                f"The write kept colliding with concurrent writes to the same table; the step "
                f"is retried. BigQuery said: {error.message}"
            ) from error
        raise


def retry_collisions(write: Callable[[], object], attempts: int, backoff_seconds: float) -> None:
    """Run `write`; while it collides with a concurrent write to the same table, pause
    (`backoff_seconds`, doubled each time, jittered) and run it again, `attempts` times at most.
    Safe for a write that replaces its window: a collided statement or transaction changed
    nothing, and running it twice gives the same rows."""
    for attempt in range(1, attempts + 1):
        try:
            write()
            return
        except google_exceptions.BadRequest as error:
            if not is_concurrent_update(error) or attempt == attempts:
                raise
            pause = backoff_seconds * 2 ** (attempt - 1) * random.uniform(0.5, 1.5)
            dg.get_dagster_logger().warning(
                f"Concurrent write to the same table (attempt {attempt} of {attempts}); again "
                f"in {pause:.1f} s: {error.message}"
            )
            time.sleep(pause)
