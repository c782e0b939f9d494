"""BigQuery's IAM in front of the emulator: every REST call is checked against the roles an
identity is granted, and refused with BigQuery's own 403 when they do not hold what it needs.

One module over 300 lines: the proxy and its map from each REST call and statement to the
permission BigQuery checks are one contract, reviewed side by side against BigQuery's reference.

The emulator lets anyone do anything; production BigQuery checks a permission for each call, on
a resource: the project (`bigquery.datasets.create`, `bigquery.jobs.create`), a dataset or a
table. A grant on a dataset covers the dataset and its tables, and exists only once the dataset
does; a grant on the project covers everything in it. The roles and the grants are read from the
one file the deployment documents (theletter_data/resources/bigquery_iam.json), so the tests run
with exactly the roles deploy/README.md grants.

Which call needs which permission follows BigQuery's REST reference ("IAM permissions" of each
method) and its job pages: a query needs `bigquery.jobs.create` on the project and, for each
table its statements read, `bigquery.tables.getData`; a DML statement needs
`bigquery.tables.updateData` on its target; a load job `bigquery.tables.create`, `updateData`
and `update` ("Loading Parquet data", required permissions). A job's creator may read its status
and results (bigquery.jobs.get is granted on one's own jobs). A call this module does not map is
answered 501, so that a new kind of call fails a test instead of passing unchecked.

Shares no code with the project: statements are split with sqlglot's parser only to find the
tables each one reads and writes.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import sqlglot
from sqlglot import exp

from theletter_data_tests.support.bigquery_proxy import (
    API,
    UPLOAD_API,
    BigQueryProxy,
    Request,
    Response,
    error_response,
)

IAM_FILE = "theletter_data/resources/bigquery_iam.json"


@dataclass(frozen=True)
class Resource:
    project: str
    dataset: str | None = None
    table: str | None = None

    @property
    def kind(self) -> str:
        return "table" if self.table else "dataset" if self.dataset else "project"

    def __str__(self) -> str:  # BigQuery's own spelling in its messages
        if self.table:
            return f"{self.project}:{self.dataset}.{self.table}"
        return f"{self.project}:{self.dataset}" if self.dataset else self.project

    def within(self, scope: Resource) -> bool:
        if scope.kind == "project":
            return self.project == scope.project
        return (self.project, self.dataset) == (scope.project, scope.dataset)


Check = tuple[str, Resource]


class NotMapped(Exception):
    """A call the proxy does not know the permissions of."""


class BadQuery(Exception):
    """A statement BigQuery would reject before checking anything (400)."""


def load_iam() -> dict[str, Any]:
    from pathlib import Path

    return json.loads((Path(__file__).resolve().parents[2] / IAM_FILE).read_text())


def bindings_of(identity: str, project: str, dataset_prefix: str) -> list[tuple[str, Resource]]:
    """The (role, scope) pairs an identity of bigquery_iam.json holds in one deployment."""
    grants = load_iam()["identities"][identity]["grants"]
    bindings = []
    for grant in grants:
        if grant["on"] == "project":
            bindings.append((grant["role"], Resource(project)))
        elif grant["on"] == "datasets":
            for layer in grant["layers"]:
                bindings.append((grant["role"], Resource(project, f"{dataset_prefix}{layer}")))
        else:
            raise AssertionError(f"grant scope {grant['on']!r} is not modelled")
    return bindings


@dataclass
class Decision:
    method: str
    path: str
    permission: str
    resource: Resource
    allowed: bool


@dataclass
class _Jobs:
    """What the identity created: its jobs (status and results readable by their creator),
    their result tables, and its upload sessions."""

    ids: set[str] = field(default_factory=set)
    result_tables: set[Resource] = field(default_factory=set)
    uploads: set[str] = field(default_factory=set)


class IamProxy(BigQueryProxy):
    """`IamProxy(upstream, bindings)`; `.decisions` holds every check made, `.refused()` the
    refused ones. `IamProxy.for_identity(upstream, "run", project, prefix)` reads the grants."""

    def __init__(self, upstream: str, bindings: list[tuple[str, Resource]]) -> None:
        iam = load_iam()
        self.roles = {name: set(role["permissions"]) for name, role in iam["roles"].items()}
        unknown = {role for role, _ in bindings} - set(self.roles)
        assert not unknown, f"roles not in {IAM_FILE}: {unknown}"
        self.bindings = bindings
        self.decisions: list[Decision] = []
        self.jobs = _Jobs()
        super().__init__(upstream)

    @classmethod
    def for_identity(
        cls, upstream: str, identity: str, project: str, dataset_prefix: str
    ) -> IamProxy:
        return cls(upstream, bindings_of(identity, project, dataset_prefix))

    def refused(self) -> list[Decision]:
        return [d for d in self.decisions if not d.allowed]

    def checked(self) -> Counter[str]:
        return Counter(d.permission for d in self.decisions)

    # -- the proxy ----------------------------------------------------------------------------

    def answer(self, request: Request) -> Response | None:
        try:
            checks = self.required(request)
        except NotMapped as error:
            return error_response(501, f"Not mapped by the IAM proxy: {error}", "notImplemented")
        except BadQuery as error:
            return error_response(400, str(error), "invalidQuery")
        for permission, resource in checks:
            allowed = self.allows(permission, resource)
            with self.lock:
                self.decisions.append(
                    Decision(request.method, request.path, permission, resource, allowed)
                )
            if not allowed:
                return error_response(403, _denied(permission, resource), "accessDenied")
        return None

    def adjust(self, request: Request, response: Response) -> Response:
        if response.status >= 300 or not response.body:
            for key, value in response.headers:
                if key.lower() == "location" and "upload_id=" in value:
                    with self.lock:
                        self.jobs.uploads.add(_upload_id(value))
            return response
        if request.method == "PUT" and request.path.startswith(UPLOAD_API):
            self._own(*_job_parts(response.json()))  # the load job the upload became
        elif request.method == "POST" and re.fullmatch(
            rf"({API}|{UPLOAD_API})/projects/[^/]+/(jobs|queries)", request.path
        ):
            self._own(request.json().get("jobReference", {}), {})
            self._own(*_job_parts(response.json()))
        return response

    def _own(self, reference: dict[str, Any], destination: dict[str, Any]) -> None:
        with self.lock:
            if reference.get("jobId"):
                self.jobs.ids.add(reference["jobId"])
            if destination.get("tableId"):
                self.jobs.result_tables.add(
                    Resource(
                        destination["projectId"], destination["datasetId"], destination["tableId"]
                    )
                )

    # -- IAM ----------------------------------------------------------------------------------

    def allows(self, permission: str, resource: Resource) -> bool:
        for role, scope in self.bindings:
            if permission not in self.roles[role] or not resource.within(scope):
                continue
            if scope.kind == "project" or self._exists(scope):
                return True
        return False

    def _exists(self, dataset: Resource) -> bool:
        """A dataset's own grants exist only while the dataset does."""
        status, _ = self.upstream_json(
            f"{API}/projects/{dataset.project}/datasets/{dataset.dataset}"
        )
        return status == 200

    def required(self, request: Request) -> list[Check]:
        """The permissions a REST call needs, each on its resource."""
        method, path = request.method, request.path
        upload = re.fullmatch(rf"{UPLOAD_API}/projects/([^/]+)/jobs", path)
        if upload:
            if method == "PUT":
                upload_id = _upload_id(request.target)
                if upload_id in self.jobs.uploads:
                    return []  # the job was authorized when its upload session was opened
                raise NotMapped(f"upload to an unknown session {upload_id}")
            if request.params.get("uploadType") != ["resumable"]:
                raise NotMapped(f"upload type {request.params.get('uploadType')}")
            return self._job(upload.group(1), request.json())
        match = re.fullmatch(rf"{API}/projects/([^/]+)(/.*)?", path)
        if not match:
            raise NotMapped(f"{method} {path}")
        project, rest = match.group(1), match.group(2) or ""
        route = re.fullmatch(
            r"/datasets(?:/([^/]+)(?:/tables(?:/([^/]+)(/data|/insertAll)?)?)?)?", rest
        )
        if route:
            dataset, table, action = route.groups()
            return self._resource_call(method, project, dataset, table, action, rest)
        if rest in ("/jobs", "/queries") and method == "POST":
            body = request.json()
            if rest == "/queries":  # jobs.query: the request is the query configuration
                body = {"configuration": {"query": body}, "dryRun": body.get("dryRun")}
            return self._job(project, body)
        job = re.fullmatch(r"/(jobs|queries)/([^/]+)(/cancel)?", rest)
        if job:
            _, job_id, cancel = job.groups()
            if job_id in self.jobs.ids:
                return []  # a job's creator holds bigquery.jobs.get and .update on it
            permission = "bigquery.jobs.update" if cancel else "bigquery.jobs.get"
            return [(permission, Resource(project))]
        raise NotMapped(f"{method} {path}")

    def _resource_call(
        self,
        method: str,
        project: str,
        dataset: str | None,
        table: str | None,
        action: str | None,
        rest: str,
    ) -> list[Check]:
        if dataset is None:
            if method == "POST":
                return [("bigquery.datasets.create", Resource(project))]
            raise NotMapped(f"{method} datasets of a project")
        if rest.endswith("/tables"):
            verb = {"POST": "create", "GET": "list"}.get(method)
            if verb is None:
                raise NotMapped(f"{method} {rest}")
            return [(f"bigquery.tables.{verb}", Resource(project, dataset))]
        if table is None:
            verb = {"GET": "get", "PATCH": "update", "PUT": "update", "DELETE": "delete"}
            if method not in verb:
                raise NotMapped(f"{method} {rest}")
            return [(f"bigquery.datasets.{verb[method]}", Resource(project, dataset))]
        resource = Resource(project, dataset, table)
        if action == "/data" and method == "GET":
            if resource in self.jobs.result_tables:
                return []  # a query's results belong to whoever ran it
            return [("bigquery.tables.getData", resource)]
        if action == "/insertAll" and method == "POST":
            return [("bigquery.tables.updateData", resource)]
        verb = {"GET": "get", "PATCH": "update", "PUT": "update", "DELETE": "delete"}
        if action is None and method in verb:
            return [(f"bigquery.tables.{verb[method]}", resource)]
        raise NotMapped(f"{method} {rest}")

    def _job(self, project: str, body: dict[str, Any]) -> list[Check]:
        """jobs.insert: `bigquery.jobs.create` on the project, then what the job reads and
        writes. Dry runs are checked like the jobs they try."""
        configuration = body.get("configuration", {})
        checks: list[Check] = [("bigquery.jobs.create", Resource(project))]
        if "query" in configuration:
            query = configuration["query"]
            default = query.get("defaultDataset") or {}
            checks += query_checks(query["query"], project, default.get("datasetId"))
            if query.get("destinationTable"):
                checks += _writes_table(_resource(query["destinationTable"]))
        elif "load" in configuration:
            load = configuration["load"]
            if load.get("sourceUris"):
                raise NotMapped("load jobs from Cloud Storage")
            checks += _writes_table(_resource(load["destinationTable"]))
        else:
            raise NotMapped(f"job of kind {sorted(configuration)}")
        return checks


