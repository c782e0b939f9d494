"""Faults of the DuckDB warehouse file: a run killed in the middle of writing a partition leaves
it as it was; a truncated, damaged or read-only file fails every step at once, naming the file
and the fix, and nothing is written."""

from __future__ import annotations

import hashlib
import multiprocessing
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, timedelta
from pathlib import Path

import dagster as dg
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
from theletter_data.resources.warehouse import PartitionWrite
from theletter_data.settings import Environment, Settings
from theletter_data.staging.page_views import STG_PAGE_VIEWS
from theletter_data.tables import Column, Table
from theletter_data_dev.generate import generate_lake
from theletter_data_tests.support.staged import write_rows

pytestmark = pytest.mark.slow  # writers killed in a subprocess; the whole daily graph

D = date(2026, 11, 20)

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
