"""Google's own SQL front end (ZetaSQL) analyses every statement the BigQuery warehouse sends.

The BigQuery emulator runs sqlglot, the transpiler the project uses, so a statement both get
wrong passes both. Here the production configuration runs every job of the graph, then the other
query paths (a trace, the demo's summary), on the emulator, while every statement is recorded as
the client sends it (dataset names rewritten, parameters typed); ZetaSQL, with BigQuery's language
options and a catalog built from the project's table declarations, then analyses each one.

What makes a new statement covered without editing this file: every job of the definitions runs
(a new job fails the test until it is driven here), every asset that uses the warehouse must have
materialized, and every line of the package that calls the warehouse must have sent a statement.

That the analyzer is as strict as BigQuery: test_bigquery_sql_zetasql_attacks.py.
"""

from __future__ import annotations

import ast
import inspect
import json
import subprocess
import sys
import textwrap
import uuid
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path

import boto3
import dagster as dg
import pyarrow as pa
import pytest
from dagster._core.storage.tags import (
    ASSET_PARTITION_RANGE_END_TAG,
    ASSET_PARTITION_RANGE_START_TAG,
)
from google.cloud import bigquery

from theletter_data.checks import COLUMN_VALUES, run_table_checks
from theletter_data.definitions import INTRADAY_ASSETS, build_definitions
from theletter_data.metrics.post_email_funnel import POST_EMAIL_FUNNEL
from theletter_data.partitions import TOKYO
from theletter_data.resources.bigquery_warehouse import BigQueryWarehouse
from theletter_data.resources.lake import Lake
from theletter_data.resources.warehouse import PartitionWrite, Warehouse
from theletter_data.settings import Environment, Settings
from theletter_data.tracing import trace
from theletter_data_dev.demo import DemoRange, newsletter_summary
from theletter_data_dev.generate import generate_lake
from theletter_data_tests.support.bigquery_statements import (
    PACKAGE,
    RESOURCES,
    Recording,
    recording_bigquery,
)
from theletter_data_tests.support.zetasql_bigquery import BigQueryAnalyzer
from theletter_data_tests.support.zetasql_catalog import declared_tables

MONDAY = date(2026, 11, 9)
TUESDAY = MONDAY + timedelta(days=1)
# Two days: a write group of several days also counts its rows per day (staging/lines).
JOBS = {
    "daily_refresh": (MONDAY, TUESDAY),
    "weekly_cohorts": (MONDAY, MONDAY),
    "publish_dashboards": (TUESDAY, TUESDAY),
}
INTRADAY_JOB = "intraday_refresh"

SQL_METHODS = {"query", "replace", "rows_per_day"}
"""The warehouse methods that send SQL; their every call in the package must be driven here.
A new public method that reaches the client's `query` fails the test until it is added."""

SCRIPTING_NOT_RESOLVED: set[str] = set()
"""Scripting statements the warehouse may send that ZetaSQL parses but cannot resolve (README,
"What ZetaSQL does not analyse"). None today: a new kind fails the test until it is listed."""


@dataclass(frozen=True)
class Driven:
    """What running everything on the emulator sent, and what it materialized."""

    recording: Recording
    project: str
    dataset_prefix: str
    defs: dg.Definitions
    materialized: frozenset[dg.AssetKey]


@pytest.fixture(scope="module")
def driven(moto_endpoint, bigquery_emulator) -> Driven:  # type: ignore[no-untyped-def]
    with pytest.MonkeyPatch.context() as monkeypatch:
        return _drive_everything(moto_endpoint, bigquery_emulator, monkeypatch)