def _writes_table(table: Resource) -> list[Check]:
    """Loading into (or writing query results to) a table, new or existing: Google's required
    permissions for loads are tables.create, tables.updateData and tables.update."""
    return [
        ("bigquery.tables.create", Resource(table.project, table.dataset)),
        ("bigquery.tables.updateData", table),
        ("bigquery.tables.update", table),
    ]


def query_checks(sql: str, project: str, default_dataset: str | None) -> list[Check]:
    """The table permissions of each statement of a query or script."""
    try:
        statements = [s for s in sqlglot.parse(sql, read="bigquery") if s is not None]
    except sqlglot.errors.ParseError as error:
        raise BadQuery(f"Syntax error: {error}") from error
    checks: list[Check] = []
    temporary: set[str] = set()

    def resource(table: exp.Table) -> Resource:
        dataset = table.db or default_dataset
        if not dataset:
            raise BadQuery(
                f'Table "{table.name}" must be qualified with a dataset (e.g. dataset.table).'
            )
        return Resource(table.catalog or project, dataset, table.name)

    for statement in statements:
        if isinstance(statement, exp.Transaction | exp.Commit | exp.Rollback):
            continue
        names = {cte.alias_or_name for cte in statement.find_all(exp.CTE)}
        target: exp.Table | None = None
        if isinstance(statement, exp.Insert | exp.Update | exp.Delete | exp.Merge):
            target = _target(statement)
            checks.append(("bigquery.tables.updateData", resource(target)))
            if not isinstance(statement, exp.Insert):  # they read the rows they change
                checks.append(("bigquery.tables.getData", resource(target)))
        elif isinstance(statement, exp.Create):
            kind = statement.args.get("kind", "").upper()
            target = _target(statement)
            if statement.find(exp.TemporaryProperty):
                temporary.add(target.name)
            elif kind in {"TABLE", "VIEW"}:
                created = resource(target)
                checks.append(
                    ("bigquery.tables.create", Resource(created.project, created.dataset))
                )
                checks.append(("bigquery.tables.updateData", created))
            else:
                raise NotMapped(f"CREATE {kind}")
        elif not isinstance(statement, exp.Query):
            raise NotMapped(f"statement {type(statement).__name__}: {statement.sql()[:80]}")
        for table in statement.find_all(exp.Table):
            if table is target or (not table.db and table.name in names | temporary):
                continue
            parts = ".".join((table.catalog, table.db, table.name)).upper().split(".")
            if "INFORMATION_SCHEMA" in parts:  # sqlglot keeps `INFORMATION_SCHEMA.X` as a name
                raise NotMapped(f"INFORMATION_SCHEMA view {table.sql()}")
            checks.append(("bigquery.tables.getData", resource(table)))
    return checks


