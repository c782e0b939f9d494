"""Helpers and fixtures of the emulator probe (production/test_bigquery_emulator_*.py): what the
local BigQuery emulator (bqemulator 1.4.0, scripts/bqemulator.sh) does, one behaviour a test,
through the real google-cloud-bigquery client.

Each test asserts what the emulator does today. Where that differs from production BigQuery, the
test asserts the emulator's behaviour (so an emulator upgrade that fixes it fails there and gets
noticed) and a comment says what BigQuery does instead. Code meant for production must not rely
on any behaviour marked EMULATOR-ONLY; tests of it must avoid the gaps marked GAP.

The fixtures `bq` (a client) and `ds` (a fresh dataset) reach the probe's modules through
production/conftest.py; `bigquery_emulator` and `bq_dataset` are support/bigquery_emulator.py's.
"""

from __future__ import annotations

import datetime as dt
import io
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from google.cloud import bigquery

if TYPE_CHECKING:
    from theletter_data_tests.support.bigquery_emulator import BigQueryEmulator

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
