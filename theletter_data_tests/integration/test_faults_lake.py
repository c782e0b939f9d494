"""Faults of the lake: an S3 that throttles and drops connections loses or duplicates no record;
a lake or stream folder that is missing fails at once naming it; a stray temporary folder is
named and not read."""

from __future__ import annotations

import time
import uuid
from datetime import date, timedelta
from pathlib import Path

import boto3
import dagster as dg
import pytest

from theletter_data.resources.duckdb_warehouse import DuckDBWarehouse
from theletter_data.resources.ingest_engine import IngestEngine
from theletter_data.resources.lake import Lake
from theletter_data.resources.pseudonymizer import Pseudonymizer
from theletter_data.staging.email_events import EMAIL_EVENTS, stg_email_events
from theletter_data.staging.lines.stage import stage_day
from theletter_data_tests.support.fault_proxy import FaultyS3
from theletter_data_tests.support.rawdata import firehose_key, put_lines, ses, utc

pytestmark = pytest.mark.slow  # a fault-injecting S3 proxy; materializations with their retries

D = date(2026, 11, 20)


def test_staging_completes_through_throttling_and_dropped_connections(
    moto_endpoint, aws_credentials, duckdb_warehouse, pseudonymizer, tmp_path
) -> None:
    bucket = f"lake-{uuid.uuid4().hex[:12]}"
    boto3.client("s3", endpoint_url=moto_endpoint).create_bucket(
        Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": "ap-northeast-1"}
    )
    reliable = Lake(url=f"s3://{bucket}", endpoint_url=moto_endpoint, region="ap-northeast-1")
    for hour in range(3):
        arrival = utc(f"2026-11-20 0{hour}:05:00")
        put_lines(
            reliable,
            firehose_key("ses-events", arrival),
            [
                ses("Send", arrival - timedelta(minutes=2), message_id=f"m{hour}-{i}")
                for i in range(40)
            ],
        )
    proxy = FaultyS3(moto_endpoint)  # every request: a 500, a 503, a dropped connection
    try:
        flaky = Lake(url=f"s3://{bucket}", endpoint_url=proxy.url, region="ap-northeast-1")
        result = stage_day(
            EMAIL_EVENTS, D, lake=flaky, pseudonymizer=pseudonymizer, warehouse=duckdb_warehouse,
            engine=IngestEngine(batch_bytes=1, temp_directory=str(tmp_path / "spill")),
        )  # fmt: skip
    finally:
        proxy.stop()
    assert (result.objects, result.records_read, result.staged, result.quarantined) == (
        3,
        120,
        120,
        0,
    )
    assert (
        min(proxy.injected[f] for f in ("500 InternalError", "503 SlowDown", "dropped connection"))
        >= 4
    )


def _stage_asset(lake: Lake, tmp_path: Path) -> tuple[dg.ExecuteInProcessResult, str]:
    """Materialize stg_email_events for D as Dagster runs it (its retry policy included)."""
    started = time.monotonic()
    result = dg.materialize(
        [stg_email_events],
        partition_key=D.isoformat(),
        resources={
            "lake": lake,
            "warehouse": DuckDBWarehouse(path=str(tmp_path / "w.duckdb")),
            "ingest_engine": IngestEngine(temp_directory=str(tmp_path / "spill")),
            "pseudonymizer": Pseudonymizer(key="test-pseudonym-key"),
        },
        raise_on_error=False,
    )
    assert time.monotonic() - started < 60
    events = [e.event_type_value for e in result.all_events]
    assert "STEP_UP_FOR_RETRY" not in events, "a permanent fault was retried"
    if result.success:
        return result, ""
    error = result.failure_data_for_node("stg_email_events").error
    # The first line the UI and the Slack alert show: the exception's class, then its message.
    return result, error.message.removeprefix("dagster._core.definitions.events.Failure: ")


@pytest.mark.parametrize("where", ["local", "s3"])
def test_a_missing_lake_fails_at_once_naming_it(where, tmp_path, request) -> None:
    if where == "local":
        lake = Lake(url=str(tmp_path / "no-such-lake"))
    else:
        s3_lake = request.getfixturevalue("s3_lake")  # its bucket exists, its root is empty
        lake = Lake(url=f"{s3_lake.url}-typo", endpoint_url=s3_lake.endpoint_url, region=None)
    result, message = _stage_asset(lake, tmp_path)
    assert not result.success
    assert message.splitlines()[0].startswith(
        f"The lake root `{lake.url}` does not exist (or holds nothing), so 2026-11-20 cannot "
        "be staged."
    )


def test_a_lake_without_the_stream_fails_at_once_naming_the_folder(tmp_path) -> None:
    lake = Lake(url=str(tmp_path / "lake"))
    put_lines(lake, firehose_key("pageviews", utc("2026-11-20 01:00:00")), [{"event_id": "x"}])
    result, message = _stage_asset(lake, tmp_path)
    assert not result.success
    assert message.splitlines()[0].startswith(
        f"The lake `{lake.url}` has no `ses-events/` folder at all, so 2026-11-20 cannot be "
        "staged: the stream has never been delivered to this lake."
    )


def test_a_stray_temporary_folder_is_named_and_not_read(tmp_path) -> None:
    """A job's `_temporary/` folder (and other keys outside the layout) beside the day's
    objects: the stream is staged, and the metadata names the keys it did not read."""
    lake = Lake(url=str(tmp_path / "lake"))
    put_lines(lake, firehose_key("ses-events", utc("2026-11-20 01:05:00")), [
        ses("Send", utc("2026-11-20 01:00:00"), message_id=f"m-{i}") for i in range(3)
    ])  # fmt: skip
    stray = [
        "ses-events/2026/11/20/_temporary/part-0.gz",
        "ses-events/2026/11/20/01/_SUCCESS",
        "ses-events/2026/11/20/1/short-hour.gz",
        "ses-events/2026/11/20/02/copy.json",
    ]
    for key in stray:
        put_lines(lake, key, [ses("Send", utc("2026-11-20 01:00:00"), message_id="stray")])
    result, _ = _stage_asset(lake, tmp_path)
    assert result.success
    metadata = result.asset_materializations_for_node("stg_email_events")[0].metadata
    assert metadata["dagster/row_count"].value == 3
    assert metadata["keys_outside_layout"].value == sorted(stray)
