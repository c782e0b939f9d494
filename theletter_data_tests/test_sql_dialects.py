"""Warehouse SQL is BigQuery SQL: every statement parses in sqlglot's BigQuery dialect and
transpiles to DuckDB; engine SQL (staging projections) parses as DuckDB."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlglot

import theletter_data
from theletter_data.sql import to_duckdb

PACKAGE = Path(theletter_data.__file__).parent
WAREHOUSE_SQL = sorted((PACKAGE / "metrics" / "sql").glob("*.sql"))
ENGINE_SQL = sorted((PACKAGE / "staging" / "sql").glob("*.sql"))


def test_there_is_sql_to_check() -> None:
    assert len(WAREHOUSE_SQL) >= 6 and len(ENGINE_SQL) >= 5


@pytest.mark.parametrize("path", WAREHOUSE_SQL, ids=lambda p: p.stem)
def test_warehouse_sql_is_bigquery_and_transpiles(path: Path) -> None:
    text = path.read_text()
    (statement,) = sqlglot.parse(text, read="bigquery")
    assert statement is not None
    assert "$start_date" in to_duckdb(text) or "$end_date" in to_duckdb(text)
    assert "@start_date" in text  # parameters, never formatted values


@pytest.mark.parametrize("path", ENGINE_SQL, ids=lambda p: p.stem)
def test_engine_sql_is_duckdb(path: Path) -> None:
    (statement,) = sqlglot.parse(path.read_text(), read="duckdb")
    assert statement is not None
