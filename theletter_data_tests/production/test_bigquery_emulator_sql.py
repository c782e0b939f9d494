"""What the BigQuery emulator does with BigQuery's SQL: a realistic metric query, dates, weeks,
time zones, numbers and aggregates.

Each test asserts what the emulator does today; where BigQuery differs, a comment says what it
does instead, and EMULATOR-ONLY or GAP marks it (support/emulator_probe.py says what those
mean; the fixtures `bq` and `ds` are there too).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from google.api_core.exceptions import BadRequest
from google.cloud import bigquery

from theletter_data_tests.support.emulator_probe import UTC, D, date_param, rows, run

# --- SQL surface ---------------------------------------------------------------------------------


METRIC_SQL = """
WITH days AS (
  SELECT day FROM UNNEST(GENERATE_DATE_ARRAY(@start, @end)) AS day
),
ev AS (
  SELECT user_id, newsletter_id, event, DATE(ts, 'Asia/Tokyo') AS day, ts FROM `{ds}.ev`
),
latest AS (
  SELECT * FROM ev WHERE TRUE
  QUALIFY ROW_NUMBER() OVER (PARTITION BY user_id ORDER BY ts DESC) = 1
),
daily AS (
  SELECT d.day, e.newsletter_id,
    COUNTIF(e.event = 'open') AS opens,
    COUNTIF(e.event = 'click') AS clicks,
    COUNT(DISTINCT e.user_id) AS users
  FROM days AS d LEFT JOIN ev AS e ON e.day = d.day
  GROUP BY d.day, e.newsletter_id
),
ids AS (
  SELECT newsletter_id FROM ev UNION DISTINCT SELECT newsletter_id FROM latest
),
both_sources AS (
  SELECT 'a' AS src, newsletter_id FROM ids UNION ALL SELECT 'b', newsletter_id FROM ids
)
SELECT
  day, newsletter_id, opens, clicks, users,
  SAFE_DIVIDE(clicks, opens) AS ctr,
  SUM(opens) OVER w AS cum_opens,
  DATE_TRUNC(day, WEEK(MONDAY)) AS week,
  DATE_DIFF(day, @start, DAY) AS age,
  LEAST(opens, 1) AS capped,
  IF(opens > 0, 'active', 'idle') AS status,
  (SELECT COUNT(*) FROM both_sources) AS n_both,
  (SELECT COUNT(*) FROM latest) AS n_latest