def _target(statement: exp.Expression) -> exp.Table:
    target = statement.this
    if isinstance(target, exp.Schema):  # INSERT INTO t (columns) / CREATE TABLE t (columns)
        target = target.this
    assert isinstance(target, exp.Table), f"no target table in {statement.sql()[:80]}"
    return target


def _denied(permission: str, resource: Resource) -> str:
    """BigQuery's wording, per resource kind (its troubleshooting page lists them)."""
    if resource.kind == "project":
        return (
            f"Access Denied: Project {resource}: User does not have {permission} permission "
            f"in project {resource}."
        )
    if permission == "bigquery.tables.getData":
        return (
            f"Access Denied: Table {resource}: User does not have permission to query table "
            f"{resource}, or perhaps it does not exist."
        )
    kind = resource.kind.capitalize()
    return (
        f"Access Denied: {kind} {resource}: Permission {permission} denied on "
        f"{resource.kind} {resource} (or it may not exist)."
    )


def _resource(reference: dict[str, Any]) -> Resource:
    return Resource(reference["projectId"], reference["datasetId"], reference["tableId"])


def _job_parts(job: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    query = job.get("configuration", {}).get("query", {})
    return job.get("jobReference", {}), query.get("destinationTable") or {}


def _upload_id(url: str) -> str:
    match = re.search(r"upload_id=([^&]+)", url)
    return match.group(1) if match else ""
