"""BigQuery's partitioned, clustered tables loaded by Parquet load jobs, written with nothing but
the run identity's roles (every call checked by the IAM proxy), and writers colliding on a
shared table retried until each lands exactly once."""

from __future__ import annotations

import dataclasses
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pyarrow as pa
import pytest

from theletter_data.resources.bigquery_warehouse import BigQueryWarehouse
from theletter_data.resources.warehouse import PartitionWrite, Warehouse
from theletter_data.tables import Column
from theletter_data_tests.support.bigquery_conflicts import ConflictingBigQuery
from theletter_data_tests.support.bigquery_deployment import deployed_bigquery
from theletter_data_tests.support.warehouse_tables import (
    DAY,
    NEXT,
    QUARANTINE,
    T,
    content,
    day_of,
    rows,
    staged,
    table_rows,
)


@pytest.fixture
def bigquery(bigquery_deployment) -> BigQueryWarehouse:  # type: ignore[no-untyped-def]
    """The run identity's warehouse, with a bytes limit of its own."""
    return bigquery_deployment.warehouse_as(
        bigquery_deployment.run_proxy, maximum_bytes_billed=123 * 2**30
    )


def test_bigquery_tables_are_day_partitioned_clustered_and_described(bigquery) -> None:
    bigquery.replace([PartitionWrite(T, DAY, NEXT, rows=rows((DAY, "a", 1)))])
    table = bigquery.client.get_table(bigquery.table_id(T))
    assert table.time_partitioning.field == "date"
    assert table.time_partitioning.type_ == "DAY"
    assert table.clustering_fields == ["thing"]
    assert [f.description for f in table.schema] == ["Day.", "Thing.", "Count."]
    assert table.table_id == "t" and bigquery.table_id(T).split(".")[1].endswith("_metrics")


def test_bigquery_rows_arrive_by_load_job_and_leave_no_scratch_table(bigquery) -> None:
    reader = rows((DAY, "a", 1), (DAY, "b", 2)).to_reader(max_chunksize=1)
    bigquery.replace([PartitionWrite(T, DAY, NEXT, rows=reader)])
    dataset = bigquery.dataset("metrics")
    assert [t.table_id for t in bigquery.client.list_tables(dataset)] == ["t"]
    assert content(bigquery) == [(DAY, "a", 1), (DAY, "b", 2)]


def test_bigquery_names_follow_the_configured_datasets(bigquery) -> None:
    sql = bigquery._qualify("SELECT * FROM staging.stg_page_views AS v JOIN metrics.t USING (x)")
    prefix = bigquery.dataset_prefix
    assert f"`{bigquery.project}`.{prefix}staging.stg_page_views AS v" in sql
    assert f"`{bigquery.project}`.{prefix}metrics.t USING" in sql


def test_every_bigquery_job_carries_the_bytes_limit(bigquery) -> None:
    # The emulator accepts but never enforces maximum_bytes_billed, and reports no bytes: what
    # can be checked offline is that every job is configured with the limit.
    for dry_run in (False, True):
        config = bigquery._job_config({"d": DAY}, dry_run=dry_run)
        assert config.maximum_bytes_billed == 123 * 2**30
        assert config.dry_run is dry_run


# --- BigQuery as production runs it --------------------------------------------------------


def test_bigquery_writes_with_only_the_run_identitys_roles(bigquery_deployment) -> None:
    """deploy/README.md grants runs roles/bigquery.jobUser on the project and
    roles/bigquery.dataEditor on the datasets, which the setup step created: no permission to
    create datasets, which BigQuery checks on the project."""
    warehouse = bigquery_deployment.warehouse
    assert warehouse.replace(day_of("a", good=2, bad=1)) == {"staging.s_a": 2, "staging.q": 1}
    assert len(table_rows(warehouse, QUARANTINE)) == 1
    run = bigquery_deployment.run_proxy
    assert run.refused() == []
    checked = run.checked()
    assert checked["bigquery.datasets.create"] == 0
    assert {"bigquery.jobs.create", "bigquery.tables.create", "bigquery.tables.updateData"} <= set(
        checked
    )
    assert bigquery_deployment.setup_proxy.checked()["bigquery.datasets.create"] == 2


def test_a_refused_permission_is_permanent_and_names_the_permission_and_role(
    bigquery_emulator,
) -> None:
    # Nobody ran the setup step: the datasets, and so their grants, do not exist.
    with deployed_bigquery(bigquery_emulator, set_up=False) as deployment:
        warehouse = deployment.warehouse
        with pytest.raises(warehouse.permanent_errors()) as refused:
            warehouse.replace(day_of("a", good=1, bad=0))
        message = str(refused.value)
        assert "bigquery.tables.get" in message
        assert "roles/bigquery.dataEditor" in message
        assert "theletter-data bigquery-setup" in message
        assert len(deployment.run_proxy.refused()) == 1  # asked once, not retried


def test_a_query_outside_the_granted_datasets_names_the_read_permission(
    bigquery_deployment, bigquery_emulator
) -> None:
    with deployed_bigquery(bigquery_emulator) as other:
        other.warehouse.replace([PartitionWrite(T, DAY, NEXT, rows=rows((DAY, "a", 1)))])
        elsewhere = other.warehouse.table_id(T)
        warehouse = bigquery_deployment.warehouse
        with pytest.raises(warehouse.permanent_errors()) as refused:
            warehouse.query(f"SELECT COUNT(*) AS n FROM `{elsewhere}`")
    # BigQuery words this one "permission to query table": the warehouse names the permission.
    assert "bigquery.tables.getData" in str(refused.value)
    assert "roles/bigquery.dataEditor" in str(refused.value)


