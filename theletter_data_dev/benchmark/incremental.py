"""What a daily metrics refresh costs as history grows, and what one run costs at all.

History is made from one staged day: its rows are copied to the H days before it with every
date and timestamp shifted, so 7, 90 and 365 days of history differ only in length. Refreshing
the day's metrics must touch only the windows they need, so time and bytes read stay flat.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import dagster as dg
import duckdb

from theletter_data.definitions import DAILY_METRIC_ASSETS, STAGING_ASSETS, build_definitions
from theletter_data.resources.duckdb_warehouse import DuckDBWarehouse
from theletter_data.settings import Environment, Settings


@dataclass(frozen=True)
class Refresh:
    history_days: int
    staged_rows: int
    seconds: float
    bytes_read: int


def staged_day(lake_dir: Path, work: Path, day: date) -> Path:
    """A warehouse holding `day` staged from the lake, by the staging assets themselves."""
    data = work / "base"
    shutil.rmtree(data, ignore_errors=True)
    data.mkdir(parents=True)
    (data / "lake").symlink_to(lake_dir.resolve(), target_is_directory=True)
    defs = build_definitions(
        Settings(environment=Environment.LOCAL, data_dir=data, pseudonym_key_set=False)
    )
    result = dg.materialize(
        STAGING_ASSETS,
        resources=defs.resources,
        partition_key=day.isoformat(),
        instance=dg.DagsterInstance.ephemeral(),
    )
    assert result.success
    return data / "warehouse.duckdb"


def with_history(base: Path, target: Path, day: date, history_days: int) -> int:
    """Copy `base` to `target` and give every staged table `history_days` days before `day`;
    returns the staged rows it then holds."""
    shutil.copy(base, target)
    rows = 0
    # Day by day, as daily runs append them, so that each row group holds few days.
    with duckdb.connect(str(target)) as con:
        con.execute("SET enable_progress_bar = false")
        tables = con.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'staging' "
            "AND table_name LIKE 'stg_%'"
        ).fetchall()
        for (name,) in tables:
            columns = con.execute(
                "SELECT column_name, data_type FROM information_schema.columns "
                "WHERE table_schema = 'staging' AND table_name = ? ORDER BY ordinal_position",
                [name],
            ).fetchall()
            names = [c for c, _ in columns]
            if "valid_from" in names:
                # A table of changes (staging/snapshot_changes.py): the day's full load moves to
                # the history's first day, as if nothing had changed since; a copy per day
                # would be a new version of every row every day.
                shifted = ", ".join(f"{c} = {_shifted(c, t, history_days)}" for c, t in columns)
                con.execute(f"UPDATE staging.{name} SET {shifted} WHERE valid_from = ?", [day])
            else:
                partition = "event_date" if "event_date" in names else "snapshot_date"
                shifted = ", ".join(_shifted(c, t) for c, t in columns)
                con.execute(
                    f"INSERT INTO staging.{name} SELECT {shifted} FROM staging.{name}, "
                    f"range(1, {history_days} + 1) AS r(k) WHERE {partition} = ? ORDER BY k",
                    [day],
                )
            rows += int(con.execute(f"SELECT COUNT(*) FROM staging.{name}").fetchall()[0][0])
        con.execute("CHECKPOINT")
    return rows


def _shifted(column: str, type_: str, k: int | str = "k") -> str:
    """Day k before: times move back k days; posts and messages are new ones (a post's funnel
    starts at its first send)."""
    if type_.startswith(("DATE", "TIMESTAMP")):
        return f"{column} - to_days(CAST({k} AS INTEGER))"
    if column in ("post_id", "message_id"):
        return f"{column} || '~' || {k}"
    return column


def refresh_metrics(warehouse: Path, day: date) -> tuple[float, int]:
    """Seconds and bytes read (from /proc/self/io) to materialize the day's metrics."""
    before = _bytes_read()
    started = time.perf_counter()
    result = dg.materialize(
        DAILY_METRIC_ASSETS,
        resources={"warehouse": DuckDBWarehouse(path=str(warehouse))},
        partition_key=day.isoformat(),
        instance=dg.DagsterInstance.ephemeral(),
    )
    seconds = time.perf_counter() - started
    assert result.success
    return seconds, _bytes_read() - before


def _bytes_read() -> int:
    for line in Path("/proc/self/io").read_text().splitlines():
        if line.startswith("rchar:"):
            return int(line.split()[1])
    return 0


def incremental_cost(
    lake_dir: Path, work: Path, day: date, histories: tuple[int, ...] = (7, 30, 90, 365)
) -> list[Refresh]:
    base = staged_day(lake_dir, work, day)
    refreshes = []
    for history in histories:
        target = work / f"history-{history}.duckdb"
        staged_rows = with_history(base, target, day, history)
        # The best of three: the refresh is short, and the machine is shared.
        seconds, read = min(refresh_metrics(target, day) for _ in range(3))
        refreshes.append(Refresh(history, staged_rows, seconds, read))
        target.unlink()
    return refreshes


@dataclass(frozen=True)
class RunOverhead:
    in_process_seconds: float
    cli_seconds: float


def orchestration_overhead(lake_dir: Path, work: Path, day: date) -> RunOverhead:
    """Wall time of the whole daily graph for one partition of a small lake: in this process
    (`execute_in_process`) and from the command line (`dagster job execute`, a new process
    that loads the code location, as a user or a run worker does)."""
    data = work / "overhead"
    shutil.rmtree(data, ignore_errors=True)
    data.mkdir(parents=True)
    (data / "lake").symlink_to(lake_dir.resolve(), target_is_directory=True)
    settings = Settings(environment=Environment.LOCAL, data_dir=data, pseudonym_key_set=False)
    job = build_definitions(settings).resolve_job_def("daily_refresh")
    tags = {"dagster/partition": day.isoformat()}
    started = time.perf_counter()
    assert job.execute_in_process(instance=dg.DagsterInstance.ephemeral(), tags=tags).success
    in_process = time.perf_counter() - started

    home = work / "dagster-home"
    home.mkdir(exist_ok=True)
    env = {**os.environ, "THELETTER_DATA_DIR": str(data), "DAGSTER_HOME": str(home)}
    command = [
        str(Path(sys.executable).with_name("dagster")), "job", "execute",
        "-m", "theletter_data.definitions", "-j", "daily_refresh",
        "--tags", f'{{"dagster/partition": "{day.isoformat()}"}}',
    ]  # fmt: skip
    started = time.perf_counter()
    subprocess.run(command, env=env, check=True, capture_output=True)
    return RunOverhead(in_process, time.perf_counter() - started)