def _drive_everything(moto_endpoint, emulator, monkeypatch) -> Driven:  # type: ignore[no-untyped-def]
    """The production configuration (S3 on moto, BigQuery on the emulator): every job, then the
    trace and the demo's summary, with every statement recorded."""
    bucket = f"theletter-lake-{uuid.uuid4().hex[:8]}"
    prefix = f"z{uuid.uuid4().hex[:8]}_"
    for key, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "ap-northeast-1",
        "THELETTER_LAKE_URL": f"s3://{bucket}/raw",
        "THELETTER_BIGQUERY_PROJECT": emulator.project,
        "THELETTER_BIGQUERY_LOCATION": "asia-northeast1",
        "THELETTER_BIGQUERY_DATASET_PREFIX": prefix,
        "THELETTER_BIGQUERY_MAXIMUM_BYTES_BILLED": str(10 * 2**30),
        "THELETTER_PSEUDONYM_KEY": "zetasql-test-key",
    }.items():
        monkeypatch.setenv(key, value)
    boto3.client("s3", endpoint_url=moto_endpoint).create_bucket(
        Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": "ap-northeast-1"}
    )
    defs = build_definitions(
        Settings(
            environment=Environment.PRODUCTION,
            data_dir=Path("/nonexistent"),
            pseudonym_key_set=True,
            lake_endpoint_url=moto_endpoint,
            bigquery_api_endpoint=emulator.api_endpoint,
        )
    )
    generate_lake(
        Lake(url=f"s3://{bucket}/raw", endpoint_url=moto_endpoint),
        MONDAY, TUESDAY, newsletters=3, readers=150, seed=3,
    )  # fmt: skip
    warehouse = BigQueryWarehouse(
        project=emulator.project, dataset_prefix=prefix, api_endpoint=emulator.api_endpoint
    )
    for layer in sorted({table.layer for table in declared_tables()}):
        # A deployment's datasets exist before any run (the administrator's setup step).
        dataset = bigquery.Dataset(warehouse.dataset(layer))
        dataset.location = "asia-northeast1"
        emulator.client().create_dataset(dataset, exists_ok=True)
    with recording_bigquery() as recording, dg.instance_for_test() as instance:
        for job, (first, last) in JOBS.items():
            result = defs.resolve_job_def(job).execute_in_process(
                instance=instance,
                tags={
                    ASSET_PARTITION_RANGE_START_TAG: first.isoformat(),
                    ASSET_PARTITION_RANGE_END_TAG: last.isoformat(),
                },
            )
            assert result.success, job
        today = {"config": {"day": TUESDAY.isoformat()}}
        assert (
            defs.resolve_job_def(INTRADAY_JOB)
            .execute_in_process(
                instance=instance,
                run_config={"ops": {a.key.to_python_identifier(): today for a in INTRADAY_ASSETS}},
            )
            .success
        )
        start = datetime(TUESDAY.year, TUESDAY.month, TUESDAY.day, tzinfo=TOKYO)
        trace(warehouse, start, start + timedelta(days=1), request_id="req-0")
        trace(warehouse, start, start + timedelta(hours=3), newsletter_id="nl-0", min_level="ERROR")
        newsletter_summary(warehouse, DemoRange(MONDAY, TUESDAY))
        _fail_a_value_check(warehouse)
        materialized = frozenset(
            key
            for key in defs.resolve_asset_graph().get_all_asset_keys()
            if instance.get_latest_materialization_event(key) is not None
        )
    return Driven(recording, emulator.project, prefix, defs, materialized)


def _fail_a_value_check(warehouse: Warehouse) -> None:
    """A failed value check names its rows with one more query, sent only then: a day after
    the driven ones gets a funnel row whose delivery rate is out of range."""
    day = TUESDAY + timedelta(days=7)
    counts = {c.name: 0 for c in POST_EMAIL_FUNNEL.columns if c.type == "INT64"}
    row = counts | {
        "date": day, "newsletter_id": "nl_x", "post_id": "po_x", "days_since_send": 0,
        "first_sent_at": datetime(2026, 11, 17, tzinfo=TOKYO), "sent": 1, "delivered": 2,
        "delivery_rate": 2.0,
    }  # fmt: skip
    rows = pa.Table.from_pylist([row], schema=POST_EMAIL_FUNNEL.arrow_schema)
    warehouse.replace([PartitionWrite(POST_EMAIL_FUNNEL, day, day + timedelta(days=1), rows=rows)])
    checks = run_table_checks(warehouse, POST_EMAIL_FUNNEL, day, day + timedelta(days=1))
    (values,) = [c for c in checks if c.check_name == COLUMN_VALUES]
    assert not values.passed and "post_id=po_x has delivery_rate=2" in (values.description or "")


