"""Faults: an S3 that throttles and drops connections, and a run killed in the middle of writing a
partition, neither of which may lose or duplicate a record; local runs killed or interrupted,
which must never leave the next run waiting for ever."""

from __future__ import annotations

import hashlib
import multiprocessing
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, timedelta
from pathlib import Path

import boto3
import dagster as dg
import duckdb
import pyarrow as pa
import pytest
from dagster._core.storage.tags import (
    ASSET_PARTITION_RANGE_END_TAG,
    ASSET_PARTITION_RANGE_START_TAG,
)

from theletter_data.definitions import build_definitions
from theletter_data.metrics.newsletter_daily_traffic import newsletter_daily_traffic
from theletter_data.raw.sources import SOURCES
from theletter_data.resources.duckdb_warehouse import DuckDBWarehouse
from theletter_data.resources.ingest_engine import IngestEngine
from theletter_data.resources.lake import Lake
from theletter_data.resources.pseudonymizer import Pseudonymizer
from theletter_data.resources.warehouse import PartitionWrite
from theletter_data.settings import Environment, Settings
from theletter_data.staging.email_events import EMAIL_EVENTS, stg_email_events
from theletter_data.staging.lines.stage import stage_day
from theletter_data.staging.page_views import STG_PAGE_VIEWS
from theletter_data.tables import Column, Table
from theletter_data_dev.generate import generate_lake
from theletter_data_tests.support.fault_proxy import FaultyS3
from theletter_data_tests.support.local_runs import LocalDeployment
from theletter_data_tests.support.rawdata import firehose_key, put_lines, ses, utc
from theletter_data_tests.support.staged import write_rows

pytestmark = pytest.mark.slow  # real `dagster asset materialize` processes, killed and locked

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


T = Table(
    layer="metrics",
    name="t",
    grain="one row per thing per day",
    partition_by="date",
    key=("date", "thing"),
    columns=(Column("date", "DATE", "Day."), Column("thing", "STRING", "Thing.")),
)


def _rows(prefix: str, n: int) -> pa.RecordBatch:
    return pa.RecordBatch.from_pylist(
        [{"date": D, "thing": f"{prefix}{i}"} for i in range(n)], schema=T.arrow_schema
    )


def _write_and_hang(path: str, marker: str) -> None:
    """Replace the day with new rows, but hang half-way through the write."""

    def batches():  # type: ignore[no-untyped-def]
        yield _rows("new-", 1_000)
        Path(marker).touch()  # the old rows are deleted, inside the transaction
        time.sleep(120)
        yield _rows("late-", 1_000)

    reader = pa.RecordBatchReader.from_batches(T.arrow_schema, batches())
    DuckDBWarehouse(path=path).replace([PartitionWrite(T, D, D + timedelta(days=1), rows=reader)])


def test_a_run_killed_while_writing_leaves_the_partition_as_it_was(tmp_path) -> None:
    path, marker = str(tmp_path / "w.duckdb"), str(tmp_path / "half-way")
    warehouse = DuckDBWarehouse(path=path)
    day = (D, D + timedelta(days=1))
    warehouse.replace([PartitionWrite(T, *day, rows=pa.Table.from_batches([_rows("old-", 500)]))])

    writer = multiprocessing.get_context("spawn").Process(
        target=_write_and_hang, args=(path, marker)
    )
    writer.start()
    deadline = time.monotonic() + 60
    while not Path(marker).exists():
        assert time.monotonic() < deadline and writer.is_alive(), "the writer never got half-way"
        time.sleep(0.05)
    os.kill(writer.pid, signal.SIGKILL)  # as the kernel does to a task out of memory
    writer.join()

    things = warehouse.query("SELECT thing FROM metrics.t").column(0).to_pylist()
    assert len(things) == 500 and all(t.startswith("old-") for t in things)
    # The next run completes.
    warehouse.replace([PartitionWrite(T, *day, rows=pa.Table.from_batches([_rows("next-", 700)]))])
    things = warehouse.query("SELECT thing FROM metrics.t").column(0).to_pylist()
    assert len(things) == 700 and all(t.startswith("next-") for t in things)


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


