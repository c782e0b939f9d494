"""The table checks find what they are for, on both warehouses: duplicate keys, NULLs in required
columns, negative counts, rates outside [0, 1], a newsletter with activity but no row, and a
partition far from its weekday's usual size."""

from __future__ import annotations

from datetime import date, timedelta

import dagster as dg
import pyarrow as pa

from theletter_data.checks import (
    COLUMN_VALUES,
    EXPECTED_ROWS,
    ROW_COUNT_ANOMALY,
    UNIQUE_KEY,
    run_table_checks,
)
from theletter_data.resources.warehouse import PartitionWrite, Warehouse
from theletter_data.tables import Column, Table

DAY = date(2026, 11, 20)
NEXT = DAY + timedelta(days=1)
ACTIVITY = Table(
    layer="staging",
    name="activity",
    grain="one row per event",
    partition_by="date",
    key=("event_id",),
    columns=(
        Column("date", "DATE", "Day."),
        Column("event_id", "STRING", "Event."),
        Column("newsletter_id", "STRING", "Newsletter."),
    ),
)
DAILY = Table(
    layer="metrics",
    name="daily",
    grain="one row per newsletter per day",
    partition_by="date",
    key=("date", "newsletter_id"),
    rate_columns=("rate",),
    columns=(
        Column("date", "DATE", "Day."),
        Column("newsletter_id", "STRING", "Newsletter."),
        Column("views", "INT64", "Count."),
        Column("rate", "FLOAT64", "Share.", required=False),
    ),
)
EXPECTED = """
SELECT DISTINCT date, newsletter_id FROM staging.activity
WHERE date >= @start_date AND date < @end_date
"""


def write(warehouse: Warehouse, table: Table, day: date, rows: list[dict]) -> None:
    batch = pa.Table.from_pylist([{"date": day, **r} for r in rows], schema=table.arrow_schema)
    warehouse.replace([PartitionWrite(table, day, day + timedelta(days=1), rows=batch)])


def results(warehouse: Warehouse, table: Table, **kwargs: object) -> dict[str, dg.AssetCheckResult]:
    checked = run_table_checks(warehouse, table, DAY, NEXT, **kwargs)  # type: ignore[arg-type]
    return {r.check_name: r for r in checked}


def metadata(result: dg.AssetCheckResult, name: str) -> object:
    return result.metadata[name].value


def test_a_correct_partition_passes_every_check(warehouse: Warehouse) -> None:
    write(warehouse, ACTIVITY, DAY, [{"event_id": "e1", "newsletter_id": "nl_1"}])
    write(warehouse, DAILY, DAY, [{"newsletter_id": "nl_1", "views": 3, "rate": 0.5}])
    checked = results(warehouse, DAILY, expected_rows_sql=EXPECTED)
    assert set(checked) == {UNIQUE_KEY, COLUMN_VALUES, EXPECTED_ROWS, ROW_COUNT_ANOMALY}
    assert all(r.passed for r in checked.values())


def test_bad_values_and_a_missing_newsletter_fail_with_counts(warehouse: Warehouse) -> None:
    write(warehouse, ACTIVITY, DAY, [
        {"event_id": f"e{n}", "newsletter_id": f"nl_{n}"} for n in range(1, 5)
    ])  # fmt: skip
    write(warehouse, DAILY, DAY, [
        {"newsletter_id": "nl_1", "views": 3, "rate": 0.5},
        {"newsletter_id": "nl_1", "views": 4, "rate": 0.5},  # the key again
        {"newsletter_id": "nl_2", "views": -1, "rate": 1.5},  # a negative count, a rate > 1
        {"newsletter_id": None, "views": 1, "rate": None},  # a required column NULL
    ])  # fmt: skip
    checked = results(warehouse, DAILY, expected_rows_sql=EXPECTED)
    assert not checked[UNIQUE_KEY].passed
    assert not checked[COLUMN_VALUES].passed
    violations = metadata(checked[COLUMN_VALUES], "violations")
    assert violations == {"null_newsletter_id": 1, "negative_views": 1, "out_of_range_rate": 1}
    # nl_3 and nl_4 had activity and have no row (nl_2's row, however wrong, is there).
    assert not checked[EXPECTED_ROWS].passed
    assert metadata(checked[EXPECTED_ROWS], "missing_rows") == 2


