"""Warehouse SQL is BigQuery SQL: every statement parses in sqlglot's BigQuery dialect and
transpiles to DuckDB; engine SQL (staging projections) parses as DuckDB."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlglot

import theletter_data
from theletter_data.metrics.metric_asset import read_statement
from theletter_data.sql import to_duckdb
from theletter_data.staging.email_events import EMAIL_EVENTS

PACKAGE = Path(theletter_data.__file__).parent
WAREHOUSE_SQL = sorted((PACKAGE / "metrics" / "sql").glob("*.sql"))
SHARED_WAREHOUSE_SQL = sorted((PACKAGE / "metrics" / "sql" / "shared").glob("*.sql"))
SERVING_SQL = sorted((PACKAGE / "serving" / "sql").glob("*.sql"))
ENGINE_SQL = sorted((PACKAGE / "staging" / "sql").glob("*.sql"))


def test_there_is_sql_to_check() -> None:
    assert len(WAREHOUSE_SQL) >= 6 and len(ENGINE_SQL) >= 5 and len(SERVING_SQL) >= 7


@pytest.mark.parametrize("path", SERVING_SQL, ids=lambda p: p.stem)
def test_serving_sql_is_bigquery_and_transpiles(path: Path) -> None:
    text = path.read_text()
    (statement,) = sqlglot.parse(text, read="bigquery")
    assert statement is not None and "$" in to_duckdb(text)


@pytest.mark.parametrize(
    "path", WAREHOUSE_SQL + SHARED_WAREHOUSE_SQL + SERVING_SQL, ids=lambda p: p.stem
)
def test_no_parameter_hides_in_a_comment(path: Path) -> None:
    """BigQuery's emulator counts `@name` in comments as parameters."""
    comments = [line.split("--", 1)[1] for line in path.read_text().splitlines() if "--" in line]
    assert not any("@" in comment for comment in comments)


@pytest.mark.parametrize("path", WAREHOUSE_SQL, ids=lambda p: p.stem)
def test_warehouse_sql_is_bigquery_and_transpiles(path: Path) -> None:
    text = read_statement(path.name)  # with its shared parts (metrics/sql/shared/) put in
    (statement,) = sqlglot.parse(text, read="bigquery")
    assert statement is not None
    assert "$start_date" in to_duckdb(text) or "$end_date" in to_duckdb(text)
    assert "@start_date" in text  # parameters, never formatted values


@pytest.mark.parametrize("path", SHARED_WAREHOUSE_SQL, ids=lambda p: p.stem)
def test_a_shared_warehouse_part_is_one_bigquery_query(path: Path) -> None:
    """A shared part is a whole query (a CTE's body), checkable on its own."""
    (statement,) = sqlglot.parse(path.read_text(), read="bigquery")
    assert isinstance(statement, sqlglot.exp.Query)
    to_duckdb(path.read_text())


@pytest.mark.parametrize("path", ENGINE_SQL, ids=lambda p: p.stem)
def test_engine_sql_is_duckdb(path: Path) -> None:
    # email_events.py puts the email-client rules into its file's placeholders.
    text = EMAIL_EVENTS.projection_sql if path.stem == "email_events" else path.read_text()
    (statement,) = sqlglot.parse(text, read="duckdb")
    assert statement is not None


def test_the_merge_statements_the_warehouse_writes_are_bigquery() -> None:
    from datetime import date

    from theletter_data.metrics.platform_daily_kpis import PLATFORM_DAILY_KPIS
    from theletter_data.resources.bigquery_warehouse import BigQueryWarehouse
    from theletter_data.resources.warehouse import PartitionWrite
    from theletter_data.staging.email_events import STG_EMAIL_EVENTS
    from theletter_data.staging.quarantine import QUARANTINE

    warehouse = BigQueryWarehouse(project="p", dataset_prefix="theletter_")
    day, next_day = date(2026, 11, 20), date(2026, 11, 21)
    for table, scope in ((STG_EMAIL_EVENTS, {}), (QUARANTINE, {"stream": "ses_events"}),
                         (PLATFORM_DAILY_KPIS, {})):  # fmt: skip
        for scratch in ("p.theletter_staging._load_x", None):
            write = PartitionWrite(table, day, next_day, query="SELECT 1", scope=scope)
            statement = warehouse._merge(write, scratch)
            (parsed,) = sqlglot.parse(statement, read="bigquery")
            assert isinstance(parsed, sqlglot.exp.Merge)
            # The window is literal (a transaction's statements share their parameters).
            assert "CAST('2026-11-20' AS DATE)" in statement
            assert all(f"= '{value}'" in statement for value in scope.values())


def test_a_day_of_two_tables_is_one_bigquery_transaction() -> None:
    from theletter_data.resources.bigquery_sql import atomic

    script = atomic(["MERGE `p.d.a` AS t USING (SELECT 1 AS x) AS s ON FALSE "
                      "WHEN NOT MATCHED THEN INSERT (x) VALUES (s.x)"] * 2)  # fmt: skip
    parsed = [type(s).__name__ for s in sqlglot.parse(script, read="bigquery")]
    assert parsed == ["Transaction", "Merge", "Merge", "Commit"]
    assert script.startswith("BEGIN TRANSACTION;") and script.endswith("COMMIT TRANSACTION;")
