"""What the BigQuery emulator does with Parquet load jobs: schemas, appends and truncates into
partitioned tables, time zones, column matching, 100k rows, and the upload kinds it takes.

Each test asserts what the emulator does today; where BigQuery differs, a comment says what it
does instead, and EMULATOR-ONLY or GAP marks it (support/emulator_probe.py says what those
mean; the fixtures `bq` and `ds` are there too).
"""

from __future__ import annotations

import datetime as dt
import time
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from google.api_core.exceptions import BadRequest
from google.cloud import bigquery

from theletter_data_tests.support.emulator_probe import (
    EVENTS,
    EVENTS_SCHEMA,
    UTC,
    D,
    load_parquet,
    parquet_bytes,
    rows,
    run,
)

if TYPE_CHECKING:
    from theletter_data_tests.support.bigquery_emulator import BigQueryEmulator


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
