"""Extracting the app's tables straight from a real MariaDB server (Debian's package, a private
data directory): inserts, updates and deletes between runs land; an interrupted run resumes
without gaps or duplicates; a run reads one consistent snapshot; the user only reads."""

from __future__ import annotations

import io
import uuid
from datetime import UTC, date, datetime, timedelta

import dagster as dg
import pyarrow.parquet as pq
import pymysql
import pytest

from theletter_data.definitions import build_definitions
from theletter_data.extract import snapshots
from theletter_data.extract.app_database import AppDatabase
from theletter_data.extract.appdb_assets import appdb_extract
from theletter_data.extract.snapshots import SOURCE_TABLES, extract_snapshot
from theletter_data.raw.sources import appdb_export_prefix
from theletter_data.resources.lake import Lake
from theletter_data.settings import load_settings
from theletter_data.staging.app_exports import NEWSLETTERS as NEWSLETTERS_EXPORT
from theletter_data.staging.app_exports import stage_snapshot

D1, D2, D3 = date(2026, 11, 20), date(2026, 11, 21), date(2026, 11, 22)
T0 = datetime(2026, 11, 20, 1, 0, 0)
NEWSLETTERS = SOURCE_TABLES["newsletters"]


@pytest.fixture
def app(mariadb):  # type: ignore[no-untyped-def]
    """A fresh `newsletters` table (a table of its own per test) and a read-only user."""
    name = f"newsletters_{uuid.uuid4().hex[:8]}"
    user = f"extract_{uuid.uuid4().hex[:6]}"
    with mariadb.admin() as con, con.cursor() as cur:
        cur.execute(
            f"CREATE TABLE {name} (newsletter_id VARCHAR(32) PRIMARY KEY, slug VARCHAR(64), "
            "name VARCHAR(128), category VARCHAR(64), author_id VARCHAR(32), "
            "created_at DATETIME(3), updated_at DATETIME(3) NOT NULL, "
            "INDEX by_change (updated_at, newsletter_id)) ENGINE=InnoDB"
        )
        cur.execute(f"CREATE USER '{user}'@'127.0.0.1' IDENTIFIED BY 'read-only-secret'")
        cur.execute(f"GRANT SELECT ON {mariadb.database}.{name} TO '{user}'@'127.0.0.1'")
    table = snapshots.SourceTable("newsletters", "newsletter_id", NEWSLETTERS.schema, source=name)
    database = AppDatabase(
        host=mariadb.host, port=mariadb.port, user=user, password="read-only-secret",
        database=mariadb.database, batch_rows=10,
    )  # fmt: skip
    return mariadb, table, database


def write(mariadb, sql: str, rows: list[tuple] | None = None) -> None:  # type: ignore[no-untyped-def]
    with mariadb.admin() as con, con.cursor() as cur:
        if rows is None:
            cur.execute(sql)
        else:
            cur.executemany(sql, rows)


def insert(mariadb, table, ids: range, at: datetime) -> None:  # type: ignore[no-untyped-def]
    write(
        mariadb,
        f"INSERT INTO {table.source_name} VALUES (%s, %s, %s, 'tech', 'au_1', %s, %s)",
        [(f"nl_{i:04d}", f"slug-{i}", f"Letter {i}", at, at) for i in ids],
    )


def in_database(mariadb, table) -> set[tuple]:  # type: ignore[no-untyped-def]
    with mariadb.admin() as con, con.cursor() as cur:
        cur.execute(f"SELECT newsletter_id, name, updated_at FROM {table.source_name}")
        return {(k, n, u.replace(tzinfo=UTC)) for k, n, u in cur.fetchall()}


def in_lake(lake: Lake, table, day: date) -> list[tuple]:  # type: ignore[no-untyped-def]
    rows = pq.read_table(
        io.BytesIO(lake.read_bytes(f"{appdb_export_prefix(table.name, day)}part-00000.parquet"))
    ).to_pylist()
    return [(r["newsletter_id"], r["name"], r["updated_at"]) for r in rows]