def test_a_quota_403_is_not_permanent(bigquery_deployment) -> None:
    """BigQuery answers "not now" with 403 too (quotaExceeded, rateLimitExceeded): those are
    left to the step's retry policy."""
    from google.api_core import exceptions

    from theletter_data_tests.support.bigquery_proxy import BigQueryProxy, error_response

    class QuotaExceeded(BigQueryProxy):
        def answer(self, request):  # type: ignore[no-untyped-def]
            if request.method == "POST" and request.path.endswith("/jobs"):
                return error_response(
                    403, "Quota exceeded: Your project exceeded quota for free query bytes "
                    "scanned.", "quotaExceeded",
                )  # fmt: skip
            return None

    proxy = QuotaExceeded(bigquery_deployment.run_proxy.url)
    try:
        warehouse = bigquery_deployment.warehouse_as(proxy)
        with pytest.raises(exceptions.Forbidden) as refused:
            warehouse.query("SELECT 1 AS x")
        assert not isinstance(refused.value, warehouse.permanent_errors())
    finally:
        proxy.stop()


@pytest.mark.parametrize("applied", [False, True], ids=["aborted", "applied-answer-lost"])
def test_colliding_writers_are_retried_and_nothing_is_lost_or_doubled(
    bigquery_deployment, applied: bool
) -> None:
    """Three streams stage the same day at once, each writing its staged table and its rows of
    the shared quarantine in one transaction; BigQuery aborts two of the transactions as
    colliding. `applied`: the aborted transaction's statements ran anyway (an answer lost)."""
    conflicting = ConflictingBigQuery(
        bigquery_deployment.run_proxy.url, conflicts=2, applied=applied
    )
    streams = {"a": (3, 2), "b": (1, 4), "c": (2, 0)}

    def stage(stream: str) -> dict[str, int]:
        warehouse = bigquery_deployment.warehouse_as(conflicting, conflict_backoff_seconds=0.05)
        return warehouse.replace(day_of(stream, *streams[stream]))

    try:
        with ThreadPoolExecutor(len(streams)) as pool:
            counts = dict(zip(streams, pool.map(stage, streams), strict=True))
    finally:
        conflicting.stop()
    assert len(conflicting.injected) == 2
    assert all("Transaction is aborted due to concurrent update" in m for m in conflicting.injected)
    warehouse = bigquery_deployment.warehouse
    for stream, (good, bad) in streams.items():
        assert counts[stream] == {f"staging.s_{stream}": good, "staging.q": bad}
        assert table_rows(warehouse, staged(stream)) == [(DAY, f"ok{i}", i) for i in range(good)]
    expected = sorted((DAY, s, f"bad{i}") for s, (_, bad) in streams.items() for i in range(bad))
    assert table_rows(warehouse, QUARANTINE) == expected  # 6 rows, each once


def test_a_write_that_keeps_colliding_fails_for_the_step_to_retry(bigquery_deployment) -> None:
    from theletter_data.resources.bigquery_errors import ConcurrentUpdate

    conflicting = ConflictingBigQuery(bigquery_deployment.run_proxy.url, conflicts=99)
    try:
        warehouse = bigquery_deployment.warehouse_as(
            conflicting, conflict_attempts=3, conflict_backoff_seconds=0.01
        )
        single = [PartitionWrite(T, DAY, NEXT, rows=rows((DAY, "a", 1)))]
        with pytest.raises(ConcurrentUpdate):
            warehouse.replace(single)
    finally:
        conflicting.stop()
    assert not issubclass(ConcurrentUpdate, warehouse.permanent_errors())
    # A lone MERGE collides with BigQuery's other wording; three attempts, then the step's turn.
    assert len(conflicting.injected) == 3
    assert all("Could not serialize access to table" in m for m in conflicting.injected)
    assert content(bigquery_deployment.warehouse) == []


def test_a_column_the_declaration_gained_is_added_to_the_existing_table(
    warehouse: Warehouse,
) -> None:
    """A deployment's table predates a new nullable column (as stg_email_events gained SES's
    diagnostic fields): the next write adds it, older rows read NULL, nothing is lost. On
    BigQuery the column is added by patching the table's schema (appending NULLABLE columns is
    allowed); the emulator records the patched schema but does not alter its storage, so there
    the write itself cannot be run offline and the test reads the schema back instead."""
    warehouse.replace([PartitionWrite(T, DAY, NEXT, rows=rows((DAY, "a", 1)))])
    grown = dataclasses.replace(
        T, columns=(*T.columns, Column("note", "STRING", "Added later.", required=False))
    )
    warehouse.create_table(grown)
    if isinstance(warehouse, BigQueryWarehouse):
        schema = warehouse.client.get_table(warehouse.table_id(T)).schema
        assert [(f.name, f.field_type, f.mode, f.description) for f in schema][-2:] == [
            ("n", "INT64", "NULLABLE", "Count."),
            ("note", "STRING", "NULLABLE", "Added later."),
        ]
        return
    data = pa.Table.from_pylist(
        [{"date": NEXT, "thing": "b", "n": 2, "note": "new"}], schema=grown.arrow_schema
    )
    warehouse.replace([PartitionWrite(grown, NEXT, NEXT + timedelta(days=1), rows=data)])
    result = warehouse.query("SELECT date, thing, n, note FROM metrics.t ORDER BY date")
    assert [tuple(r.values()) for r in result.to_pylist()] == [
        (DAY, "a", 1, None),
        (NEXT, "b", 2, "new"),
    ]
