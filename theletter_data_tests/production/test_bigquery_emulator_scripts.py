"""What the BigQuery emulator does with multi-statement scripts: transactions that commit and roll
back, temporary tables, variables, and MERGE in every clause kind.

Each test asserts what the emulator does today; where BigQuery differs, a comment says what it
does instead, and EMULATOR-ONLY or GAP marks it (support/emulator_probe.py says what those
mean; the fixtures `bq` and `ds` are there too).
"""

from __future__ import annotations

import pytest
from google.api_core.exceptions import BadRequest, Conflict, NotFound
from google.cloud import bigquery

from theletter_data_tests.support.emulator_probe import D, date_param, rows, run

# --- scripts and transactions --------------------------------------------------------------------


@pytest.fixture
def two_tables(bq: bigquery.Client, ds: str) -> str:
    run(bq, f"CREATE TABLE `{ds}.t` (d DATE, v INT64)")
    run(bq, f"CREATE TABLE `{ds}.s` (d DATE, v INT64)")
    run(bq, f"INSERT INTO `{ds}.t` VALUES (DATE '2026-11-01', 1), (DATE '2026-11-02', 2)")
    run(bq, f"INSERT INTO `{ds}.s` VALUES (DATE '2026-11-01', 10)")
    return ds


def test_transaction_script_commits(bq: bigquery.Client, two_tables: str) -> None:
    ds = two_tables
    job = run(
        bq,
        f"""BEGIN TRANSACTION;
        DELETE FROM `{ds}.t` WHERE d = DATE '2026-11-01';
        INSERT INTO `{ds}.t` SELECT * FROM `{ds}.s`;
        COMMIT TRANSACTION;""",
    )
    assert job.statement_type == "SCRIPT"
    # GAP (minor): BigQuery runs each statement of a script as a child job (num_child_jobs 4).
    assert job.num_child_jobs == 0
    assert rows(bq, f"SELECT * FROM `{ds}.t` ORDER BY d") == [
        {"d": D(2026, 11, 1), "v": 10},
        {"d": D(2026, 11, 2), "v": 2},
    ]


def test_transaction_rolls_back_when_a_table_is_missing(
    bq: bigquery.Client, two_tables: str
) -> None:
    ds = two_tables
    with pytest.raises(NotFound, match=r"Not found: Table .*\.missing was not found"):
        run(
            bq,
            f"""BEGIN TRANSACTION;
            DELETE FROM `{ds}.t` WHERE d = DATE '2026-11-01';
            INSERT INTO `{ds}.t` SELECT * FROM `{ds}.missing`;
            COMMIT TRANSACTION;""",
        )
    # The DELETE was rolled back, as in BigQuery.
    assert rows(bq, f"SELECT COUNT(*) AS n FROM `{ds}.t`") == [{"n": 2}]


def test_transaction_rolls_back_on_a_runtime_error(bq: bigquery.Client, two_tables: str) -> None:
    ds = two_tables
    # GAP (message only): BigQuery says "Bad int64 value: x"; the emulator's message is misleading.
    with pytest.raises(BadRequest, match="Could not convert string 'x' to INT64"):
        run(
            bq,
            f"""BEGIN TRANSACTION;
            DELETE FROM `{ds}.t` WHERE d = DATE '2026-11-01';
            INSERT INTO `{ds}.t` SELECT d, CAST('x' AS INT64) FROM `{ds}.s`;
            COMMIT TRANSACTION;""",
        )
    assert rows(bq, f"SELECT COUNT(*) AS n FROM `{ds}.t`") == [{"n": 2}]


def test_script_without_transaction_keeps_earlier_statements(
    bq: bigquery.Client, two_tables: str
) -> None:
    ds = two_tables
    with pytest.raises(NotFound):
        run(
            bq,
            f"""DELETE FROM `{ds}.t` WHERE d = DATE '2026-11-01';
            INSERT INTO `{ds}.t` SELECT * FROM `{ds}.missing`;""",
        )
    # Same as BigQuery: without BEGIN TRANSACTION the DELETE stays.
    assert rows(bq, f"SELECT * FROM `{ds}.t`") == [{"d": D(2026, 11, 2), "v": 2}]


