"""What the BigQuery emulator does with datasets and tables: DDL, partitioning, clustering,
options, INFORMATION_SCHEMA's partitions, copies and deletes by partition.

Each test asserts what the emulator does today; where BigQuery differs, a comment says what it
does instead, and EMULATOR-ONLY or GAP marks it (support/emulator_probe.py says what those
mean; the fixtures `bq` and `ds` are there too).
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

import pytest
from google.api_core.exceptions import Conflict, NotFound
from google.cloud import bigquery

from theletter_data_tests.support.emulator_probe import UTC, D, date_param, rows, run

if TYPE_CHECKING:
    from theletter_data_tests.support.bigquery_emulator import BigQueryEmulator


# --- the emulator itself -------------------------------------------------------------------------


def test_emulator_starts_and_answers(bigquery_emulator: BigQueryEmulator) -> None:
    print(f"bqemulator answered after {bigquery_emulator.startup_seconds:.2f}s")
    assert bigquery_emulator.alive()
    assert bigquery_emulator.startup_seconds < 60
    assert rows(bigquery_emulator.client(), "SELECT 1 AS one") == [{"one": 1}]


# --- datasets and DDL ----------------------------------------------------------------------------


def test_create_dataset_keeps_location(bigquery_emulator: BigQueryEmulator) -> None:
    client = bigquery_emulator.client()
    dataset_id = bigquery_emulator.create_dataset("loc", location="asia-northeast1")
    assert client.get_dataset(dataset_id).location == "asia-northeast1"
    # Without a location the dataset (and every job) reports US, like BigQuery's default.
    assert client.get_dataset(bigquery_emulator.create_dataset("noloc")).location == "US"


def test_ddl_create_table_partition_cluster_options(bq: bigquery.Client, ds: str) -> None:
    run(
        bq,
        f"""CREATE TABLE `{ds}.t` (
          s STRING OPTIONS(description='a string'), i INT64, f FLOAT64, b BOOL,
          d DATE OPTIONS(description='the day'), ts TIMESTAMP)
        PARTITION BY d CLUSTER BY s OPTIONS(description='table description')""",
    )
    table = bq.get_table(f"{ds}.t")
    assert table.time_partitioning.type_ == "DAY"
    assert table.time_partitioning.field == "d"
    assert table.description == "table description"
    assert [(f.name, f.field_type) for f in table.schema] == [
        ("s", "STRING"),
        ("i", "INTEGER"),
        ("f", "FLOAT"),
        ("b", "BOOLEAN"),
        ("d", "DATE"),
        ("ts", "TIMESTAMP"),
    ]
    # GAP: DDL CLUSTER BY and column OPTIONS(description) are accepted but dropped.
    # BigQuery: clustering_fields == ["s"], schema descriptions "a string" / "the day".
    assert table.clustering_fields is None
    assert [f.description for f in table.schema] == [None] * 6


def test_api_create_table_keeps_clustering_and_column_descriptions(
    bq: bigquery.Client, ds: str
) -> None:
    table = bigquery.Table(
        f"{ds}.t",
        schema=[
            bigquery.SchemaField("s", "STRING", description="a string"),
            bigquery.SchemaField("d", "DATE"),
        ],
    )
    table.time_partitioning = bigquery.TimePartitioning(field="d")
    table.clustering_fields = ["s"]
    bq.create_table(table)
    got = bq.get_table(f"{ds}.t")
    assert got.clustering_fields == ["s"]
    assert got.time_partitioning.field == "d"
    assert [f.description for f in got.schema] == ["a string", None]
    columns = rows(
        bq,
        f"SELECT column_name, is_partitioning_column, clustering_ordinal_position "
        f"FROM `{ds}.INFORMATION_SCHEMA.COLUMNS` ORDER BY ordinal_position",
    )
    assert columns == [
        {"column_name": "s", "is_partitioning_column": "NO", "clustering_ordinal_position": 1},
        {"column_name": "d", "is_partitioning_column": "YES", "clustering_ordinal_position": None},
    ]


def test_partition_by_anything_but_a_date_column_is_dropped(bq: bigquery.Client, ds: str) -> None:
    ddl = {
        "a": "(ts TIMESTAMP) PARTITION BY DATE(ts)",
        "b": "(ts TIMESTAMP) PARTITION BY TIMESTAMP_TRUNC(ts, DAY)",
        "c": "(d DATE) PARTITION BY DATE_TRUNC(d, MONTH)",
        "e": "(v INT64) PARTITION BY _PARTITIONDATE",
        "f": "(k INT64) PARTITION BY RANGE_BUCKET(k, GENERATE_ARRAY(0, 100, 10))",
    }
    for name, body in ddl.items():
        run(bq, f"CREATE TABLE `{ds}.{name}` {body}")
        table = bq.get_table(f"{ds}.{name}")
        # GAP: accepted, but the table is NOT partitioned. BigQuery: DAY on ts (a, b), MONTH on d
        # (c), ingestion-time DAY (e), integer range on k (f). Only `PARTITION BY <DATE column>`
        # is kept, so partition warehouse tables by a DATE column.
        assert (table.time_partitioning, table.range_partitioning) == (None, None), name
    # CREATE TABLE AS SELECT keeps PARTITION BY <DATE column> (but drops CLUSTER BY, as above).
    run(
        bq,
        f"CREATE TABLE `{ds}.g` PARTITION BY d CLUSTER BY v AS SELECT CURRENT_DATE() AS d, 1 AS v",
    )
    table = bq.get_table(f"{ds}.g")
    assert (table.time_partitioning.field, table.clustering_fields) == ("d", None)


@pytest.mark.filterwarnings("ignore:TimePartitioning.require_partition_filter will be removed")
def test_require_partition_filter_is_not_enforced(bq: bigquery.Client, ds: str) -> None:
    run(
        bq,
        f"CREATE TABLE `{ds}.ddl` (d DATE) PARTITION BY d "
        "OPTIONS(require_partition_filter=TRUE, partition_expiration_days=30)",
    )
    partitioning = bq.get_table(f"{ds}.ddl").time_partitioning
    # Set by DDL, both options are kept (on the TimePartitioning, not Table.require_...).
    assert partitioning.require_partition_filter is True
    assert partitioning.expiration_ms == 30 * 86_400_000
    table = bigquery.Table(f"{ds}.api", schema=[bigquery.SchemaField("d", "DATE")])
    table.time_partitioning = bigquery.TimePartitioning(field="d")
    table.require_partition_filter = True
    bq.create_table(table)
    # GAP: set through the API (Table.require_partition_filter) the flag is dropped.
    assert bq.get_table(f"{ds}.api").require_partition_filter is None
    # GAP: never enforced. BigQuery rejects these queries ("Cannot query over table ... without
    # a filter over column(s) 'd' that can be used for partition elimination").
    assert rows(bq, f"SELECT * FROM `{ds}.ddl`") == []
    assert rows(bq, f"SELECT * FROM `{ds}.api`") == []


def test_alter_table_add_column_and_set_options(bq: bigquery.Client, ds: str) -> None:
    run(bq, f"CREATE TABLE `{ds}.t` (x INT64)")
    run(bq, f"INSERT INTO `{ds}.t` VALUES (1)")
    run(bq, f"ALTER TABLE `{ds}.t` ADD COLUMN y STRING")
    run(bq, f"ALTER TABLE `{ds}.t` SET OPTIONS(description='new')")
    # The column exists for queries...
    assert rows(bq, f"SELECT * FROM `{ds}.t`") == [{"x": 1, "y": None}]
    # GAP: ...but tables.get still shows the old schema, and SET OPTIONS is dropped.
    # BigQuery: schema [x, y], description "new".
    table = bq.get_table(f"{ds}.t")
    assert [f.name for f in table.schema] == ["x"]
    assert table.description is None


def test_table_expiration_is_dropped(bq: bigquery.Client, ds: str) -> None:
    run(bq, f"CREATE TABLE `{ds}.t` (x INT64)")
    table = bq.get_table(f"{ds}.t")
    table.expires = dt.datetime.now(UTC) + dt.timedelta(hours=6)
    bq.update_table(table, ["expires"])
    run(
        bq,
        f"CREATE TABLE `{ds}.u` (x INT64) OPTIONS("
        "expiration_timestamp=TIMESTAMP_ADD(CURRENT_TIMESTAMP(), INTERVAL 1 HOUR))",
    )
    # GAP: BigQuery keeps both expirations and deletes the tables when they pass; the emulator
    # drops them (tables never expire). Scratch-table cleanup cannot rely on it here.
    assert bq.get_table(f"{ds}.t").expires is None
    assert bq.get_table(f"{ds}.u").expires is None


def test_job_location_is_always_us(bigquery_emulator: BigQueryEmulator) -> None:
    tokyo = "asia-northeast1"
    dataset_id = bigquery_emulator.create_dataset("tokyo", location=tokyo)
    client = bigquery_emulator.client()
    job = client.query(f"SELECT COUNT(*) AS n FROM `{dataset_id}.INFORMATION_SCHEMA.TABLES`")
    job.result()
    job_in_tokyo = client.query("SELECT 1 AS x", location=tokyo)
    job_in_tokyo.result()
    # GAP (cosmetic): BigQuery runs both jobs in asia-northeast1 and reports that location.
    assert (job.location, job_in_tokyo.location) == ("US", "US")


def test_create_table_if_not_exists_is_idempotent(bq: bigquery.Client, ds: str) -> None:
    for _ in range(2):
        run(bq, f"CREATE TABLE IF NOT EXISTS `{ds}.t` (a INT64)")
    run(bq, f"CREATE TABLE IF NOT EXISTS `{ds}.t` (other STRING)")  # no-op: table exists
    assert [f.name for f in bq.get_table(f"{ds}.t").schema] == ["a"]
    with pytest.raises(Conflict, match="Already Exists: Table"):
        run(bq, f"CREATE TABLE `{ds}.t` (a INT64)")
    run(bq, f"CREATE OR REPLACE TABLE `{ds}.t` (b STRING)")
    assert [f.name for f in bq.get_table(f"{ds}.t").schema] == ["b"]


def test_drop_table(bq: bigquery.Client, ds: str) -> None:
    run(bq, f"CREATE TABLE `{ds}.t` (a INT64)")
    run(bq, f"DROP TABLE `{ds}.t`")
    with pytest.raises(NotFound):
        bq.get_table(f"{ds}.t")
    with pytest.raises(NotFound, match="was not found"):
        run(bq, f"DROP TABLE `{ds}.t`")
    run(bq, f"DROP TABLE IF EXISTS `{ds}.t`")
    run(bq, f"CREATE TABLE `{ds}.u` (a INT64)")
    bq.delete_table(f"{ds}.u")
    bq.delete_table(f"{ds}.u", not_found_ok=True)


# --- partitions, INFORMATION_SCHEMA, job destinations, copies -----------------------------------


def test_information_schema_partitions(bq: bigquery.Client, ds: str) -> None:
    run(bq, f"CREATE TABLE `{ds}.p` (d DATE, v INT64) PARTITION BY d")
    run(
        bq,
        f"INSERT INTO `{ds}.p` VALUES (DATE '2026-11-01', 1), (DATE '2026-11-01', 2), "
        "(DATE '2026-11-02', 3), (NULL, 4)",
    )
    run(bq, f"CREATE TABLE `{ds}.u` (v INT64)")
    run(bq, f"INSERT INTO `{ds}.u` VALUES (1)")
    got = rows(
        bq,
        f"SELECT table_name, partition_id, total_rows, total_logical_bytes, storage_tier, "
        f"last_modified_time IS NOT NULL AS has_mtime FROM `{ds}.INFORMATION_SCHEMA.PARTITIONS` "
        "ORDER BY table_name, partition_id",
    )
    common = {"total_logical_bytes": 0, "storage_tier": "ACTIVE", "has_mtime": True}
    # GAP: total_logical_bytes is 0 (BigQuery: the partition's size); an unpartitioned table's
    # single row has partition_id NULL in BigQuery, '__NULL__' here.
    assert got == [
        {"table_name": "p", "partition_id": "20261101", "total_rows": 2, **common},
        {"table_name": "p", "partition_id": "20261102", "total_rows": 1, **common},
        {"table_name": "p", "partition_id": "__NULL__", "total_rows": 1, **common},
        {"table_name": "u", "partition_id": "__NULL__", "total_rows": 1, **common},
    ]


def test_query_job_destination_is_not_written(bq: bigquery.Client, ds: str) -> None:
    run(bq, f"CREATE TABLE `{ds}.p` (d DATE, v INT64) PARTITION BY d")
    run(bq, f"INSERT INTO `{ds}.p` VALUES (DATE '2026-11-01', 1)")
    old, new = {"d": D(2026, 11, 1), "v": 1}, {"d": D(2026, 11, 1), "v": 100}
    cases = [
        # The rows the job returns imitate the write: WRITE_APPEND returns old + new rows...
        (f"{ds}.p", "WRITE_APPEND", [old, new]),
        (f"{ds}.p$20261101", "WRITE_TRUNCATE", [new]),
        (f"{ds}.p", "WRITE_TRUNCATE", [new]),
        (f"{ds}.created", "WRITE_EMPTY", [new]),
    ]
    for destination, disposition, returned in cases:
        config = bigquery.QueryJobConfig(destination=destination, write_disposition=disposition)
        job = bq.query("SELECT DATE '2026-11-01' AS d, 100 AS v", job_config=config)
        assert [dict(r) for r in job.result()] == returned, (destination, disposition)
    # GAP: ...but nothing is written, silently. BigQuery appends / replaces that partition /
    # replaces the table / creates it. Write with DML, MERGE or CREATE TABLE AS instead.
    assert rows(bq, f"SELECT d, v FROM `{ds}.p`") == [old]
    assert [t.table_id for t in bq.list_tables(ds)] == ["p"]


def test_copy_table(bq: bigquery.Client, ds: str) -> None:
    run(bq, f"CREATE TABLE `{ds}.p` (d DATE, v INT64) PARTITION BY d")
    run(bq, f"INSERT INTO `{ds}.p` VALUES (DATE '2026-11-01', 1), (DATE '2026-11-02', 2)")
    bq.copy_table(f"{ds}.p", f"{ds}.p2").result()
    copy = bq.get_table(f"{ds}.p2")
    assert (copy.time_partitioning.field, copy.num_rows) == ("d", 2)
    # GAP: BigQuery copies one partition with decorators on both sides.
    with pytest.raises(NotFound, match=r"p\$20261101"):
        bq.copy_table(f"{ds}.p$20261101", f"{ds}.p3$20261101").result()


def test_delete_by_partition_column(bq: bigquery.Client, ds: str) -> None:
    run(bq, f"CREATE TABLE `{ds}.p` (d DATE, v INT64) PARTITION BY d")
    run(bq, f"INSERT INTO `{ds}.p` VALUES (DATE '2026-11-01', 1), (DATE '2026-11-02', 2)")
    job = run(bq, f"DELETE FROM `{ds}.p` WHERE d = @d", [date_param("d", D(2026, 11, 2))])
    assert job.num_dml_affected_rows == 1
    assert rows(bq, f"SELECT v FROM `{ds}.p`") == [{"v": 1}]