def _other_program(path: str, holding, release) -> None:  # type: ignore[no-untyped-def]
    """A program holding DuckDB's own lock on the warehouse (a BI tool left open)."""
    con = duckdb.connect(path)
    holding.set()
    release.wait(600)
    con.close()


@contextmanager
def _held_by_another_program(path: Path) -> Iterator[None]:
    context = multiprocessing.get_context("spawn")
    holding, release = context.Event(), context.Event()
    holder = context.Process(target=_other_program, args=(str(path), holding, release))
    holder.start()
    assert holding.wait(timeout=60), "the other program never opened the warehouse"
    try:
        yield
    finally:
        release.set()
        holder.join(timeout=60)


@pytest.fixture
def deployment(tmp_path: Path) -> Iterator[LocalDeployment]:
    """The local deployment in its own folder: the repository's local instance configuration,
    a warehouse with an (empty) staged page-views day to compute a metric from."""
    local = LocalDeployment(tmp_path)
    write_rows(
        DuckDBWarehouse(path=str(local.data / "warehouse.duckdb")),
        STG_PAGE_VIEWS, [], D, D + timedelta(days=1),
    )  # fmt: skip
    yield local
    local.stop()


def _start_holding_the_warehouse(deployment: LocalDeployment):  # type: ignore[no-untyped-def]
    """A local run inside its step, holding the warehouse: another program keeps DuckDB's lock,
    so the step waits for it (as behind a BI tool)."""
    run = deployment.materialize("newsletter_daily_traffic", D.isoformat())
    run.wait_for("STEP_START", timeout=180)
    time.sleep(3)  # its first statement: the run now writes the warehouse
    return run


def test_a_killed_local_run_does_not_block_the_next_one(deployment: LocalDeployment) -> None:
    """A local run killed (SIGKILL, as by the OOM killer) while it writes the warehouse: the next
    run takes over at once instead of waiting for ever, and marks the dead run failed."""
    with _held_by_another_program(deployment.data / "warehouse.duckdb"):
        killed = _start_holding_the_warehouse(deployment)
        killed.signal(signal.SIGKILL)
        killed.process.wait()

    following = deployment.materialize("newsletter_daily_traffic", D.isoformat())
    try:
        following.process.wait(timeout=180)
    except subprocess.TimeoutExpired:
        spent = following.cpu_seconds()
        time.sleep(5)
        raise AssertionError(
            f"the next run still waits after 180 s, using {following.cpu_seconds() - spent:.1f} "
            f"s of CPU in 5 s:\n{following.output()[-1500:]}"
        ) from None
    assert following.process.returncode == 0, following.output()[-3000:]
    assert deployment.run_status(following.run_id)[0] == dg.DagsterRunStatus.SUCCESS
    status, message = deployment.run_status(killed.run_id)
    assert status == dg.DagsterRunStatus.FAILURE
    assert f"(pid {killed.pid}) ended without finishing" in message
    assert following.run_id in message


def test_a_waiting_local_run_says_for_whom_and_stops_when_asked(
    deployment: LocalDeployment,
) -> None:
    """A local run waiting for another's warehouse names that run and its pid, sleeps while it
    waits, and stops on Ctrl-C (SIGINT); the run it waited for stops on SIGTERM."""
    with _held_by_another_program(deployment.data / "warehouse.duckdb"):
        writing = _start_holding_the_warehouse(deployment)
        waiting = deployment.materialize("newsletter_daily_traffic", D.isoformat())
        waiting.wait_for("Waiting for the warehouse", timeout=180)
        line = next(
            line for line in waiting.output().splitlines() if "Waiting for the warehouse" in line
        )
        assert f"run {writing.run_id} (__ASSET_JOB, pid {writing.pid}) is writing it" in line

        spent = waiting.cpu_seconds()
        time.sleep(5)
        assert waiting.cpu_seconds() - spent < 0.5  # sleeps: no spinning while it waits

        waiting.signal(signal.SIGINT)
        waiting.process.wait(timeout=30)
        assert waiting.process.returncode != 0
        assert deployment.run_status(waiting.run_id)[0] == dg.DagsterRunStatus.FAILURE

        writing.signal(signal.SIGTERM)
        writing.process.wait(timeout=30)
        assert deployment.run_status(writing.run_id)[0] == dg.DagsterRunStatus.FAILURE


