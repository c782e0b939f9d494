"""What a run costs the instance database, measured on PostgreSQL (the tests' private server,
the same major version as RDS): the rows each run adds to the event log and the bytes the
database grows by. deploy/README.md sizes the RDS instance and its storage from these figures
(*The instance database*); this test fails if the code starts writing much more per run.
"""

from __future__ import annotations

import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import dagster as dg
import psycopg2
import pytest

from theletter_data_dev.generate import generate_lake
from theletter_data_tests.support.postgres import PostgresServer
from theletter_data_tests.support.week import definitions, run

DAY = date(2026, 11, 10)
# What deploy/README.md sizes from, with room above what was measured here. A run's rows grow
# with its graph, so the bound is per step and per check (an asset's step writes about 6 rows:
# planned, start, log, output, materialization, success; a check about 3: planned, output,
# evaluation), not a total that every new metric would have to raise.
ROWS_PER_STEP = 6
ROWS_PER_CHECK = 3
ROWS_PER_RUN = 10
ROOM = 1.15
MAX_BYTES_PER_ROW = 4_000


def _bound(steps: int, checks: int) -> int:
    return int(ROOM * (ROWS_PER_STEP * steps + ROWS_PER_CHECK * checks + ROWS_PER_RUN))


@dataclass(frozen=True)
class Measured:
    rows: int
    bytes: int
    by_type: dict[str, int]


@pytest.fixture
def database(postgres: PostgresServer) -> Iterator[dict[str, object]]:
    """A database of its own on the session's server, so that sizes are this test's only."""
    name = f"load_{uuid.uuid4().hex[:8]}"
    admin = psycopg2.connect(
        host=postgres.host, port=postgres.port, user=postgres.user, dbname=postgres.database
    )
    admin.autocommit = True
    with admin.cursor() as cursor:
        cursor.execute(f"CREATE DATABASE {name}")
    yield {
        "hostname": postgres.host,
        "port": postgres.port,
        "username": postgres.user,
        "password": "",
        "db_name": name,
        "scheme": "postgresql+psycopg2",  # as dagster.yaml: dagster-postgres ships psycopg2
    }
    with admin.cursor() as cursor:
        cursor.execute(f"DROP DATABASE {name} WITH (FORCE)")
    admin.close()


def _measure(instance: dg.DagsterInstance, database: dict[str, object], go: object) -> Measured:
    def size() -> int:
        with (
            psycopg2.connect(
                host=database["hostname"],
                port=database["port"],
                user=database["username"],
                dbname=database["db_name"],
            ) as connection,
            connection.cursor() as cursor,
        ):
            cursor.execute("SELECT pg_database_size(current_database())")
            return int(cursor.fetchone()[0])

    before = size()
    result = go()  # type: ignore[operator]
    assert result.success
    records = instance.get_records_for_run(result.run_id, limit=100_000).records
    by_type: dict[str, int] = {}
    for record in records:
        entry = record.event_log_entry
        kind = entry.dagster_event.event_type_value if entry.dagster_event else "LOG_MESSAGE"
        by_type[kind] = by_type.get(kind, 0) + 1
    return Measured(len(records), size() - before, by_type)


def test_a_day_s_runs_fit_the_instance_database_sizing(
    database: dict[str, object], tmp_path: Path
) -> None:
    defs = definitions(tmp_path / "data")
    generate_lake(
        defs.resources["lake"],
        DAY - timedelta(days=1),
        DAY + timedelta(days=1),
        newsletters=8,
        readers=1_500,
        seed=5,
        workers=1,
    )
    storage = {"postgres": {"postgres_db": database}}
    with dg.instance_for_test(overrides={"storage": storage}) as instance:
        # The first run creates Dagster's tables; the next two are measured.
        first = run(
            defs, "daily_refresh", instance, DAY - timedelta(days=1), DAY - timedelta(days=1)
        )
        assert first.success
        days = [
            _measure(instance, database, lambda d=d: run(defs, "daily_refresh", instance, d, d))
            for d in (DAY, DAY + timedelta(days=1))
        ]
        one = _measure(
            instance,
            database,
            lambda: defs.resolve_job_def("daily_refresh").execute_in_process(
                instance=instance,
                asset_selection=[dg.AssetKey("newsletter_daily_traffic")],
                partition_key=DAY.isoformat(),
            ),
        )
    daily = days[0]
    bytes_per_row = sum(d.bytes for d in days) / sum(d.rows for d in days)
    print(f"\n{days}\n{one}\n{bytes_per_row:.0f} bytes a row", file=sys.stderr)
    job = defs.resolve_job_def("daily_refresh")
    assets = len(job.asset_layer.executable_asset_keys)
    assert daily.by_type["ASSET_MATERIALIZATION"] == assets  # every staged table and metric
    for measured in (*days, one):
        steps = measured.by_type["ASSET_MATERIALIZATION"]
        checks = measured.by_type["ASSET_CHECK_EVALUATION"]
        assert measured.rows <= _bound(steps, checks), (measured, _bound(steps, checks))
    assert bytes_per_row <= MAX_BYTES_PER_ROW
