"""What the BigQuery emulator does with a query job: parameters, dry runs and cost accounting,
default and fully qualified names, and reading results without the Storage API.

Each test asserts what the emulator does today; where BigQuery differs, a comment says what it
does instead, and EMULATOR-ONLY or GAP marks it (support/emulator_probe.py says what those
mean; the fixtures `bq` and `ds` are there too).
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

import pyarrow as pa
import pytest
from google.api_core.exceptions import BadRequest, NotFound
from google.cloud import bigquery

from theletter_data_tests.support.emulator_probe import UTC, D, date_param, rows, run

if TYPE_CHECKING:
    from theletter_data_tests.support.bigquery_emulator import BigQueryEmulator


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