def _files(folder: Path) -> dict[str, tuple[int, str]]:
    """Every file under `folder`: size and content hash."""
    return {
        str(f.relative_to(folder)): (f.stat().st_size, hashlib.sha256(f.read_bytes()).hexdigest())
        for f in sorted(folder.rglob("*"))
        if f.is_file()
    }


def _first_lines_of_failures(result: dg.ExecuteInProcessResult) -> dict[str, str]:
    return {
        event.step_key: event.step_failure_data.error.message.splitlines()[0]
        for event in result.all_events
        if event.event_type_value == "STEP_FAILURE"
    }


def _retries(result: dg.ExecuteInProcessResult) -> int:
    return sum(e.event_type_value == "STEP_UP_FOR_RETRY" for e in result.all_events)


def test_a_truncated_warehouse_fails_every_step_at_once_and_nothing_is_written(
    tmp_path: Path,
) -> None:
    """The whole daily graph on a warehouse file cut to half its size (a copy cut short, a full
    disk): DuckDB still opens it (its catalog is whole) and reads the missing blocks only when
    a query needs them, so steps used to write into it. Every step now fails at once naming the
    file and the fix, and not a byte of the data folder changes."""
    data = tmp_path / "data"
    defs = build_definitions(
        Settings(environment=Environment.LOCAL, data_dir=data, pseudonym_key_set=False)
    )
    generate_lake(defs.resources["lake"], D, D, newsletters=3, readers=300, seed=3)
    job = defs.resolve_job_def("daily_refresh")
    tags = {ASSET_PARTITION_RANGE_START_TAG: str(D), ASSET_PARTITION_RANGE_END_TAG: str(D)}
    with dg.instance_for_test() as instance:
        assert job.execute_in_process(instance=instance, tags=tags).success
    path = data / "warehouse.duckdb"
    with path.open("r+b") as file:
        file.truncate(path.stat().st_size // 2)
    before = _files(data)

    began = time.monotonic()
    with dg.instance_for_test() as instance:
        result = job.execute_in_process(instance=instance, tags=tags, raise_on_error=False)
    elapsed = time.monotonic() - began

    assert not result.success
    failures = _first_lines_of_failures(result)
    started = {e.step_key for e in result.all_events if e.event_type_value == "STEP_START"}
    staging_steps = {source.staged_asset for source in SOURCES}
    assert set(failures) == started == staging_steps  # the rest skipped
    expected = (
        f"dagster._core.definitions.events.Failure: The warehouse file {path} is corrupt "
        f"(truncated: {path.stat().st_size:,} bytes, its blocks need "
    )
    for first_line in failures.values():
        assert first_line.startswith(expected), first_line
        assert first_line.endswith(
            "; nothing was written to it. Restore it from a backup, or delete it (and "
            "warehouse.duckdb.wal if present) and re-run the days to rebuild it from the lake."
        )
    assert _retries(result) == 0
    assert elapsed < 60
    assert _files(data) == before


@pytest.mark.parametrize(
    "damage",
    ["one_byte_short", "last_block_gone", "headers_only", "empty", "not_duckdb"],
)
def test_a_damaged_warehouse_file_is_refused_before_anything_is_written(
    tmp_path: Path, damage: str
) -> None:
    path = tmp_path / "warehouse.duckdb"
    warehouse = DuckDBWarehouse(path=str(path))
    for day in range(6):
        start = D - timedelta(days=day)
        rows = [{"event_date": start, "newsletter_id": f"nl_{i}"} for i in range(20_000)]
        write_rows(warehouse, STG_PAGE_VIEWS, rows, start, start + timedelta(days=1))
    size = path.stat().st_size
    if damage == "not_duckdb":
        path.write_bytes(os.urandom(64 * 1024))
    else:
        cut = {"one_byte_short": size - 1, "last_block_gone": size - 256 * 1024}.get(damage)
        with path.open("r+b") as file:
            file.truncate(cut if cut is not None else (3 * 4096 if damage == "headers_only" else 0))
    before = _files(tmp_path)

    with dg.instance_for_test() as instance:
        result = dg.materialize(
            [newsletter_daily_traffic], instance=instance, partition_key=D.isoformat(),
            resources={"warehouse": DuckDBWarehouse(path=str(path))}, raise_on_error=False,
        )  # fmt: skip
    (first_line,) = _first_lines_of_failures(result).values()
    assert f"The warehouse file {path} is corrupt (" in first_line
    assert "Restore it from a backup, or delete it" in first_line
    assert _retries(result) == 0
    assert _files(tmp_path) == before


@contextmanager
def _unwritable(path: Path) -> Iterator[None]:
    """The file or folder made read-only; for root, whom permissions do not stop, immutable."""
    mode = path.stat().st_mode
    path.chmod(0o555 if path.is_dir() else 0o444)
    immutable = False
    try:
        if os.geteuid() == 0:
            done = subprocess.run(["chattr", "+i", str(path)], capture_output=True)
            if done.returncode:
                pytest.skip(f"running as root and cannot make a file immutable: {done.stderr}")
            immutable = True
        yield
    finally:
        if immutable:
            subprocess.run(["chattr", "-i", str(path)], check=True)
        path.chmod(mode)


@pytest.mark.parametrize("unwritable", ["file", "folder"])
def test_a_read_only_warehouse_fails_at_once_naming_the_file_and_the_fix(
    tmp_path: Path, unwritable: str
) -> None:
    """The warehouse file read-only, or its folder (where DuckDB writes its log at a commit)."""
    folder = tmp_path / "data"
    path = folder / "warehouse.duckdb"
    write_rows(DuckDBWarehouse(path=str(path)), STG_PAGE_VIEWS, [], D, D + timedelta(days=1))
    with _unwritable(path if unwritable == "file" else folder):
        before = _files(tmp_path)
        started = time.monotonic()
        with dg.instance_for_test() as instance:
            result = dg.materialize(
                [newsletter_daily_traffic], instance=instance, partition_key=D.isoformat(),
                resources={"warehouse": DuckDBWarehouse(path=str(path))}, raise_on_error=False,
            )  # fmt: skip
        elapsed = time.monotonic() - started
        after = _files(tmp_path)

    (first_line,) = _first_lines_of_failures(result).values()
    reason = "Operation not permitted" if os.geteuid() == 0 else "Permission denied"
    file = path if unwritable == "file" else path.with_name("warehouse.duckdb.wal")
    assert first_line == (
        f"dagster._core.definitions.events.Failure: The warehouse file {file} is not writable "
        f"({reason}): make it and its folder writable for the user running Dagster "
        "(permissions, `chattr -i`, a read-only mount), or set THELETTER_DATA_DIR to a writable "
        "folder."
    )
    assert _retries(result) == 0
    assert elapsed < 60
    assert after == before


_FIRST_MATERIALIZATION = """
import sys, time
import dagster as dg

@dg.asset
def first() -> int:
    return 1

time.sleep(max(0.0, float(sys.argv[1]) - time.time()))  # all start together
with dg.DagsterInstance.get() as instance:
    assert dg.materialize([first], instance=instance).success
"""


def test_a_new_local_instance_can_be_started_by_several_processes_at_once(tmp_path: Path) -> None:
    """Three processes materialize at the same moment on each of three brand-new DAGSTER_HOMEs
    (the repository's local instance configuration): each creating the instance's SQLite tables
    at once used to crash some (`table secondary_indexes already exists`, `UNIQUE constraint
    failed: alembic_version.version_num`) and could leave two schema versions stamped."""
    homes = [LocalDeployment(tmp_path / f"new-{i}") for i in range(3)]
    at = time.time() + 10
    command = [sys.executable, "-c", _FIRST_MATERIALIZATION, str(at)]
    processes = [
        subprocess.Popen(
            command, env=home.env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        for home in homes
        for _ in range(3)
    ]
    crashed = []
    for process in processes:
        output, _ = process.communicate(timeout=300)
        if process.returncode:
            crashed.append(output.strip().splitlines()[-1])
    assert crashed == []
    for home in homes:
        with home.instance() as instance:
            assert len(instance.get_runs()) == 3