def test_inserts_updates_and_deletes_between_runs_land(app, lake: Lake) -> None:
    mariadb, table, database = app
    insert(mariadb, table, range(25), T0)
    first = extract_snapshot(database, lake, table, D1)
    assert (first.base_day, first.changed_rows, first.snapshot_rows, first.batches) == (
        None, 25, 25, 3,
    )  # fmt: skip
    assert set(in_lake(lake, table, D1)) == in_database(mariadb, table)

    later = T0 + timedelta(days=1)
    write(mariadb, f"UPDATE {table.source_name} SET name = 'Renamed', updated_at = %s "
          "WHERE newsletter_id IN ('nl_0003', 'nl_0017', 'nl_0024')", [(later,)])  # fmt: skip
    insert(mariadb, table, range(25, 27), later)
    write(mariadb, f"DELETE FROM {table.source_name} WHERE newsletter_id IN "
          "('nl_0000', 'nl_0005', 'nl_0017', 'nl_0026')")  # fmt: skip
    second = extract_snapshot(database, lake, table, D2)

    # Three rows of D1's snapshot are gone (nl_0026 came and went between the runs). Rows stamped
    # within LOOKBACK of the cursor are read again: here every row still stamped T0.
    assert second.base_day == D1 and second.deleted_rows == 3
    assert second.changed_rows == 21 + 2
    rows = in_lake(lake, table, D2)
    assert set(rows) == in_database(mariadb, table) and len(rows) == len(set(rows)) == 23
    assert ("nl_0003", "Renamed", later.replace(tzinfo=UTC)) in rows
    assert set(in_lake(lake, table, D1)) != set(rows)  # D1's snapshot is left as it was

    # Running D2 again builds it again from D1: the same snapshot.
    again = extract_snapshot(database, lake, table, D2)
    assert in_lake(lake, table, D2) == rows and again.base_day == D1
    assert not lake.list(f"appdb/_extract/{table.name}/dt={D2}/")  # work folder removed


def test_an_interrupted_run_resumes_without_gaps_or_duplicates(
    app, lake: Lake, monkeypatch
) -> None:
    mariadb, table, database = app
    insert(mariadb, table, range(5), T0)
    extract_snapshot(database, lake, table, D1)
    insert(mariadb, table, range(5, 40), T0 + timedelta(hours=2))  # 35 changes: 4 batches

    real_write = snapshots._write_parquet
    written: list[str] = []

    def dies_after_two_batches(lake_, key, rows):  # type: ignore[no-untyped-def]
        if "/changes-" in key and len(written) == 2:
            raise ConnectionError("the task was stopped")
        written.append(key)
        real_write(lake_, key, rows)

    monkeypatch.setattr(snapshots, "_write_parquet", dies_after_two_batches)
    with pytest.raises(ConnectionError):
        extract_snapshot(database, lake, table, D2)
    monkeypatch.setattr(snapshots, "_write_parquet", real_write)
    assert len(lake.list(f"appdb/_extract/{table.name}/dt={D2}/")) == 3  # 2 batches + progress

    # Meanwhile the app updates a row the dead run already read, and adds one.
    later = T0 + timedelta(hours=5)
    write(mariadb, f"UPDATE {table.source_name} SET name = 'Changed', updated_at = %s "
          "WHERE newsletter_id = 'nl_0006'", [(later,)])  # fmt: skip
    insert(mariadb, table, range(40, 41), later)
    resumed = extract_snapshot(database, lake, table, D2)

    assert resumed.resumed_after_batches == 2
    rows = in_lake(lake, table, D2)
    assert len(rows) == len({r[0] for r in rows}) == 41  # every key once
    assert set(rows) == in_database(mariadb, table)
    assert ("nl_0006", "Changed", later.replace(tzinfo=UTC)) in rows