def test_every_statement_sent_to_bigquery_passes_zetasql(
    driven: Driven, zetasql: BigQueryAnalyzer
) -> None:
    analysis = zetasql.analyze(
        driven.recording.statements,
        project=driven.project,
        dataset_prefix=driven.dataset_prefix,
        tables=declared_tables(),
        loads=driven.recording.loads,
    )
    print(  # shown with -rP: what the check costs
        f"ZetaSQL: started in {zetasql.start_seconds:.1f} s; {analysis.statements} statements "
        f"({analysis.sql_statements} SQL statements) analysed in {analysis.seconds:.1f} s"
    )
    if analysis.rejections:
        pytest.fail(
            f"ZetaSQL refused {len(analysis.rejections)} of {analysis.statements} statements:\n"
            + "\n".join(str(r) for r in analysis.rejections),
            pytrace=False,
        )
    unresolved = {kind for _, kind in analysis.scripting} - SCRIPTING_NOT_RESOLVED
    assert not unresolved, f"scripting statements ZetaSQL cannot resolve: {sorted(unresolved)}"
    distinct = {(s.sql, s.parameters) for s in driven.recording.statements}
    assert analysis.statements == len(distinct) > 0
    assert analysis.sql_statements >= analysis.statements


def test_every_job_ran_and_every_asset_that_uses_the_warehouse_materialized(
    driven: Driven,
) -> None:
    jobs = {
        job.name
        for job in driven.defs.resolve_all_job_defs()
        if any("warehouse" in node.required_resource_keys for node in job.graph.node_defs)
    } - {"__ASSET_JOB"}
    assert jobs == {*JOBS, INTRADAY_JOB}, "drive the new job here: its SQL goes unchecked"
    uses_warehouse = {
        key
        for assets in driven.defs.resolve_asset_graph().assets_defs
        if "warehouse" in assets.required_resource_keys
        for key in assets.keys
    }
    missing = sorted(k.to_user_string() for k in uses_warehouse - driven.materialized)
    assert uses_warehouse and not missing, f"never materialized, so never analysed: {missing}"


def test_every_line_that_calls_the_warehouse_sent_a_statement(driven: Driven) -> None:
    unlisted = sorted(_methods_that_send_sql() - SQL_METHODS)
    assert not unlisted, f"warehouse methods that send SQL, not in SQL_METHODS: {unlisted}"
    sent_from = {s.origin for s in driven.recording.statements}
    never_sent = sorted(_warehouse_call_sites() - sent_from)
    assert not never_sent, f"calls whose SQL was never sent here, so never analysed: {never_sent}"


def _methods_that_send_sql() -> set[str]:
    """Public methods of the warehouse classes that reach `self.client.query` (or
    `query_and_wait`), directly or through other methods of theirs."""
    calls: dict[str, set[str]] = {}
    senders = set()
    for cls in (Warehouse, BigQueryWarehouse):
        (definition,) = ast.parse(textwrap.dedent(inspect.getsource(cls))).body
        for method in definition.body:
            if not isinstance(method, ast.FunctionDef):
                continue
            for node in ast.walk(method):
                if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
                    owner, name = ast.unparse(node.func.value), node.func.attr
                    if owner == "self":
                        calls.setdefault(method.name, set()).add(name)
                    elif owner == "self.client" and name in ("query", "query_and_wait"):
                        senders.add(method.name)
    while grown := {m for m, called in calls.items() if called & senders} - senders:
        senders |= grown
    return {name for name in senders if not name.startswith("_")}


def _warehouse_call_sites() -> set[str]:
    """`path:line` of every `...warehouse.<query|replace|rows_per_day>(` outside resources/.

    Parsed in a fresh interpreter: in this long test process CPython 3.11's AST builder has
    failed with "AST constructor recursion depth mismatch" (a garbage-collection finalizer
    running mid-parse), which says nothing about the code it reads."""
    script = textwrap.dedent(
        f"""
        import ast, json, pathlib
        package, resources = pathlib.Path({str(PACKAGE)!r}), pathlib.Path({str(RESOURCES)!r})
        sites = []
        for path in sorted(package.rglob("*.py")):
            if path.is_relative_to(resources):
                continue
            for node in ast.walk(ast.parse(path.read_text(), str(path))):
                if (
                    isinstance(node, ast.Call)
                    and isinstance(node.func, ast.Attribute)
                    and node.func.attr in {sorted(SQL_METHODS)!r}
                    and ast.unparse(node.func.value).endswith("warehouse")
                ):
                    sites.append(f"{{path.relative_to(package.parent)}}:{{node.lineno}}")
        print(json.dumps(sites))
        """
    )
    found = subprocess.run(
        [sys.executable, "-c", script], check=True, capture_output=True, text=True
    ).stdout
    return set(json.loads(found))
