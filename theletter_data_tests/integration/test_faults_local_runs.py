"""Local runs killed or interrupted, which must never leave the next run waiting for ever, and a
new local instance started by several processes at once."""

from __future__ import annotations

import multiprocessing
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, timedelta
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from theletter_data.resources.duckdb_warehouse import DuckDBWarehouse
from theletter_data.staging.page_views import STG_PAGE_VIEWS
from theletter_data_tests.support.local_runs import LocalDeployment
from theletter_data_tests.support.staged import write_rows

pytestmark = pytest.mark.slow  # real `dagster asset materialize` processes, killed and locked

D = date(2026, 11, 20)


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
    # Said once it holds the writer lock (and is tagged the writer), at its first statement.
    run.wait_for("for DuckDB's lock on", timeout=180)
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

        # Sleeps: no spinning while it waits (it uses 0.00 s in 5 s; spinning, about a second
        # a second, half that on a loaded machine).
        spent = waiting.cpu_seconds()
        time.sleep(2)
        assert waiting.cpu_seconds() - spent < 0.2

        waiting.signal(signal.SIGINT)
        waiting.process.wait(timeout=30)
        assert waiting.process.returncode != 0
        assert deployment.run_status(waiting.run_id)[0] == dg.DagsterRunStatus.FAILURE

        writing.signal(signal.SIGTERM)
        writing.process.wait(timeout=30)
        assert deployment.run_status(writing.run_id)[0] == dg.DagsterRunStatus.FAILURE


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