def test_temp_table_inside_a_script(bq: bigquery.Client, ds: str) -> None:
    run(bq, f"CREATE TABLE `{ds}.t` (x INT64)")
    run(bq, f"INSERT INTO `{ds}.t` VALUES (1), (2)")
    name = f"tmp_{ds.split('.')[1]}"
    job = bq.query(
        f"""CREATE TEMP TABLE {name} AS SELECT x * 10 AS y FROM `{ds}.t`;
        INSERT INTO {name} VALUES (99);
        SELECT SUM(y) AS total FROM {name};"""
    )
    assert [dict(r) for r in job.result()] == [{"total": 129}]
    assert job.statement_type == "SCRIPT"
    # GAP: temp tables are global to the emulator and outlive their script. BigQuery drops them at
    # the end of the script and they are visible only inside it. So a rerun of the same script
    # fails here, where BigQuery would succeed:
    assert rows(bq, f"SELECT COUNT(*) AS n FROM {name}") == [{"n": 3}]
    with pytest.raises(Conflict, match=f"Already Exists: Table {name}"):
        bq.query(f"CREATE TEMP TABLE {name} (y INT64); SELECT 1;").result()
    # Portable: CREATE OR REPLACE TEMP TABLE (valid BigQuery too) can be rerun.
    for _ in range(2):
        sql = f"CREATE OR REPLACE TEMP TABLE {name} AS SELECT 1 AS y; SELECT y FROM {name};"
        assert rows(bq, sql) == [{"y": 1}]
    # Temp tables do not show up as tables of any dataset.
    assert [t.table_id for t in bq.list_tables(ds)] == ["t"]


def test_script_with_variables(bq: bigquery.Client, ds: str) -> None:
    run(bq, f"CREATE TABLE `{ds}.t` (x INT64)")
    run(bq, f"INSERT INTO `{ds}.t` VALUES (1), (2)")
    sql = f"DECLARE n INT64 DEFAULT 0; SET n = (SELECT COUNT(*) FROM `{ds}.t`); SELECT n * 2 AS m;"
    assert rows(bq, sql) == [{"m": 4}]


# --- MERGE ---------------------------------------------------------------------------------------


@pytest.fixture
def merge_tables(bq: bigquery.Client, ds: str) -> str:
    run(bq, f"CREATE TABLE `{ds}.t` (d DATE, k STRING, v INT64) PARTITION BY d")
    run(bq, f"CREATE TABLE `{ds}.s` (d DATE, k STRING, v INT64)")
    run(
        bq,
        f"""INSERT INTO `{ds}.t` VALUES (DATE '2026-11-01', 'a', 1), (DATE '2026-11-01', 'b', 2),
        (DATE '2026-11-02', 'a', 3), (DATE '2026-11-03', 'a', 4)""",
    )
    run(
        bq,
        f"INSERT INTO `{ds}.s` VALUES (DATE '2026-11-02', 'x', 30), (DATE '2026-11-02', 'y', 31)",
    )
    return ds


REPLACE_DAY_2 = [date_param("a", D(2026, 11, 2)), date_param("b", D(2026, 11, 3))]


def test_merge_replace_partition_with_insert_row_fails(
    bq: bigquery.Client, merge_tables: str
) -> None:
    ds = merge_tables
    sql = f"""MERGE `{ds}.t` T USING `{ds}.s` S ON FALSE
    WHEN NOT MATCHED BY SOURCE AND T.d >= @a AND T.d < @b THEN DELETE
    WHEN NOT MATCHED THEN INSERT ROW"""
    # GAP: BigQuery supports INSERT ROW (the atomic replace-partition idiom as written here).
    with pytest.raises(BadRequest, match='syntax error at or near "ROW"'):
        run(bq, sql, REPLACE_DAY_2)
    assert rows(bq, f"SELECT COUNT(*) AS n FROM `{ds}.t`") == [{"n": 4}]


