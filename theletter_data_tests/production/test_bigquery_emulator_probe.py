"""What the local BigQuery emulator (bqemulator 1.4.0, scripts/bqemulator.sh) does, one behaviour a
test, through the real google-cloud-bigquery client.

Each test asserts what the emulator does today. Where that differs from production BigQuery, the
test asserts the emulator's behaviour (so an emulator upgrade that fixes it fails here and gets
noticed) and a comment says what BigQuery does instead. Code meant for production must not rely
on any behaviour marked EMULATOR-ONLY below; tests of it must avoid the gaps marked GAP.
"""

from __future__ import annotations

import datetime as dt
import io
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from google.api_core.exceptions import BadRequest, Conflict, NotFound
from google.cloud import bigquery

if TYPE_CHECKING:
    from theletter_data_tests.support.bigquery_emulator import BigQueryEmulator

# The fixtures (bigquery_emulator, bq_dataset) live in support/bigquery_emulator.py.

UTC = dt.UTC
D = dt.date


def rows(
    client: bigquery.Client, sql: str, params: list[Any] | None = None, **config: Any
) -> list[dict[str, Any]]:
    job_config = bigquery.QueryJobConfig(query_parameters=params or [], **config)
    return [dict(row) for row in client.query(sql, job_config=job_config).result()]


def run(client: bigquery.Client, sql: str, params: list[Any] | None = None) -> bigquery.QueryJob:
    job = client.query(sql, job_config=bigquery.QueryJobConfig(query_parameters=params or []))
    job.result()
    return job


def date_param(name: str, value: dt.date) -> bigquery.ScalarQueryParameter:
    return bigquery.ScalarQueryParameter(name, "DATE", value)


def parquet_bytes(table: pa.Table) -> io.BytesIO:
    buf = io.BytesIO()
    pq.write_table(table, buf)
    buf.seek(0)
    return buf


def load_parquet(
    client: bigquery.Client, data: io.BytesIO | Path, destination: str, **config: Any
) -> bigquery.LoadJob:
    """A Parquet load job from a local file object, sent as a resumable upload (no `size`)."""
    job_config = bigquery.LoadJobConfig(source_format=bigquery.SourceFormat.PARQUET, **config)
    if isinstance(data, Path):
        with data.open("rb") as fh:
            job = client.load_table_from_file(fh, destination, job_config=job_config)
    else:
        job = client.load_table_from_file(data, destination, job_config=job_config)
    job.result()
    return job


EVENTS = pa.table(
    {
        "s": ["a", "b"],
        "i": pa.array([1, 2], pa.int64()),
        "d": pa.array([D(2026, 11, 1), D(2026, 11, 2)], pa.date32()),
        "ts": pa.array(
            [
                dt.datetime(2026, 11, 1, 9, 30, tzinfo=UTC),
                dt.datetime(2026, 11, 2, 23, 59, 59, 123456, tzinfo=UTC),
            ],
            pa.timestamp("us", tz="UTC"),
        ),
    }
)
EVENTS_SCHEMA = [
    bigquery.SchemaField("s", "STRING"),
    bigquery.SchemaField("i", "INT64"),
    bigquery.SchemaField("d", "DATE"),
    bigquery.SchemaField("ts", "TIMESTAMP"),
]


@pytest.fixture
def bq(bigquery_emulator: BigQueryEmulator) -> bigquery.Client:
    return bigquery_emulator.client()


@pytest.fixture
def ds(bigquery_emulator: BigQueryEmulator, bq_dataset: str) -> str:
    """`project.dataset` of a fresh dataset, for backticked fully qualified names."""
    return f"{bigquery_emulator.project}.{bq_dataset}"


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


# --- Parquet load jobs ---------------------------------------------------------------------------


def test_parquet_load_into_new_table_needs_an_explicit_schema(bq: bigquery.Client, ds: str) -> None:
    # GAP: BigQuery creates the table from the Parquet file's own schema (CREATE_IF_NEEDED).
    # The emulator creates it only from LoadJobConfig.schema; without one the job fails.
    with pytest.raises(BadRequest, match="Table with name t0 does not exist"):
        load_parquet(bq, parquet_bytes(EVENTS), f"{ds}.t0")
    with pytest.raises(BadRequest, match="Table with name t1 does not exist"):
        load_parquet(bq, parquet_bytes(EVENTS), f"{ds}.t1", autodetect=True)


def test_parquet_load_into_new_table_with_schema(bq: bigquery.Client, ds: str) -> None:
    job = load_parquet(
        bq,
        parquet_bytes(EVENTS),
        f"{ds}.t",
        schema=EVENTS_SCHEMA,
        time_partitioning=bigquery.TimePartitioning(field="d"),
        clustering_fields=["s"],
    )
    assert job.output_rows == 2
    table = bq.get_table(f"{ds}.t")
    assert [f.name for f in table.schema] == ["s", "i", "d", "ts"]
    assert table.num_rows == 2
    # GAP: the load job's time_partitioning / clustering are ignored when it creates the table.
    # BigQuery creates it partitioned by d and clustered by s. Create tables with DDL first.
    assert table.time_partitioning is None
    assert table.clustering_fields is None


def test_parquet_load_append_and_truncate_into_partitioned_table(
    bq: bigquery.Client, ds: str, tmp_path: Path
) -> None:
    run(bq, f"CREATE TABLE `{ds}.t` (s STRING, i INT64, d DATE, ts TIMESTAMP) PARTITION BY d")
    path = tmp_path / "events.parquet"
    pq.write_table(EVENTS, path)
    load_parquet(bq, path, f"{ds}.t", write_disposition="WRITE_APPEND")
    load_parquet(bq, path, f"{ds}.t", write_disposition="WRITE_APPEND")
    assert rows(bq, f"SELECT COUNT(*) AS n FROM `{ds}.t`") == [{"n": 4}]
    load_parquet(bq, path, f"{ds}.t", write_disposition="WRITE_TRUNCATE")
    # WRITE_TRUNCATE replaces the whole table (all partitions) and keeps its partitioning.
    assert rows(bq, f"SELECT * FROM `{ds}.t` ORDER BY i") == [
        {"s": "a", "i": 1, "d": D(2026, 11, 1), "ts": dt.datetime(2026, 11, 1, 9, 30, tzinfo=UTC)},
        {
            "s": "b",
            "i": 2,
            "d": D(2026, 11, 2),
            "ts": dt.datetime(2026, 11, 2, 23, 59, 59, 123456, tzinfo=UTC),
        },
    ]
    assert bq.get_table(f"{ds}.t").time_partitioning.field == "d"


