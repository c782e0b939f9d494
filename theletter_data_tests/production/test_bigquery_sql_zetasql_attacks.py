"""The analyzer of test_bigquery_sql_zetasql.py is BigQuery's, not a lenient one: ZetaSQL, set
up as support/zetasql_bigquery.py does, refuses what BigQuery refuses (a function it lacks, a
misspelt column, a parameter not sent, a bad statement inside a transaction or a block, ...),
accepts what it accepts, and reports a scripting statement instead of passing it silently.
"""

from __future__ import annotations

import pytest

from theletter_data_tests.support.bigquery_statements import SentStatement
from theletter_data_tests.support.zetasql_bigquery import BigQueryAnalyzer
from theletter_data_tests.support.zetasql_catalog import declared_tables

# -- the analyzer is BigQuery's, not a lenient one: attacks ---------------------------------------

PROJECT, PREFIX = "theletter-prod", "theletter_"
STAGING = f"`{PROJECT}`.{PREFIX}staging"
MERGE = (
    f"MERGE `{PROJECT}.{PREFIX}staging.quarantine` AS target USING (SELECT event_date, stream, "
    f"occurrences FROM `{PROJECT}.{PREFIX}staging.quarantine` WHERE event_date >= @d) AS source "
    "ON FALSE WHEN NOT MATCHED BY SOURCE AND target.event_date >= @d THEN DELETE "
    "WHEN NOT MATCHED THEN INSERT (event_date, stream, occurrences) "
    "VALUES (source.event_date, source.stream, source.occurrences)"
)


@pytest.mark.parametrize(
    ("sql", "refusal"),
    [
        pytest.param(
            f"SELECT DATEADD(day, 1, event_date) FROM {STAGING}.stg_app_logs",
            "Function not found: DATEADD",
            id="a-function-bigquery-lacks",
        ),
        pytest.param(
            # sqlglot makes it DuckDB's COUNT(DISTINCT (a, b)): the emulator runs it.
            f"SELECT COUNT(DISTINCT newsletter_id, session_id) FROM {STAGING}.stg_page_views",
            "No matching signature for aggregate function COUNT",
            id="count-distinct-of-two-columns",
        ),
        pytest.param(
            f"SELECT is_bott FROM {STAGING}.stg_page_views",
            "Unrecognized name: is_bott; Did you mean is_bot?",
            id="a-misspelt-column",
        ),
        pytest.param(
            f"SELECT COUNT(*) FROM `{PROJECT}`.staging.stg_app_logs",
            "Table not found",
            id="a-layer-name-not-rewritten-to-its-dataset",
        ),
        pytest.param(
            f"SELECT COUNT(*) FROM {STAGING}.stg_app_logs WHERE event_date >= @start_date",
            "Query parameter 'start_date' not found",
            id="a-parameter-not-sent",
        ),
        pytest.param(
            MERGE.replace("occurrences FROM", "1.5 AS occurrences FROM"),
            "Value has type FLOAT64 which cannot be inserted into column occurrences",
            id="a-float-into-an-int64-column",
        ),
        pytest.param(
            "SELECT CAST(1 AS INT32) AS x", "Type not found: INT32", id="an-internal-only-type"
        ),
        pytest.param(
            f"BEGIN TRANSACTION; {MERGE}; {MERGE.replace('source.stream,', 'source.strem,')}; "
            "COMMIT TRANSACTION;",
            "Name strem not found inside source",
            id="a-bad-statement-inside-a-transaction",
        ),
        pytest.param(
            f"BEGIN BEGIN TRANSACTION; {MERGE.replace('@d', '@e')}; COMMIT TRANSACTION; "
            "EXCEPTION WHEN ERROR THEN ROLLBACK TRANSACTION; RAISE; END",
            "Query parameter 'e' not found",
            id="a-bad-statement-inside-a-begin-exception-block",
        ),
        pytest.param(
            MERGE.replace(f"{PREFIX}staging.quarantine` WHERE", f"{PREFIX}staging._load_q` WHERE"),
            "Table not found",
            id="a-scratch-table-no-load-created",
        ),
    ],
)
def test_zetasql_refuses_what_bigquery_refuses(
    zetasql: BigQueryAnalyzer, sql: str, refusal: str
) -> None:
    analysis = _analyze(zetasql, sql)
    assert [refusal in r.message for r in analysis.rejections] == [True], analysis.rejections


@pytest.mark.parametrize(
    ("sql", "sql_statements"),
    [
        pytest.param(
            f"SELECT event_id FROM {STAGING}.stg_app_logs "
            "QUALIFY ROW_NUMBER() OVER (PARTITION BY event_id ORDER BY event_at) = 1",
            1,
            id="qualify-without-where",
        ),
        pytest.param(
            f"SELECT n FROM (WITH t AS (SELECT COUNT(*) AS n FROM {STAGING}.quarantine) "
            "SELECT n FROM t) AS s",
            1,
            id="with-inside-a-subquery",
        ),
        pytest.param(
            f"SELECT COUNT(*) AS n FROM {PREFIX}staging.quarantine", 1, id="the-jobs-own-project"
        ),
        pytest.param(
            f"BEGIN TRANSACTION; {MERGE}; {MERGE}; COMMIT TRANSACTION;", 4, id="a-transaction"
        ),
        pytest.param(
            f"CREATE TABLE IF NOT EXISTS `{PROJECT}.{PREFIX}staging.t` (d DATE, s STRING) "
            "PARTITION BY d CLUSTER BY s OPTIONS (description = 'x')",
            1,
            id="partitioned-clustered-ddl",
        ),
    ],
)
def test_zetasql_accepts_what_bigquery_accepts(
    zetasql: BigQueryAnalyzer, sql: str, sql_statements: int
) -> None:
    analysis = _analyze(zetasql, sql)
    assert analysis.rejections == []
    assert analysis.sql_statements == sql_statements


def test_a_scripting_statement_is_reported_not_silently_passed(zetasql: BigQueryAnalyzer) -> None:
    analysis = _analyze(
        zetasql,
        f"BEGIN BEGIN TRANSACTION; {MERGE}; COMMIT TRANSACTION; "
        "EXCEPTION WHEN ERROR THEN ROLLBACK TRANSACTION; RAISE; END",
    )
    assert analysis.rejections == [] and analysis.sql_statements == 4
    assert [kind for _, kind in analysis.scripting] == ["BeginEndBlock", "RaiseStatement"]


def _analyze(zetasql: BigQueryAnalyzer, sql: str):  # type: ignore[no-untyped-def]
    statement = SentStatement(sql=sql, parameters=(("d", "DATE"),), origin="test")
    return zetasql.analyze(
        [statement], project=PROJECT, dataset_prefix=PREFIX, tables=declared_tables()
    )