FROM daily
WINDOW w AS (PARTITION BY newsletter_id ORDER BY day ROWS UNBOUNDED PRECEDING)
ORDER BY day, newsletter_id
"""


def test_realistic_metric_query(bq: bigquery.Client, ds: str) -> None:
    run(
        bq,
        f"CREATE TABLE `{ds}.ev` "
        "(user_id STRING, newsletter_id STRING, event STRING, ts TIMESTAMP)",
    )
    run(
        bq,
        f"""INSERT INTO `{ds}.ev` VALUES
        ('u1', 'n1', 'open',  TIMESTAMP '2026-11-01 14:30:00+00'),
        ('u1', 'n1', 'click', TIMESTAMP '2026-11-01 15:30:00+00'),
        ('u2', 'n1', 'open',  TIMESTAMP '2026-11-02 01:00:00+00'),
        ('u2', 'n1', 'open',  TIMESTAMP '2026-11-03 01:00:00+00'),
        ('u3', 'n2', 'open',  TIMESTAMP '2026-11-04 23:00:00+00'),
        ('u1', 'n1', 'open',  TIMESTAMP '2026-11-09 00:00:00+00')""",
    )
    params = [date_param("start", D(2026, 11, 1)), date_param("end", D(2026, 11, 9))]
    got = rows(bq, METRIC_SQL.format(ds=ds), params)

    def row(day: int, nl: str | None, opens: int, clicks: int, users: int, cum: int) -> dict:
        monday = D(2026, 11, day) - dt.timedelta(days=D(2026, 11, day).weekday())
        return {
            "day": D(2026, 11, day),
            "newsletter_id": nl,
            "opens": opens,
            "clicks": clicks,
            "users": users,
            "ctr": clicks / opens if opens else None,
            "cum_opens": cum,
            # GAP: DATE_TRUNC of a DATE column by WEEK/MONTH returns a DATETIME (right value, wrong
            # type). BigQuery returns DATE, i.e. `monday` itself.
            "week": dt.datetime.combine(monday, dt.time()),
            "age": day - 1,
            "capped": min(opens, 1),
            "status": "active" if opens else "idle",
            "n_both": 4,
            "n_latest": 3,
        }

    assert got == [
        row(1, "n1", 1, 0, 1, 1),  # 14:30Z is 23:30 in Tokyo; the 15:30Z click is the next day
        row(2, "n1", 1, 1, 2, 2),
        row(3, "n1", 1, 0, 1, 3),
        row(4, None, 0, 0, 0, 0),
        row(5, "n2", 1, 0, 1, 1),
        row(6, None, 0, 0, 0, 0),
        row(7, None, 0, 0, 0, 0),
        row(8, None, 0, 0, 0, 0),
        row(9, "n1", 1, 0, 1, 4),
    ]


@pytest.fixture
def days(bq: bigquery.Client, ds: str) -> str:
    """Sunday 2026-11-01, Monday 2026-11-02, Sunday 2026-11-08."""
    run(bq, f"CREATE TABLE `{ds}.t` (day DATE)")
    run(
        bq,
        f"INSERT INTO `{ds}.t` "
        "VALUES (DATE '2026-11-01'), (DATE '2026-11-02'), (DATE '2026-11-08')",
    )
    return ds


def column(bq: bigquery.Client, ds: str, expr: str) -> tuple[list[Any], str]:
    result = bq.query(f"SELECT {expr} AS v FROM `{ds}.t` ORDER BY day").result()
    return [r["v"] for r in result], result.schema[0].field_type


def test_date_trunc_week_on_a_column(bq: bigquery.Client, days: str) -> None:
    monday = [dt.datetime(2026, 10, 26), dt.datetime(2026, 11, 2), dt.datetime(2026, 11, 2)]
    # GAP (type): BigQuery returns DATE 2026-10-26, 2026-11-02, 2026-11-02.
    assert column(bq, days, "DATE_TRUNC(day, WEEK(MONDAY))") == (monday, "DATETIME")
    # GAP (value and type): WEEK means WEEK(SUNDAY) in BigQuery: DATE 11-01, 11-01, 11-08.
    assert column(bq, days, "DATE_TRUNC(day, WEEK)") == (monday, "DATETIME")
    sundays = [D(2026, 11, 1), D(2026, 11, 1), D(2026, 11, 8)]
    assert column(bq, days, "DATE_TRUNC(day, WEEK(SUNDAY))") == (sundays, "DATE")
    # GAP (type): BigQuery returns DATE 2026-11-01 three times.
    assert column(bq, days, "DATE_TRUNC(day, MONTH)") == (
        [dt.datetime(2026, 11, 1)] * 3,
        "DATETIME",
    )
    # GAP: BigQuery supports ISOWEEK.
    with pytest.raises(BadRequest, match='extract specifier "ISOWEEK" not recognized'):
        column(bq, days, "DATE_TRUNC(day, ISOWEEK)")


def test_date_trunc_week_monday_portable_forms(bq: bigquery.Client, days: str) -> None:
    # Both are valid BigQuery and give DATE Mondays in the emulator too.
    mondays = [D(2026, 10, 26), D(2026, 11, 2), D(2026, 11, 2)]
    assert column(bq, days, "CAST(DATE_TRUNC(day, WEEK(MONDAY)) AS DATE)") == (mondays, "DATE")
    expr = "DATE_SUB(day, INTERVAL MOD(EXTRACT(DAYOFWEEK FROM day) + 5, 7) DAY)"
    assert column(bq, days, expr) == (mondays, "DATE")


def test_date_trunc_week_monday_of_a_literal_is_wrong(bq: bigquery.Client) -> None:
    # GAP: BigQuery gives 2026-10-26 (the Monday before Sunday 2026-11-01).
    sql = "SELECT DATE_TRUNC(DATE '2026-11-01', WEEK(MONDAY)) AS v"
    assert rows(bq, sql) == [{"v": D(2026, 11, 1)}]


def test_date_diff_by_week(bq: bigquery.Client, days: str) -> None:
    # Days since Sunday 2026-10-25: 7, 8, 14.
    assert column(bq, days, "DATE_DIFF(day, DATE '2026-10-25', DAY)") == ([7, 8, 14], "INTEGER")
    assert column(bq, days, "DATE_DIFF(day, DATE '2026-10-25', WEEK)") == ([1, 1, 2], "INTEGER")
    # GAP: BigQuery counts Monday boundaries crossed: 1, 2, 2 (emulator is one short).
    for part in ("WEEK(MONDAY)", "ISOWEEK"):
        expr = f"DATE_DIFF(day, DATE '2026-10-25', {part})"
        assert column(bq, days, expr) == ([0, 1, 1], "INTEGER"), part


def test_date_parts_and_formats(bq: bigquery.Client, days: str) -> None:
    assert column(bq, days, "EXTRACT(DAYOFWEEK FROM day)") == ([1, 2, 1], "INTEGER")
    assert column(bq, days, "EXTRACT(ISOWEEK FROM day)") == ([44, 45, 45], "INTEGER")
    assert column(bq, days, "EXTRACT(WEEK FROM day)") == ([44, 44, 45], "INTEGER")
    assert column(bq, days, "FORMAT_DATE('%G-W%V', day)") == (
        ["2026-W44", "2026-W45", "2026-W45"],
        "STRING",
    )
    assert column(bq, days, "LAST_DAY(day, MONTH)") == ([D(2026, 11, 30)] * 3, "DATE")


def test_timestamp_functions_with_time_zones(bq: bigquery.Client) -> None:
    sql = """SELECT
      DATE(TIMESTAMP '2026-11-01 15:30:00+00', 'Asia/Tokyo') AS tokyo_day,
      TIMESTAMP_TRUNC(TIMESTAMP '2026-11-01 15:30:00+00', DAY, 'Asia/Tokyo') AS tokyo_midnight,
      FORMAT_TIMESTAMP('%Y-%m-%dT%H:%M:%S%Ez', TIMESTAMP '2026-11-01 15:30:00+00', 'Asia/Tokyo')
        AS formatted,
      CAST(TIMESTAMP '2026-11-01 15:30:00.123456+00' AS STRING) AS as_string,
      TIMESTAMP_DIFF(TIMESTAMP '2026-11-02 00:00:00+00', TIMESTAMP '2026-11-01 00:00:00+00', HOUR)
        AS hours"""
    assert rows(bq, sql) == [
        {
            "tokyo_day": D(2026, 11, 2),
            "tokyo_midnight": dt.datetime(2026, 11, 1, 15, tzinfo=UTC),
            "formatted": "2026-11-02T00:30:00+09:00",
            "as_string": "2026-11-01 15:30:00.123456+00",
            "hours": 24,
        }
    ]


def test_numeric_edge_cases(bq: bigquery.Client) -> None:
    sql = """SELECT SAFE_DIVIDE(1, 0) AS div0, SAFE_DIVIDE(0, 0) AS zero_by_zero, 7 / 2 AS ratio,
      DIV(7, 2) AS int_div, ROUND(2.5) AS rounded, LEAST(1, NULL, 3) AS least_null,
      SAFE_CAST('x' AS INT64) AS bad, CAST(2.5 AS INT64) AS cast_half"""
    # GAP: BigQuery casts FLOAT64 2.5 to INT64 3 (round half away from zero); the emulator gives 2.
    assert rows(bq, sql) == [
        {
            "div0": None,
            "zero_by_zero": None,
            "ratio": 3.5,
            "int_div": 3,
            "rounded": 3.0,
            "least_null": None,
            "bad": None,
            "cast_half": 2,
        }
    ]


def test_aggregate_functions(bq: bigquery.Client) -> None:
    sql = """SELECT
      (SELECT STRING_AGG(x, ',' ORDER BY x) FROM UNNEST(['b', 'a']) AS x) AS agg,
      (SELECT ARRAY_AGG(x ORDER BY x DESC LIMIT 1)[OFFSET(0)] FROM UNNEST([1, 2]) AS x) AS top,
      (SELECT APPROX_COUNT_DISTINCT(x) FROM UNNEST([1, 2, 2]) AS x) AS approx_distinct,
      (SELECT APPROX_QUANTILES(x, 2)[OFFSET(1)] FROM UNNEST([1, 2, 3, 4, 5]) AS x) AS median,
      (SELECT COUNTIF(x > 1) FROM UNNEST([1, 2, 3]) AS x) AS countif"""
    # GAP: BigQuery's APPROX_QUANTILES(x, 2) is [1, 3, 5], so OFFSET(1) is 3 (the median).
    assert rows(bq, sql) == [
        {"agg": "a,b", "top": 2, "approx_distinct": 2, "median": 5, "countif": 2}
    ]