def test_parquet_timestamp_with_non_utc_zone_keeps_the_instant(
    bq: bigquery.Client, ds: str
) -> None:
    run(bq, f"CREATE TABLE `{ds}.t` (ts TIMESTAMP, d DATE)")
    tokyo = dt.timezone(dt.timedelta(hours=9))
    table = pa.table(
        {
            "ts": pa.array(
                [dt.datetime(2026, 11, 2, 0, 30, tzinfo=tokyo)], pa.timestamp("us", tz="Asia/Tokyo")
            ),
            "d": pa.array([D(2026, 11, 2)], pa.date32()),
        }
    )
    load_parquet(bq, parquet_bytes(table), f"{ds}.t")
    assert rows(bq, f"SELECT ts, CAST(ts AS STRING) AS s, d FROM `{ds}.t`") == [
        {
            "ts": dt.datetime(2026, 11, 1, 15, 30, tzinfo=UTC),
            "s": "2026-11-01 15:30:00+00",
            "d": D(2026, 11, 2),
        }
    ]


def test_parquet_load_matches_columns_by_position_not_name(bq: bigquery.Client, ds: str) -> None:
    run(bq, f"CREATE TABLE `{ds}.t` (a STRING, b STRING, n INT64)")
    swapped = pa.table({"b": ["B"], "a": ["A"], "n": pa.array([1], pa.int64())})
    load_parquet(bq, parquet_bytes(swapped), f"{ds}.t")
    # GAP: BigQuery matches Parquet columns to table columns by NAME ({"a": "A", "b": "B"}).
    # The emulator inserts by POSITION, silently. Write Parquet in the table's column order.
    assert rows(bq, f"SELECT * FROM `{ds}.t`") == [{"a": "B", "b": "A", "n": 1}]
    # A file missing a NULLABLE column: BigQuery fills NULL; the emulator fails.
    subset = pa.table({"a": ["A"], "n": pa.array([2], pa.int64())})
    with pytest.raises(BadRequest, match="table t has 3 columns but 2 values were supplied"):
        load_parquet(bq, parquet_bytes(subset), f"{ds}.t")