def test_a_partition_far_from_its_weekday_is_flagged_as_a_warning(warehouse: Warehouse) -> None:
    for weeks, n in ((1, 100), (2, 120), (3, 90), (4, 110)):
        write(warehouse, ACTIVITY, DAY - timedelta(weeks=weeks), [
            {"event_id": f"w{weeks}-{i}", "newsletter_id": "nl_1"} for i in range(n)
        ])  # fmt: skip
    write(
        warehouse,
        ACTIVITY,
        DAY,
        [{"event_id": f"d{i}", "newsletter_id": "nl_1"} for i in range(30)],
    )
    anomaly = results(warehouse, ACTIVITY)[ROW_COUNT_ANOMALY]
    assert not anomaly.passed and anomaly.severity is dg.AssetCheckSeverity.WARN
    assert metadata(anomaly, "anomalies") == {str(DAY): {"rows": 30, "median": 105.0}}

    write(
        warehouse,
        ACTIVITY,
        DAY,
        [{"event_id": f"d{i}", "newsletter_id": "nl_1"} for i in range(60)],
    )
    assert results(warehouse, ACTIVITY)[ROW_COUNT_ANOMALY].passed  # within 0.5x..2x of 105


def test_too_little_history_is_not_judged(warehouse: Warehouse) -> None:
    write(warehouse, ACTIVITY, DAY - timedelta(weeks=1), [
        {"event_id": f"w{i}", "newsletter_id": "nl_1"} for i in range(100)
    ])  # fmt: skip
    write(warehouse, ACTIVITY, DAY, [{"event_id": "d", "newsletter_id": "nl_1"}])
    anomaly = results(warehouse, ACTIVITY)[ROW_COUNT_ANOMALY]
    assert anomaly.passed and metadata(anomaly, "partitions_judged") == 0


def test_a_table_younger_than_its_lookback_is_not_judged(warehouse: Warehouse) -> None:
    """A 30-day funnel's row counts grow through its first month: that is not an anomaly."""
    for weeks, n in ((1, 50), (2, 40), (3, 30)):
        write(warehouse, ACTIVITY, DAY - timedelta(weeks=weeks), [
            {"event_id": f"w{weeks}-{i}", "newsletter_id": "nl_1"} for i in range(n)
        ])  # fmt: skip
    write(warehouse, ACTIVITY, DAY, [
        {"event_id": f"d{i}", "newsletter_id": "nl_1"} for i in range(130)
    ])  # fmt: skip
    # Without a lookback, 130 rows against a median of 40: flagged.
    assert not results(warehouse, ACTIVITY)[ROW_COUNT_ANOMALY].passed
    young = results(warehouse, ACTIVITY, lookback_days=30)[ROW_COUNT_ANOMALY]
    assert young.passed and metadata(young, "partitions_judged") == 0
    # Once the table holds the day each peer's lookback starts on, the day is judged again.
    for weeks in (1, 2):
        start = DAY - timedelta(weeks=weeks, days=30)
        write(warehouse, ACTIVITY, start, [{"event_id": f"s{weeks}", "newsletter_id": "nl_1"}])
    judged = results(warehouse, ACTIVITY, lookback_days=30)[ROW_COUNT_ANOMALY]
    assert not judged.passed and metadata(judged, "anomalies") == {
        str(DAY): {"rows": 130, "median": 45.0}
    }


FUNNEL = Table(
    layer="metrics",
    name="funnel",
    grain="one row per post per day",
    partition_by="date",
    key=("date", "post_id"),
    rate_columns=("delivery_rate",),
    columns=(
        Column("date", "DATE", "Day."),
        Column("post_id", "STRING", "Post."),
        Column("sent", "INT64", "Recipients sent to."),
        Column("delivered", "INT64", "Recipients delivered to."),
        Column("delivery_rate", "FLOAT64", "delivered / sent", required=False),
    ),
)


def test_a_failing_value_check_names_the_row_and_what_is_wrong(warehouse: Warehouse) -> None:
    """Not only "1 violation": which post, which value, and the numbers it came from."""
    write(warehouse, FUNNEL, DAY, [
        {"post_id": "po_2", "sent": 2, "delivered": 1, "delivery_rate": 0.5},
        {"post_id": "po_1", "sent": 34, "delivered": 35, "delivery_rate": 35 / 34},
        {"post_id": "po_3", "sent": -1, "delivered": 0, "delivery_rate": 0.0},
        {"post_id": "po_4", "sent": -2, "delivered": 0, "delivery_rate": 0.0},
    ])  # fmt: skip
    checked = results(warehouse, FUNNEL)
    assert not checked[COLUMN_VALUES].passed
    assert checked[COLUMN_VALUES].description == (
        "sent is negative in 2 rows: date=2026-11-20, post_id=po_3 has sent=-1; "
        "date=2026-11-20, post_id=po_4 has sent=-2\n"
        "delivery_rate is outside [0, 1] in 1 row: date=2026-11-20, post_id=po_1 has "
        "delivery_rate=1.029 (delivered / sent: delivered=35, sent=34)"
    )
    write(
        warehouse, FUNNEL, DAY, [{"post_id": "po_1", "sent": 1, "delivered": 1, "delivery_rate": 1}]
    )
    assert results(warehouse, FUNNEL)[COLUMN_VALUES].description is None  # nothing to say
