"""Concurrent writers colliding, as BigQuery reports it: a local proxy in front of the emulator
(which runs one job at a time and never collides) that fails chosen write jobs with BigQuery's
concurrent-update error.

BigQuery accepts the job (jobs.insert answers RUNNING), then reports it DONE with an
`errorResult` of reason `invalidQuery` and, for a multi-statement transaction, the message
"Transaction is aborted due to concurrent update against table <table>. Transaction ID: ...";
for a lone DML statement "Could not serialize access to table <table> due to concurrent update"
(BigQuery's troubleshooting page, "Conflicting DML statements" and "Transaction aborted due to
concurrent update"). `jobs.getQueryResults` of such a job answers the same error as a 400.

An aborted job changed nothing, so by default the emulator runs `SELECT 1` in its place. With
`applied=True` the job's statements do run and only the answer says they failed: a lost
acknowledgement, the worst case for a writer that runs its write again.
"""

from __future__ import annotations

import json
import re
import uuid
from typing import Any

from theletter_data_tests.support.bigquery_proxy import (
    API,
    BigQueryProxy,
    Request,
    Response,
    error_body,
    json_response,
)


class ConflictingBigQuery(BigQueryProxy):
    """`ConflictingBigQuery(upstream, conflicts=n)`: the first n write jobs (MERGE statements or
    transactions) fail as colliding; `.injected` lists the messages sent."""

    def __init__(self, upstream: str, conflicts: int = 1, applied: bool = False) -> None:
        self.remaining = conflicts
        self.applied = applied
        self.failed_jobs: dict[str, str] = {}
        self.injected: list[str] = []
        super().__init__(upstream)

    def answer(self, request: Request) -> Response | None:
        project_jobs = re.fullmatch(
            rf"{API}/projects/([^/]+)/(jobs|queries)(?:/([^/]+))?", request.path
        )
        if not project_jobs:
            return None
        _, kind, job_id = project_jobs.groups()
        if job_id is None and kind == "jobs" and request.method == "POST":
            return self._maybe_collide(request)
        if job_id in self.failed_jobs:
            message = self.failed_jobs[job_id]
            if kind == "queries":  # getQueryResults turns a failed job into an HTTP error
                return json_response(
                    400, error_body(400, message, "invalidQuery", location="query")
                )
            job = self.forward(request).json()
            failure = {"reason": "invalidQuery", "location": "query", "message": message}
            job["status"] = {"state": "DONE", "errorResult": failure, "errors": [failure]}
            return json_response(200, job)
        return None

    def _maybe_collide(self, request: Request) -> Response | None:
        body = request.json()
        query = body.get("configuration", {}).get("query", {})
        statement = query.get("query", "")
        target = re.search(r"\bMERGE\s+`([^`]+)`", statement)
        if body.get("configuration", {}).get("dryRun") or target is None:
            return None
        with self.lock:
            if self.remaining <= 0:
                return None
            self.remaining -= 1
        table = _bigquery_name(target.group(1))
        if "BEGIN TRANSACTION" in statement.upper():
            message = (
                f"Transaction is aborted due to concurrent update against table {table}. "
                f"Transaction ID: {uuid.uuid4()}"
            )
        else:
            message = f"Could not serialize access to table {table} due to concurrent update"
        if not self.applied:
            query["query"], query["queryParameters"] = "SELECT 1", []
            request = Request(
                request.method, request.target, request.headers, json.dumps(body).encode()
            )
        job: dict[str, Any] = self.forward(request).json()
        job["status"] = {"state": "RUNNING"}
        with self.lock:
            self.failed_jobs[job["jobReference"]["jobId"]] = message
            self.injected.append(message)
        return json_response(200, job)


def _bigquery_name(table_id: str) -> str:
    project, rest = table_id.split(".", 1)
    return f"{project}:{rest}"