def test_merge_replace_partition_with_column_list(bq: bigquery.Client, merge_tables: str) -> None:
    ds = merge_tables
    # The same idiom with an explicit column list works in both the emulator and BigQuery.
    job = run(
        bq,
        f"""MERGE `{ds}.t` T USING `{ds}.s` S ON FALSE
        WHEN NOT MATCHED BY SOURCE AND T.d >= @a AND T.d < @b THEN DELETE
        WHEN NOT MATCHED THEN INSERT (d, k, v) VALUES (S.d, S.k, S.v)""",
        REPLACE_DAY_2,
    )
    assert job.num_dml_affected_rows == 3
    # GAP (minor): BigQuery also fills dml_stats (inserted 2, deleted 1).
    assert job.dml_stats is None
    assert rows(bq, f"SELECT d, k, v FROM `{ds}.t` ORDER BY d, k") == [
        {"d": D(2026, 11, 1), "k": "a", "v": 1},
        {"d": D(2026, 11, 1), "k": "b", "v": 2},
        {"d": D(2026, 11, 2), "k": "x", "v": 30},
        {"d": D(2026, 11, 2), "k": "y", "v": 31},
        {"d": D(2026, 11, 3), "k": "a", "v": 4},
    ]


def test_merge_insert_values_without_column_list_fails(
    bq: bigquery.Client, merge_tables: str
) -> None:
    ds = merge_tables
    # GAP: BigQuery accepts INSERT VALUES (...) without a column list.
    with pytest.raises(BadRequest, match="Parser Error: syntax error"):
        run(
            bq,
            f"""MERGE `{ds}.t` T USING `{ds}.s` S ON FALSE
            WHEN NOT MATCHED THEN INSERT VALUES (S.d, S.k, S.v)""",
        )


def test_merge_upsert_and_all_clause_kinds(bq: bigquery.Client, merge_tables: str) -> None:
    ds = merge_tables
    run(
        bq,
        f"INSERT INTO `{ds}.s` VALUES (DATE '2026-11-01', 'a', 500), (DATE '2026-11-01', 'b', 20)",
    )
    job = run(
        bq,
        f"""MERGE INTO `{ds}.t` AS T USING (SELECT * FROM `{ds}.s`) AS S
        ON T.d = S.d AND T.k = S.k
        WHEN MATCHED AND S.v > 100 THEN DELETE
        WHEN MATCHED THEN UPDATE SET v = S.v
        WHEN NOT MATCHED BY TARGET THEN INSERT (d, k, v) VALUES (S.d, S.k, S.v)
        WHEN NOT MATCHED BY SOURCE AND T.d = DATE '2026-11-03' THEN UPDATE SET v = -1""",
    )
    assert job.num_dml_affected_rows == 5
    assert rows(bq, f"SELECT d, k, v FROM `{ds}.t` ORDER BY d, k") == [
        {"d": D(2026, 11, 1), "k": "b", "v": 20},
        {"d": D(2026, 11, 2), "k": "a", "v": 3},
        {"d": D(2026, 11, 2), "k": "x", "v": 30},
        {"d": D(2026, 11, 2), "k": "y", "v": 31},
        {"d": D(2026, 11, 3), "k": "a", "v": -1},
    ]


def test_merge_with_two_source_rows_per_target_row_is_not_rejected(
    bq: bigquery.Client, merge_tables: str
) -> None:
    ds = merge_tables
    run(
        bq,
        f"INSERT INTO `{ds}.s` VALUES (DATE '2026-11-02', 'a', 98), (DATE '2026-11-02', 'a', 99)",
    )
    # GAP: BigQuery fails: "UPDATE/MERGE must match at most one source row for each target row".
    job = run(
        bq,
        f"""MERGE `{ds}.t` T USING `{ds}.s` S ON T.d = S.d AND T.k = S.k
        WHEN MATCHED THEN UPDATE SET v = S.v""",
    )
    assert job.num_dml_affected_rows == 2
    [after] = rows(bq, f"SELECT v FROM `{ds}.t` WHERE d = DATE '2026-11-02' AND k = 'a'")
    assert after["v"] in (98, 99)
