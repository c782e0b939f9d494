"""Shared fixtures: a temporary local lake, a temporary DuckDB warehouse, the ingestion engine
and a fixed pseudonymisation key; a moto S3 server for the S3 code path."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from theletter_data.resources.duckdb_warehouse import DuckDBWarehouse
from theletter_data.resources.ingest_engine import IngestEngine
from theletter_data.resources.lake import Lake
from theletter_data.resources.pseudonymizer import Pseudonymizer
from theletter_data.resources.warehouse import Warehouse
from theletter_data_tests.support.bigquery_deployment import BigQueryDeployment, deployed_bigquery
from theletter_data_tests.support.bigquery_emulator import bigquery_emulator, bq_dataset  # noqa: F401
from theletter_data_tests.support.container_credentials import container_credentials  # noqa: F401
from theletter_data_tests.support.mariadb import mariadb  # noqa: F401
from theletter_data_tests.support.postgres import postgres  # noqa: F401
from theletter_data_tests.support.production_instance import production_environment  # noqa: F401
from theletter_data_tests.support.slack_webhook import webhook  # noqa: F401
from theletter_data_tests.support.week import Week, generate_week
from theletter_data_tests.support.zetasql_bigquery import zetasql  # noqa: F401

TEST_KEY = "test-pseudonym-key"


@pytest.fixture
def lake(tmp_path: Path) -> Lake:
    return Lake(url=str(tmp_path / "lake"))


@pytest.fixture
def duckdb_warehouse(tmp_path: Path) -> DuckDBWarehouse:
    return DuckDBWarehouse(path=str(tmp_path / "warehouse.duckdb"))


@pytest.fixture
def bigquery_deployment(bigquery_emulator) -> Iterator[BigQueryDeployment]:  # noqa: F811
    """Fresh datasets on the emulator, created by the setup identity; the warehouse used with
    the run identity's roles, every call checked by the IAM proxy (bigquery_iam_proxy.py)."""
    with deployed_bigquery(bigquery_emulator, conflict_backoff_seconds=0.05) as deployment:
        yield deployment


@pytest.fixture(params=["duckdb", "bigquery"])
def warehouse(request: pytest.FixtureRequest, duckdb_warehouse: DuckDBWarehouse) -> Warehouse:
    """The embedded default and the production warehouse (on the emulator, with the run
    identity's roles): every test of a staged or metric table runs its SQL on both."""
    if request.param == "duckdb":
        return duckdb_warehouse
    return request.getfixturevalue("bigquery_deployment").warehouse


@pytest.fixture
def engine(tmp_path: Path) -> IngestEngine:
    return IngestEngine(memory_limit="512MB", threads=2, temp_directory=str(tmp_path / "spill"))


@pytest.fixture
def pseudonymizer() -> Pseudonymizer:
    return Pseudonymizer(key=TEST_KEY)


@pytest.fixture
def resources(
    lake: Lake, warehouse: DuckDBWarehouse, engine: IngestEngine, pseudonymizer: Pseudonymizer
) -> dict[str, Any]:
    return {
        "lake": lake,
        "warehouse": warehouse,
        "ingest_engine": engine,
        "pseudonymizer": pseudonymizer,
    }


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    """A real-protocol S3 endpoint on 127.0.0.1 (moto's server), for the whole session."""
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    _let_moto_run_fargate_tasks_without_container_memory()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


def _let_moto_run_fargate_tasks_without_container_memory() -> None:
    """Real ECS runs a Fargate task whose containers set no memory of their own (the task's
    memory is enough), which is how Dagster's EcsRunLauncher registers run task definitions;
    moto 5.2 computes EC2 placement for every task and crashes on the missing value. Count such
    a container as using the task's memory, as Fargate does."""
    from moto.ecs import models

    original = models.EC2ContainerServiceBackend._calculate_task_resource_requirements

    def requirements(task_definition: Any) -> dict[str, Any]:
        for container in task_definition.container_definitions:
            if not any(k in container for k in ("memory", "memoryReservation", "Memory")):
                container["memory"] = int(task_definition.memory or 0)
        return original(task_definition)

    models.EC2ContainerServiceBackend._calculate_task_resource_requirements = staticmethod(  # type: ignore[method-assign]
        requirements
    )


@pytest.fixture
def aws_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "ap-northeast-1")


@pytest.fixture
def s3_lake(moto_endpoint: str, aws_credentials: None) -> Lake:
    """A lake in a fresh bucket of the moto server, under a prefix as production may use."""
    bucket = f"lake-{uuid.uuid4().hex[:12]}"
    boto3.client("s3", endpoint_url=moto_endpoint).create_bucket(
        Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": "ap-northeast-1"}
    )
    return Lake(url=f"s3://{bucket}/theletter", endpoint_url=moto_endpoint, region="ap-northeast-1")


@pytest.fixture(scope="session")
def week(tmp_path_factory: pytest.TempPathFactory) -> Week:
    """A generated week with every job run over it (shared: tests that change it copy it)."""
    return generate_week(tmp_path_factory.mktemp("week"))


SERVER_FIXTURES = frozenset(
    {
        "bigquery_emulator",
        "bigquery_deployment",
        "bq_dataset",
        "container_credentials",
        "mariadb",
        "moto_endpoint",
        "postgres",
        "s3_lake",
        "week",
        "zetasql",
    }
)
"""Fixtures that start a server or an emulator, or generate a lake: a test using one is slow."""


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark `slow` every test that needs a server, the emulator or a generated week (or that its
    module marks slow itself: real Dagster processes, daemons, the demo), so that
    `-m "not slow"` is the fast lane of pure-Python and DuckDB tests. The whole suite stays
    the CI's."""
    for item in items:
        callspec = getattr(item, "callspec", None)
        on_bigquery = callspec is not None and callspec.params.get("warehouse") == "bigquery"
        if on_bigquery or SERVER_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.slow)