def test_a_run_reads_one_consistent_snapshot(app, lake: Lake, monkeypatch) -> None:
    """A row the app commits while a run is between batches is not in that run's snapshot, and
    it is in the next one: it is neither half-seen nor lost."""
    mariadb, table, database = app
    insert(mariadb, table, range(30), T0)
    real_changed = snapshots._changed
    calls: list[int] = []

    def app_writes_between_batches(cursor, table_, after, limit):  # type: ignore[no-untyped-def]
        calls.append(1)
        if len(calls) == 2:
            insert(mariadb, table, range(900, 901), T0 - timedelta(hours=1))  # an early stamp
            write(mariadb, f"DELETE FROM {table.source_name} WHERE newsletter_id = 'nl_0029'")
        return real_changed(cursor, table_, after, limit)

    monkeypatch.setattr(snapshots, "_changed", app_writes_between_batches)
    extract_snapshot(database, lake, table, D1)
    monkeypatch.setattr(snapshots, "_changed", real_changed)
    keys = {r[0] for r in in_lake(lake, table, D1)}
    assert keys == {f"nl_{i:04d}" for i in range(30)}  # as of the run's start

    extract_snapshot(database, lake, table, D2, full_refresh=True)
    keys = {r[0] for r in in_lake(lake, table, D2)}
    assert "nl_0900" in keys and "nl_0029" not in keys


def test_the_extraction_user_can_only_read(app) -> None:
    _, table, database = app
    connection = pymysql.connect(
        host=database.host, port=database.port, user=database.user,
        password=database.password, database=database.database,
    )  # fmt: skip
    with connection, connection.cursor() as cur, pytest.raises(pymysql.err.OperationalError):
        cur.execute(f"DELETE FROM {table.source_name}")


def test_the_extraction_asset_feeds_staging_like_the_nightly_export(
    mariadb, lake: Lake, resources, monkeypatch
) -> None:
    """With THELETTER_APPDB_HOST set the raw_appdb_* assets are materialized by appdb_extract
    (from secrets in the environment), and stg_newsletters stages what it wrote."""
    schema, user = f"app_{uuid.uuid4().hex[:8]}", f"reader_{uuid.uuid4().hex[:6]}"
    with mariadb.admin() as con, con.cursor() as cur:
        cur.execute(f"CREATE DATABASE {schema}")
        cur.execute(
            f"CREATE TABLE {schema}.newsletters (newsletter_id VARCHAR(32) PRIMARY KEY, "
            "slug VARCHAR(64), name VARCHAR(128), category VARCHAR(64), author_id VARCHAR(32), "
            "created_at DATETIME(3), updated_at DATETIME(3) NOT NULL)"
        )
        cur.executemany(
            f"INSERT INTO {schema}.newsletters VALUES (%s, %s, %s, 'tech', 'au_1', %s, %s)",
            [(f"nl_{i}", f"s{i}", f"L{i}", T0, T0) for i in range(3)],
        )
        cur.execute(f"CREATE USER '{user}'@'127.0.0.1' IDENTIFIED BY 'pw-from-env'")
        cur.execute(f"GRANT SELECT ON {schema}.newsletters TO '{user}'@'127.0.0.1'")
    environment = {
        "THELETTER_APPDB_HOST": mariadb.host, "THELETTER_APPDB_PORT": str(mariadb.port),
        "THELETTER_APPDB_USER": user, "THELETTER_APPDB_PASSWORD": "pw-from-env",
        "THELETTER_APPDB_DATABASE": schema,
    }  # fmt: skip
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    settings = load_settings({**environment, "THELETTER_DATA_DIR": str(lake.url)})
    defs = build_definitions(settings)
    graph = defs.resolve_asset_graph()
    assert graph.get(dg.AssetKey("raw_appdb_newsletters")).is_materializable
    schedule = defs.resolve_schedule_def("appdb_extract_schedule")
    assert (schedule.cron_schedule, schedule.execution_timezone) == ("20 0 * * *", "Asia/Tokyo")
    database = defs.resources["app_database"]
    assert isinstance(database.password, dg.EnvVar)  # never the value itself

    result = dg.materialize(
        [appdb_extract],
        selection=[dg.AssetKey("raw_appdb_newsletters")],
        partition_key=str(D1),
        resources={"app_database": database, "lake": lake},
    )
    assert result.success
    (done,) = result.asset_materializations_for_node("appdb_extract")
    assert done.metadata["dagster/row_count"].value == 3

    staged = stage_snapshot(
        NEWSLETTERS_EXPORT, D1, lake=lake, engine=resources["ingest_engine"],
        pseudonymizer=resources["pseudonymizer"], warehouse=resources["warehouse"],
    )  # fmt: skip
    assert (staged.rows_read, staged.staged, staged.quarantined) == (3, 3, 0)