def test_parquet_load_of_100k_rows(bq: bigquery.Client, ds: str, tmp_path: Path) -> None:
    n = 100_000
    start = dt.datetime(2026, 11, 1, tzinfo=UTC)
    table = pa.table(
        {
            "d": pa.array([D(2026, 11, 1) + dt.timedelta(days=i % 30) for i in range(n)]),
            "ts": pa.array(
                [start + dt.timedelta(seconds=i) for i in range(n)], pa.timestamp("us", tz="UTC")
            ),
            "s": [f"user{i % 5000}" for i in range(n)],
            "v": pa.array(range(n), pa.int64()),
            "f": pa.array([i / 3 for i in range(n)]),
        }
    )
    path = tmp_path / "big.parquet"
    pq.write_table(table, path)
    run(
        bq,
        f"CREATE TABLE `{ds}.big` (d DATE, ts TIMESTAMP, s STRING, v INT64, f FLOAT64) "
        "PARTITION BY d CLUSTER BY s",
    )
    began = time.perf_counter()
    job = load_parquet(bq, path, f"{ds}.big")
    load_s = time.perf_counter() - began
    print(f"100k-row Parquet load: {load_s:.2f}s")
    assert job.output_rows == n
    assert load_s < 30
    assert rows(
        bq, f"SELECT COUNT(*) AS n, COUNT(DISTINCT d) AS days, SUM(v) AS total FROM `{ds}.big`"
    ) == [{"n": n, "days": 30, "total": n * (n - 1) // 2}]
    partitions = rows(
        bq,
        f"SELECT COUNT(*) AS n, SUM(total_rows) AS total FROM `{ds}.INFORMATION_SCHEMA.PARTITIONS`"
        " WHERE table_name = 'big'",
    )
    assert partitions == [{"n": 30, "total": n}]


def test_partition_decorator_load_fails(bq: bigquery.Client, ds: str) -> None:
    run(bq, f"CREATE TABLE `{ds}.t` (s STRING, i INT64, d DATE, ts TIMESTAMP) PARTITION BY d")
    one_day = EVENTS.filter(pc.equal(EVENTS["d"], pa.scalar(D(2026, 11, 1))))
    # GAP: BigQuery replaces just that partition (WRITE_TRUNCATE on table$20261101).
    with pytest.raises(BadRequest, match=r"Invalid table id for SQL: 't\$20261101'"):
        load_parquet(
            bq, parquet_bytes(one_day), f"{ds}.t$20261101", write_disposition="WRITE_TRUNCATE"
        )


@pytest.mark.filterwarnings("ignore:Loading pandas DataFrame into BigQuery:FutureWarning")
@pytest.mark.filterwarnings("ignore:Loading DataFrames via google-cloud-bigquery is deprecated")
def test_multipart_upload_fails(bq: bigquery.Client, ds: str) -> None:
    run(bq, f"CREATE TABLE `{ds}.t` (s STRING, i INT64, d DATE, ts TIMESTAMP)")
    data = parquet_bytes(EVENTS)
    size = len(data.getvalue())
    job_config = bigquery.LoadJobConfig(source_format="PARQUET")
    # GAP: a known `size` under 5 MiB makes the client send a multipart upload, whose media part
    # has Content-Type */*; the emulator rejects it. BigQuery accepts it. load_table_from_dataframe
    # always passes a size. A file object without `size` goes resumable, which works.
    with pytest.raises(BadRequest, match=r"second part has unsupported Content-Type '\*/\*'"):
        bq.load_table_from_file(data, f"{ds}.t", size=size, job_config=job_config)
    frame = pd.DataFrame({"s": ["x"], "i": [1]})
    with pytest.raises(BadRequest, match=r"second part has unsupported Content-Type '\*/\*'"):
        bq.load_table_from_dataframe(frame, f"{ds}.t")


@pytest.mark.filterwarnings("ignore:Loading pandas DataFrame into BigQuery:FutureWarning")
@pytest.mark.filterwarnings("ignore:Loading DataFrames via google-cloud-bigquery is deprecated")
def test_load_table_from_dataframe_works_when_resumable(
    bq: bigquery.Client, ds: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import google.cloud.bigquery.client as client_module

    # EMULATOR-ONLY workaround: a zero multipart threshold makes every upload resumable.
    monkeypatch.setattr(client_module, "_MAX_MULTIPART_SIZE", 0)
    frame = pd.DataFrame({"d": [D(2026, 11, 2)], "s": ["y"], "i": [2]})
    bq.load_table_from_dataframe(frame, f"{ds}.t").result()
    assert [(f.name, f.field_type) for f in bq.get_table(f"{ds}.t").schema] == [
        ("d", "DATE"),
        ("s", "STRING"),
        ("i", "INTEGER"),
    ]
    assert rows(bq, f"SELECT * FROM `{ds}.t`") == [{"d": D(2026, 11, 2), "s": "y", "i": 2}]


def test_load_from_gs_uri_reads_the_local_gcs_root(
    bigquery_emulator: BigQueryEmulator, bq: bigquery.Client, ds: str
) -> None:
    # EMULATOR-ONLY: gs://bucket/path resolves to <data_dir>/gcs/bucket/path (BQEMU_GCS_LOCAL_ROOT).
    target = bigquery_emulator.gcs_root / "lake" / ds / "events.parquet"
    target.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(EVENTS, target)
    run(bq, f"CREATE TABLE `{ds}.t` (s STRING, i INT64, d DATE, ts TIMESTAMP)")
    job_config = bigquery.LoadJobConfig(source_format="PARQUET")
    uri = f"gs://lake/{ds}/events.parquet"
    bq.load_table_from_uri(uri, f"{ds}.t", job_config=job_config).result()
    assert rows(bq, f"SELECT COUNT(*) AS n FROM `{ds}.t`") == [{"n": 2}]


# --- scripts and transactions --------------------------------------------------------------------


@pytest.fixture
def two_tables(bq: bigquery.Client, ds: str) -> str:
    run(bq, f"CREATE TABLE `{ds}.t` (d DATE, v INT64)")
    run(bq, f"CREATE TABLE `{ds}.s` (d DATE, v INT64)")
    run(bq, f"INSERT INTO `{ds}.t` VALUES (DATE '2026-11-01', 1), (DATE '2026-11-02', 2)")
    run(bq, f"INSERT INTO `{ds}.s` VALUES (DATE '2026-11-01', 10)")
    return ds


def test_transaction_script_commits(bq: bigquery.Client, two_tables: str) -> None:
    ds = two_tables
    job = run(
        bq,
        f"""BEGIN TRANSACTION;
        DELETE FROM `{ds}.t` WHERE d = DATE '2026-11-01';
        INSERT INTO `{ds}.t` SELECT * FROM `{ds}.s`;
        COMMIT TRANSACTION;""",
    )
    assert job.statement_type == "SCRIPT"
    # GAP (minor): BigQuery runs each statement of a script as a child job (num_child_jobs 4).
    assert job.num_child_jobs == 0
    assert rows(bq, f"SELECT * FROM `{ds}.t` ORDER BY d") == [
        {"d": D(2026, 11, 1), "v": 10},
        {"d": D(2026, 11, 2), "v": 2},
    ]


def test_transaction_rolls_back_when_a_table_is_missing(
    bq: bigquery.Client, two_tables: str
) -> None:
    ds = two_tables
    with pytest.raises(NotFound, match=r"Not found: Table .*\.missing was not found"):
        run(
            bq,
            f"""BEGIN TRANSACTION;
            DELETE FROM `{ds}.t` WHERE d = DATE '2026-11-01';
            INSERT INTO `{ds}.t` SELECT * FROM `{ds}.missing`;
            COMMIT TRANSACTION;""",
        )
    # The DELETE was rolled back, as in BigQuery.
    assert rows(bq, f"SELECT COUNT(*) AS n FROM `{ds}.t`") == [{"n": 2}]


def test_transaction_rolls_back_on_a_runtime_error(bq: bigquery.Client, two_tables: str) -> None:
    ds = two_tables
    # GAP (message only): BigQuery says "Bad int64 value: x"; the emulator's message is misleading.
    with pytest.raises(BadRequest, match="Could not convert string 'x' to INT64"):
        run(
            bq,
            f"""BEGIN TRANSACTION;
            DELETE FROM `{ds}.t` WHERE d = DATE '2026-11-01';
            INSERT INTO `{ds}.t` SELECT d, CAST('x' AS INT64) FROM `{ds}.s`;
            COMMIT TRANSACTION;""",
        )
    assert rows(bq, f"SELECT COUNT(*) AS n FROM `{ds}.t`") == [{"n": 2}]


def test_script_without_transaction_keeps_earlier_statements(
    bq: bigquery.Client, two_tables: str
) -> None:
    ds = two_tables
    with pytest.raises(NotFound):
        run(
            bq,
            f"""DELETE FROM `{ds}.t` WHERE d = DATE '2026-11-01';
            INSERT INTO `{ds}.t` SELECT * FROM `{ds}.missing`;""",
        )
    # Same as BigQuery: without BEGIN TRANSACTION the DELETE stays.
    assert rows(bq, f"SELECT * FROM `{ds}.t`") == [{"d": D(2026, 11, 2), "v": 2}]


def test_temp_table_inside_a_script(bq: bigquery.Client, ds: str) -> None:
    run(bq, f"CREATE TABLE `{ds}.t` (x INT64)")
    run(bq, f"INSERT INTO `{ds}.t` VALUES (1), (2)")
    name = f"tmp_{ds.split('.')[1]}"
    job = bq.query(
        f"""CREATE TEMP TABLE {name} AS SELECT x * 10 AS y FROM `{ds}.t`;
        INSERT INTO {name} VALUES (99);
        SELECT SUM(y) AS total FROM {name};"""
    )
    assert [dict(r) for r in job.result()] == [{"total": 129}]
    assert job.statement_type == "SCRIPT"
    # GAP: temp tables are global to the emulator and outlive their script. BigQuery drops them at
    # the end of the script and they are visible only inside it. So a rerun of the same script
    # fails here, where BigQuery would succeed:
    assert rows(bq, f"SELECT COUNT(*) AS n FROM {name}") == [{"n": 3}]
    with pytest.raises(Conflict, match=f"Already Exists: Table {name}"):
        bq.query(f"CREATE TEMP TABLE {name} (y INT64); SELECT 1;").result()
    # Portable: CREATE OR REPLACE TEMP TABLE (valid BigQuery too) can be rerun.
    for _ in range(2):
        sql = f"CREATE OR REPLACE TEMP TABLE {name} AS SELECT 1 AS y; SELECT y FROM {name};"
        assert rows(bq, sql) == [{"y": 1}]
    # Temp tables do not show up as tables of any dataset.
    assert [t.table_id for t in bq.list_tables(ds)] == ["t"]


def test_script_with_variables(bq: bigquery.Client, ds: str) -> None:
    run(bq, f"CREATE TABLE `{ds}.t` (x INT64)")
    run(bq, f"INSERT INTO `{ds}.t` VALUES (1), (2)")
    sql = f"DECLARE n INT64 DEFAULT 0; SET n = (SELECT COUNT(*) FROM `{ds}.t`); SELECT n * 2 AS m;"
    assert rows(bq, sql) == [{"m": 4}]


# --- MERGE ---------------------------------------------------------------------------------------


@pytest.fixture
def merge_tables(bq: bigquery.Client, ds: str) -> str:
    run(bq, f"CREATE TABLE `{ds}.t` (d DATE, k STRING, v INT64) PARTITION BY d")
    run(bq, f"CREATE TABLE `{ds}.s` (d DATE, k STRING, v INT64)")
    run(
        bq,
        f"""INSERT INTO `{ds}.t` VALUES (DATE '2026-11-01', 'a', 1), (DATE '2026-11-01', 'b', 2),
        (DATE '2026-11-02', 'a', 3), (DATE '2026-11-03', 'a', 4)""",
    )
    run(
        bq,
        f"INSERT INTO `{ds}.s` VALUES (DATE '2026-11-02', 'x', 30), (DATE '2026-11-02', 'y', 31)",
    )
    return ds


REPLACE_DAY_2 = [date_param("a", D(2026, 11, 2)), date_param("b", D(2026, 11, 3))]


def test_merge_replace_partition_with_insert_row_fails(
    bq: bigquery.Client, merge_tables: str
) -> None:
    ds = merge_tables
    sql = f"""MERGE `{ds}.t` T USING `{ds}.s` S ON FALSE
    WHEN NOT MATCHED BY SOURCE AND T.d >= @a AND T.d < @b THEN DELETE
    WHEN NOT MATCHED THEN INSERT ROW"""
    # GAP: BigQuery supports INSERT ROW (the atomic replace-partition idiom as written here).
    with pytest.raises(BadRequest, match='syntax error at or near "ROW"'):
        run(bq, sql, REPLACE_DAY_2)
    assert rows(bq, f"SELECT COUNT(*) AS n FROM `{ds}.t`") == [{"n": 4}]


def test_merge_replace_partition_with_column_list(bq: bigquery.Client, merge_tables: str) -> None:
    ds = merge_tables
    # The same idiom with an explicit column list works in both the emulator and BigQuery.
    job = run(
        bq,
        f"""MERGE `{ds}.t` T USING `{ds}.s` S ON FALSE
        WHEN NOT MATCHED BY SOURCE AND T.d >= @a AND T.d < @b THEN DELETE
        WHEN NOT MATCHED THEN INSERT (d, k, v) VALUES (S.d, S.k, S.v)""",
        REPLACE_DAY_2,
    )
    assert job.num_dml_affected_rows == 3
    # GAP (minor): BigQuery also fills dml_stats (inserted 2, deleted 1).
    assert job.dml_stats is None
    assert rows(bq, f"SELECT d, k, v FROM `{ds}.t` ORDER BY d, k") == [
        {"d": D(2026, 11, 1), "k": "a", "v": 1},
        {"d": D(2026, 11, 1), "k": "b", "v": 2},
        {"d": D(2026, 11, 2), "k": "x", "v": 30},
        {"d": D(2026, 11, 2), "k": "y", "v": 31},
        {"d": D(2026, 11, 3), "k": "a", "v": 4},
    ]


def test_merge_insert_values_without_column_list_fails(
    bq: bigquery.Client, merge_tables: str
) -> None:
    ds = merge_tables
    # GAP: BigQuery accepts INSERT VALUES (...) without a column list.
    with pytest.raises(BadRequest, match="Parser Error: syntax error"):
        run(
            bq,
            f"""MERGE `{ds}.t` T USING `{ds}.s` S ON FALSE
            WHEN NOT MATCHED THEN INSERT VALUES (S.d, S.k, S.v)""",
        )


def test_merge_upsert_and_all_clause_kinds(bq: bigquery.Client, merge_tables: str) -> None:
    ds = merge_tables
    run(
        bq,
        f"INSERT INTO `{ds}.s` VALUES (DATE '2026-11-01', 'a', 500), (DATE '2026-11-01', 'b', 20)",
    )
    job = run(
        bq,
        f"""MERGE INTO `{ds}.t` AS T USING (SELECT * FROM `{ds}.s`) AS S
        ON T.d = S.d AND T.k = S.k
        WHEN MATCHED AND S.v > 100 THEN DELETE
        WHEN MATCHED THEN UPDATE SET v = S.v
        WHEN NOT MATCHED BY TARGET THEN INSERT (d, k, v) VALUES (S.d, S.k, S.v)
        WHEN NOT MATCHED BY SOURCE AND T.d = DATE '2026-11-03' THEN UPDATE SET v = -1""",
    )
    assert job.num_dml_affected_rows == 5
    assert rows(bq, f"SELECT d, k, v FROM `{ds}.t` ORDER BY d, k") == [
        {"d": D(2026, 11, 1), "k": "b", "v": 20},
        {"d": D(2026, 11, 2), "k": "a", "v": 3},
        {"d": D(2026, 11, 2), "k": "x", "v": 30},
        {"d": D(2026, 11, 2), "k": "y", "v": 31},
        {"d": D(2026, 11, 3), "k": "a", "v": -1},
    ]


def test_merge_with_two_source_rows_per_target_row_is_not_rejected(
    bq: bigquery.Client, merge_tables: str
) -> None:
    ds = merge_tables
    run(
        bq,
        f"INSERT INTO `{ds}.s` VALUES (DATE '2026-11-02', 'a', 98), (DATE '2026-11-02', 'a', 99)",
    )
    # GAP: BigQuery fails: "UPDATE/MERGE must match at most one source row for each target row".
    job = run(
        bq,
        f"""MERGE `{ds}.t` T USING `{ds}.s` S ON T.d = S.d AND T.k = S.k
        WHEN MATCHED THEN UPDATE SET v = S.v""",
    )
    assert job.num_dml_affected_rows == 2
    [after] = rows(bq, f"SELECT v FROM `{ds}.t` WHERE d = DATE '2026-11-02' AND k = 'a'")
    assert after["v"] in (98, 99)


# --- query parameters ----------------------------------------------------------------------------


def test_scalar_parameters(bq: bigquery.Client) -> None:
    tokyo = dt.timezone(dt.timedelta(hours=9))
    params = [
        date_param("d", D(2026, 11, 1)),
        bigquery.ScalarQueryParameter("ts", "TIMESTAMP", dt.datetime(2026, 11, 1, 15, tzinfo=UTC)),
        bigquery.ScalarQueryParameter(
            "ts9", "TIMESTAMP", dt.datetime(2026, 11, 1, 15, tzinfo=tokyo)
        ),
        bigquery.ScalarQueryParameter("s", "STRING", "héllo 東京"),
        bigquery.ScalarQueryParameter("i", "INT64", 2**53 + 1),
        bigquery.ScalarQueryParameter("f", "FLOAT64", 1.5),
        bigquery.ScalarQueryParameter("b", "BOOL", True),
        bigquery.ScalarQueryParameter("n", "STRING", None),
    ]
    sql = """SELECT @d AS d, DATE_ADD(@d, INTERVAL 1 DAY) AS d1, @ts AS ts, @ts9 AS ts9,
      TIMESTAMP_ADD(@ts, INTERVAL 1 HOUR) AS ts1, DATE(@ts, 'Asia/Tokyo') AS tokyo_day,
      @s AS s, @i + 1 AS i1, @f AS f, @b AS b, @n AS n"""
    assert rows(bq, sql, params) == [
        {
            "d": D(2026, 11, 1),
            "d1": D(2026, 11, 2),
            "ts": dt.datetime(2026, 11, 1, 15, tzinfo=UTC),
            "ts9": dt.datetime(2026, 11, 1, 6, tzinfo=UTC),
            "ts1": dt.datetime(2026, 11, 1, 16, tzinfo=UTC),
            "tokyo_day": D(2026, 11, 2),
            "s": "héllo 東京",
            "i1": 2**53 + 2,
            "f": 1.5,
            "b": True,
            "n": None,
        }
    ]


def test_array_parameters(bq: bigquery.Client) -> None:
    strings = bigquery.ArrayQueryParameter("xs", "STRING", ["a", "b"])
    dates = bigquery.ArrayQueryParameter("ds", "DATE", [D(2026, 1, 1)])
    assert rows(bq, "SELECT x FROM UNNEST(@xs) AS x ORDER BY x", [strings]) == [
        {"x": "a"},
        {"x": "b"},
    ]
    assert rows(bq, "SELECT x FROM UNNEST(@ds) AS x", [dates]) == [{"x": D(2026, 1, 1)}]


def test_positional_parameters(bq: bigquery.Client) -> None:
    params = [
        bigquery.ScalarQueryParameter(None, "INT64", 1),
        bigquery.ScalarQueryParameter(None, "STRING", "x"),
    ]
    assert rows(bq, "SELECT ? AS a, ? AS b", params) == [{"a": 1, "b": "x"}]


def test_bytes_parameter_arrives_as_base64_string(bq: bigquery.Client, ds: str) -> None:
    value = b"\x00\xffab"
    param = bigquery.ScalarQueryParameter("b", "BYTES", value)
    job = bq.query(
        "SELECT @b AS b, LENGTH(@b) AS n, TO_HEX(@b) AS h",
        job_config=bigquery.QueryJobConfig(query_parameters=[param]),
    )
    result = job.result()
    # GAP: BigQuery gives BYTES b"\x00\xffab", LENGTH 4, TO_HEX "00ff6162". The emulator binds the
    # base64 text of the value as a STRING.
    assert [dict(r) for r in result] == [{"b": "AP9hYg==", "n": 8, "h": "4150396859673d3d"}]
    assert result.schema[0].field_type == "STRING"
    run(bq, f"CREATE TABLE `{ds}.t` (k BYTES)")
    run(bq, f"INSERT INTO `{ds}.t` VALUES (FROM_HEX('00ff6162'))")
    assert rows(bq, f"SELECT k, LENGTH(k) AS n FROM `{ds}.t`") == [{"k": value, "n": 4}]
    # ...so it never equals a BYTES column (BigQuery: 1 row).
    assert rows(bq, f"SELECT COUNT(*) AS n FROM `{ds}.t` WHERE k = @b", [param]) == [{"n": 0}]
    # Portable: pass bytes as a hex STRING and decode in SQL.
    hex_param = bigquery.ScalarQueryParameter("h", "STRING", value.hex())
    sql = f"SELECT COUNT(*) AS n FROM `{ds}.t` WHERE k = FROM_HEX(@h)"
    assert rows(bq, sql, [hex_param]) == [{"n": 1}]


def test_bytes_literals(bq: bigquery.Client) -> None:
    assert rows(bq, "SELECT b'abc' AS x, FROM_HEX('00ff') AS y") == [
        {"x": b"abc", "y": b"\x00\xff"}
    ]
    # GAP: a bytes literal that is not valid UTF-8 fails to parse. BigQuery: b'\x00\xff'.
    with pytest.raises(BadRequest, match="pg_verifymbstr NOT IMPLEMENTED"):
        rows(bq, r"SELECT b'\x00\xff' AS x")


# --- dry runs and cost accounting ----------------------------------------------------------------


@pytest.fixture
def ten_k(bq: bigquery.Client, ds: str) -> str:
    run(
        bq,
        f"CREATE TABLE `{ds}.t` AS "
        "SELECT x, CAST(x AS STRING) AS s FROM UNNEST(GENERATE_ARRAY(1, 10000)) AS x",
    )
    return ds


def test_dry_run_returns_schema_but_zero_bytes(bq: bigquery.Client, ten_k: str) -> None:
    config = bigquery.QueryJobConfig(dry_run=True, use_query_cache=False)
    job = bq.query(f"SELECT SUM(x) AS total FROM `{ten_k}.t`", job_config=config)
    assert job.dry_run is True
    assert job.state == "DONE"
    assert job.statement_type == "SELECT"
    assert [f.name for f in job.schema] == ["total"]
    # GAP: BigQuery estimates 80000 bytes here (8 bytes x 10000 INT64 values). The emulator has
    # no cost model, so a byte-budget guard cannot be tested against it.
    assert job.total_bytes_processed == 0


def test_dry_run_of_an_invalid_query_raises_on_submit(bq: bigquery.Client, ds: str) -> None:
    config = bigquery.QueryJobConfig(dry_run=True)
    with pytest.raises(NotFound, match=r"Not found: Table .*\.nope was not found"):
        bq.query(f"SELECT * FROM `{ds}.nope`", job_config=config)


def test_maximum_bytes_billed_is_accepted_but_not_enforced(bq: bigquery.Client, ten_k: str) -> None:
    config = bigquery.QueryJobConfig(maximum_bytes_billed=1, use_query_cache=False)
    job = bq.query(f"SELECT SUM(x) AS total FROM `{ten_k}.t`", job_config=config)
    # GAP: BigQuery fails the job: "Query exceeded limit for bytes billed: 1. 10485760 or higher
    # required." (the minimum billed is 10 MiB).
    assert [dict(r) for r in job.result()] == [{"total": 50005000}]


def test_job_byte_statistics_after_a_real_query(bq: bigquery.Client, ten_k: str) -> None:
    config = bigquery.QueryJobConfig(use_query_cache=False)
    job = bq.query(f"SELECT SUM(x) AS total FROM `{ten_k}.t`", job_config=config)
    job.result()
    # GAP: BigQuery reports total_bytes_processed 80000, total_bytes_billed 10485760,
    # slot_millis > 0, referenced_tables [t], and tables.get num_bytes > 0.
    assert job.total_bytes_processed == 0
    assert job.total_bytes_billed is None
    assert job.slot_millis is None
    assert job.referenced_tables == []
    assert job.cache_hit is False
    table = bq.get_table(f"{ten_k}.t")
    assert (table.num_rows, table.num_bytes) == (10000, 0)


# --- names ---------------------------------------------------------------------------------------


def test_default_dataset(bigquery_emulator: BigQueryEmulator, bq: bigquery.Client, ds: str) -> None:
    run(bq, f"CREATE TABLE `{ds}.t` (x INT64)")
    run(bq, f"INSERT INTO `{ds}.t` VALUES (1), (2)")
    dataset_id = ds.split(".")[1]
    as_ref = bigquery.DatasetReference(bigquery_emulator.project, dataset_id)
    for default in (ds, as_ref):
        assert rows(bq, "SELECT COUNT(*) AS n FROM t", default_dataset=default) == [{"n": 2}]
    rows(bq, "CREATE TABLE u (y INT64)", default_dataset=ds)
    assert bq.get_table(f"{ds}.u").table_id == "u"
    script = "DECLARE n INT64; SET n = (SELECT COUNT(*) FROM t); SELECT n;"
    assert rows(bq, script, default_dataset=ds) == [{"n": 2}]


def test_fully_qualified_names(
    bigquery_emulator: BigQueryEmulator, bq: bigquery.Client, ds: str
) -> None:
    project, dataset_id = ds.split(".")
    run(bq, f"CREATE TABLE `{ds}.t` (x INT64)")
    run(bq, f"INSERT INTO `{project}.{dataset_id}`.t VALUES (1), (2)")
    for name in (f"`{ds}.t`", f"`{project}`.{dataset_id}.t", f"`{project}`.`{dataset_id}`.`t`"):
        assert rows(bq, f"SELECT COUNT(*) AS n FROM {name}") == [{"n": 2}], name
    assert rows(bq, f"SELECT t.x FROM `{ds}.t` AS t WHERE t.x = 1") == [{"x": 1}]
    # GAP: BigQuery also accepts an unquoted dashed project id in a FROM path.
    with pytest.raises(BadRequest, match='syntax error at or near "-"'):
        rows(bq, f"SELECT COUNT(*) AS n FROM {project}.{dataset_id}.t")
    # Tables of another project are reachable from the same client.
    other = bigquery_emulator.client("other-project")
    other.create_dataset(dataset_id)
    run(other, f"CREATE TABLE `other-project.{dataset_id}.z` AS SELECT 7 AS x")
    assert rows(bq, f"SELECT x FROM `other-project.{dataset_id}.z`") == [{"x": 7}]


def test_unnamed_result_columns(bq: bigquery.Client) -> None:
    result = bq.query("SELECT 1 + 1, COUNT(*) FROM UNNEST([1, 2])").result()
    # GAP: BigQuery names them f0_ and f1_. Always alias output columns.
    assert [f.name for f in result.schema] == ["(1 + 1)", "count_star()"]


# --- reading results -----------------------------------------------------------------------------


@pytest.fixture
def typed_row(bq: bigquery.Client, ds: str) -> str:
    run(
        bq,
        f"CREATE TABLE `{ds}.t` (d DATE, ts TIMESTAMP, s STRING, i INT64, f FLOAT64, b BOOL, "
        "n NUMERIC)",
    )
    errors = bq.insert_rows_json(
        f"{ds}.t",
        [
            {
                "d": "2026-11-01",
                "ts": "2026-11-01T00:00:00.123456Z",
                "s": "x",
                "i": 1,
                "f": 1.5,
                "b": True,
                "n": "1.25",
            }
        ],
    )
    assert errors == []
    return ds


def test_to_arrow_without_storage_api(bq: bigquery.Client, typed_row: str) -> None:
    table = (
        bq.query(f"SELECT * FROM `{typed_row}.t`").result().to_arrow(create_bqstorage_client=False)
    )
    assert table.schema.types == [
        pa.date32(),
        pa.timestamp("us", tz="UTC"),
        pa.string(),
        pa.int64(),
        pa.float64(),
        pa.bool_(),
        pa.decimal128(38, 9),
    ]
    assert table.to_pylist()[0]["ts"] == dt.datetime(2026, 11, 1, 0, 0, 0, 123456, tzinfo=UTC)


@pytest.mark.filterwarnings("ignore:Retrieving DataFrames via google-cloud-bigquery is deprecated")
def test_to_dataframe_without_storage_api(bq: bigquery.Client, typed_row: str) -> None:
    # With google-cloud-bigquery-storage installed, to_dataframe()/to_arrow() default to the
    # Storage Read API at bigquerystorage.googleapis.com (not the emulator): always pass
    # create_bqstorage_client=False against the emulator.
    frame = (
        bq.query(f"SELECT * FROM `{typed_row}.t`")
        .result()
        .to_dataframe(create_bqstorage_client=False)
    )
    assert frame.shape == (1, 7)
    assert frame.loc[0, "s"] == "x"
    assert str(frame["ts"].dtype) == "datetime64[us, UTC]"


def test_query_and_wait_and_list_rows(bq: bigquery.Client, typed_row: str) -> None:
    result = bq.query_and_wait(f"SELECT i, s FROM `{typed_row}.t`")
    assert [dict(r) for r in result] == [{"i": 1, "s": "x"}]
    assert [r["s"] for r in bq.list_rows(f"{typed_row}.t")] == ["x"]


def test_dml_right_after_streaming_insert(bq: bigquery.Client, typed_row: str) -> None:
    # EMULATOR-ONLY: BigQuery refuses UPDATE/DELETE/MERGE on rows still in the streaming buffer
    # (insert_rows_json) for up to ~30 minutes; the emulator has no streaming buffer.
    job = run(bq, f"UPDATE `{typed_row}.t` SET i = i + 1 WHERE TRUE")
    assert job.num_dml_affected_rows == 1


# --- SQL surface ---------------------------------------------------------------------------------


METRIC_SQL = """
WITH days AS (
  SELECT day FROM UNNEST(GENERATE_DATE_ARRAY(@start, @end)) AS day
),
ev AS (
  SELECT user_id, newsletter_id, event, DATE(ts, 'Asia/Tokyo') AS day, ts FROM `{ds}.ev`
),
latest AS (
  SELECT * FROM ev WHERE TRUE
  QUALIFY ROW_NUMBER() OVER (PARTITION BY user_id ORDER BY ts DESC) = 1
),
daily AS (
  SELECT d.day, e.newsletter_id,
    COUNTIF(e.event = 'open') AS opens,
    COUNTIF(e.event = 'click') AS clicks,
    COUNT(DISTINCT e.user_id) AS users
  FROM days AS d LEFT JOIN ev AS e ON e.day = d.day
  GROUP BY d.day, e.newsletter_id
),
ids AS (
  SELECT newsletter_id FROM ev UNION DISTINCT SELECT newsletter_id FROM latest
),
both_sources AS (
  SELECT 'a' AS src, newsletter_id FROM ids UNION ALL SELECT 'b', newsletter_id FROM ids
)
SELECT
  day, newsletter_id, opens, clicks, users,
  SAFE_DIVIDE(clicks, opens) AS ctr,
  SUM(opens) OVER w AS cum_opens,
  DATE_TRUNC(day, WEEK(MONDAY)) AS week,
  DATE_DIFF(day, @start, DAY) AS age,
  LEAST(opens, 1) AS capped,
  IF(opens > 0, 'active', 'idle') AS status,
  (SELECT COUNT(*) FROM both_sources) AS n_both,
  (SELECT COUNT(*) FROM latest) AS n_latest
FROM daily
WINDOW w AS (PARTITION BY newsletter_id ORDER BY day ROWS UNBOUNDED PRECEDING)
ORDER BY day, newsletter_id
"""


def test_realistic_metric_query(bq: bigquery.Client, ds: str) -> None:
    run(
        bq,
        f"CREATE TABLE `{ds}.ev` "
        "(user_id STRING, newsletter_id STRING, event STRING, ts TIMESTAMP)",
    )
    run(
        bq,
        f"""INSERT INTO `{ds}.ev` VALUES
        ('u1', 'n1', 'open',  TIMESTAMP '2026-11-01 14:30:00+00'),
        ('u1', 'n1', 'click', TIMESTAMP '2026-11-01 15:30:00+00'),
        ('u2', 'n1', 'open',  TIMESTAMP '2026-11-02 01:00:00+00'),
        ('u2', 'n1', 'open',  TIMESTAMP '2026-11-03 01:00:00+00'),
        ('u3', 'n2', 'open',  TIMESTAMP '2026-11-04 23:00:00+00'),
        ('u1', 'n1', 'open',  TIMESTAMP '2026-11-09 00:00:00+00')""",
    )
    params = [date_param("start", D(2026, 11, 1)), date_param("end", D(2026, 11, 9))]
    got = rows(bq, METRIC_SQL.format(ds=ds), params)

    def row(day: int, nl: str | None, opens: int, clicks: int, users: int, cum: int) -> dict:
        monday = D(2026, 11, day) - dt.timedelta(days=D(2026, 11, day).weekday())
        return {
            "day": D(2026, 11, day),
            "newsletter_id": nl,
            "opens": opens,
            "clicks": clicks,
            "users": users,
            "ctr": clicks / opens if opens else None,
            "cum_opens": cum,
            # GAP: DATE_TRUNC of a DATE column by WEEK/MONTH returns a DATETIME (right value, wrong
            # type). BigQuery returns DATE, i.e. `monday` itself.
            "week": dt.datetime.combine(monday, dt.time()),
            "age": day - 1,
            "capped": min(opens, 1),
            "status": "active" if opens else "idle",
            "n_both": 4,
            "n_latest": 3,
        }

    assert got == [
        row(1, "n1", 1, 0, 1, 1),  # 14:30Z is 23:30 in Tokyo; the 15:30Z click is the next day
        row(2, "n1", 1, 1, 2, 2),
        row(3, "n1", 1, 0, 1, 3),
        row(4, None, 0, 0, 0, 0),
        row(5, "n2", 1, 0, 1, 1),
        row(6, None, 0, 0, 0, 0),
        row(7, None, 0, 0, 0, 0),
        row(8, None, 0, 0, 0, 0),
        row(9, "n1", 1, 0, 1, 4),
    ]


@pytest.fixture
def days(bq: bigquery.Client, ds: str) -> str:
    """Sunday 2026-11-01, Monday 2026-11-02, Sunday 2026-11-08."""
    run(bq, f"CREATE TABLE `{ds}.t` (day DATE)")
    run(
        bq,
        f"INSERT INTO `{ds}.t` "
        "VALUES (DATE '2026-11-01'), (DATE '2026-11-02'), (DATE '2026-11-08')",
    )
    return ds


def column(bq: bigquery.Client, ds: str, expr: str) -> tuple[list[Any], str]:
    result = bq.query(f"SELECT {expr} AS v FROM `{ds}.t` ORDER BY day").result()
    return [r["v"] for r in result], result.schema[0].field_type


def test_date_trunc_week_on_a_column(bq: bigquery.Client, days: str) -> None:
    monday = [dt.datetime(2026, 10, 26), dt.datetime(2026, 11, 2), dt.datetime(2026, 11, 2)]
    # GAP (type): BigQuery returns DATE 2026-10-26, 2026-11-02, 2026-11-02.
    assert column(bq, days, "DATE_TRUNC(day, WEEK(MONDAY))") == (monday, "DATETIME")
    # GAP (value and type): WEEK means WEEK(SUNDAY) in BigQuery: DATE 11-01, 11-01, 11-08.
    assert column(bq, days, "DATE_TRUNC(day, WEEK)") == (monday, "DATETIME")
    sundays = [D(2026, 11, 1), D(2026, 11, 1), D(2026, 11, 8)]
    assert column(bq, days, "DATE_TRUNC(day, WEEK(SUNDAY))") == (sundays, "DATE")
    # GAP (type): BigQuery returns DATE 2026-11-01 three times.
    assert column(bq, days, "DATE_TRUNC(day, MONTH)") == (
        [dt.datetime(2026, 11, 1)] * 3,
        "DATETIME",
    )
    # GAP: BigQuery supports ISOWEEK.
    with pytest.raises(BadRequest, match='extract specifier "ISOWEEK" not recognized'):
        column(bq, days, "DATE_TRUNC(day, ISOWEEK)")


def test_date_trunc_week_monday_portable_forms(bq: bigquery.Client, days: str) -> None:
    # Both are valid BigQuery and give DATE Mondays in the emulator too.
    mondays = [D(2026, 10, 26), D(2026, 11, 2), D(2026, 11, 2)]
    assert column(bq, days, "CAST(DATE_TRUNC(day, WEEK(MONDAY)) AS DATE)") == (mondays, "DATE")
    expr = "DATE_SUB(day, INTERVAL MOD(EXTRACT(DAYOFWEEK FROM day) + 5, 7) DAY)"
    assert column(bq, days, expr) == (mondays, "DATE")


def test_date_trunc_week_monday_of_a_literal_is_wrong(bq: bigquery.Client) -> None:
    # GAP: BigQuery gives 2026-10-26 (the Monday before Sunday 2026-11-01).
    sql = "SELECT DATE_TRUNC(DATE '2026-11-01', WEEK(MONDAY)) AS v"
    assert rows(bq, sql) == [{"v": D(2026, 11, 1)}]


def test_date_diff_by_week(bq: bigquery.Client, days: str) -> None:
    # Days since Sunday 2026-10-25: 7, 8, 14.
    assert column(bq, days, "DATE_DIFF(day, DATE '2026-10-25', DAY)") == ([7, 8, 14], "INTEGER")
    assert column(bq, days, "DATE_DIFF(day, DATE '2026-10-25', WEEK)") == ([1, 1, 2], "INTEGER")
    # GAP: BigQuery counts Monday boundaries crossed: 1, 2, 2 (emulator is one short).
    for part in ("WEEK(MONDAY)", "ISOWEEK"):
        expr = f"DATE_DIFF(day, DATE '2026-10-25', {part})"
        assert column(bq, days, expr) == ([0, 1, 1], "INTEGER"), part


def test_date_parts_and_formats(bq: bigquery.Client, days: str) -> None:
    assert column(bq, days, "EXTRACT(DAYOFWEEK FROM day)") == ([1, 2, 1], "INTEGER")
    assert column(bq, days, "EXTRACT(ISOWEEK FROM day)") == ([44, 45, 45], "INTEGER")
    assert column(bq, days, "EXTRACT(WEEK FROM day)") == ([44, 44, 45], "INTEGER")
    assert column(bq, days, "FORMAT_DATE('%G-W%V', day)") == (
        ["2026-W44", "2026-W45", "2026-W45"],
        "STRING",
    )
    assert column(bq, days, "LAST_DAY(day, MONTH)") == ([D(2026, 11, 30)] * 3, "DATE")


def test_timestamp_functions_with_time_zones(bq: bigquery.Client) -> None:
    sql = """SELECT
      DATE(TIMESTAMP '2026-11-01 15:30:00+00', 'Asia/Tokyo') AS tokyo_day,
      TIMESTAMP_TRUNC(TIMESTAMP '2026-11-01 15:30:00+00', DAY, 'Asia/Tokyo') AS tokyo_midnight,
      FORMAT_TIMESTAMP('%Y-%m-%dT%H:%M:%S%Ez', TIMESTAMP '2026-11-01 15:30:00+00', 'Asia/Tokyo')
        AS formatted,
      CAST(TIMESTAMP '2026-11-01 15:30:00.123456+00' AS STRING) AS as_string,
      TIMESTAMP_DIFF(TIMESTAMP '2026-11-02 00:00:00+00', TIMESTAMP '2026-11-01 00:00:00+00', HOUR)
        AS hours"""
    assert rows(bq, sql) == [
        {
            "tokyo_day": D(2026, 11, 2),
            "tokyo_midnight": dt.datetime(2026, 11, 1, 15, tzinfo=UTC),
            "formatted": "2026-11-02T00:30:00+09:00",
            "as_string": "2026-11-01 15:30:00.123456+00",
            "hours": 24,
        }
    ]


def test_numeric_edge_cases(bq: bigquery.Client) -> None:
    sql = """SELECT SAFE_DIVIDE(1, 0) AS div0, SAFE_DIVIDE(0, 0) AS zero_by_zero, 7 / 2 AS ratio,
      DIV(7, 2) AS int_div, ROUND(2.5) AS rounded, LEAST(1, NULL, 3) AS least_null,
      SAFE_CAST('x' AS INT64) AS bad, CAST(2.5 AS INT64) AS cast_half"""
    # GAP: BigQuery casts FLOAT64 2.5 to INT64 3 (round half away from zero); the emulator gives 2.
    assert rows(bq, sql) == [
        {
            "div0": None,
            "zero_by_zero": None,
            "ratio": 3.5,
            "int_div": 3,
            "rounded": 3.0,
            "least_null": None,
            "bad": None,
            "cast_half": 2,
        }
    ]


def test_aggregate_functions(bq: bigquery.Client) -> None:
    sql = """SELECT
      (SELECT STRING_AGG(x, ',' ORDER BY x) FROM UNNEST(['b', 'a']) AS x) AS agg,
      (SELECT ARRAY_AGG(x ORDER BY x DESC LIMIT 1)[OFFSET(0)] FROM UNNEST([1, 2]) AS x) AS top,
      (SELECT APPROX_COUNT_DISTINCT(x) FROM UNNEST([1, 2, 2]) AS x) AS approx_distinct,
      (SELECT APPROX_QUANTILES(x, 2)[OFFSET(1)] FROM UNNEST([1, 2, 3, 4, 5]) AS x) AS median,
      (SELECT COUNTIF(x > 1) FROM UNNEST([1, 2, 3]) AS x) AS countif"""
    # GAP: BigQuery's APPROX_QUANTILES(x, 2) is [1, 3, 5], so OFFSET(1) is 3 (the median).
    assert rows(bq, sql) == [
        {"agg": "a,b", "top": 2, "approx_distinct": 2, "median": 5, "countif": 2}
    ]


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
