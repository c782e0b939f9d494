"""The whole graph on a generated week: the code location's own jobs, in one single-run backfill,
reconciled against what the generator says it wrote."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import dagster as dg
import duckdb
import pytest
from dagster._core.storage.tags import (
    ASSET_PARTITION_RANGE_END_TAG,
    ASSET_PARTITION_RANGE_START_TAG,
)

from theletter_data.definitions import build_definitions
from theletter_data.generate import GenerationReport, generate_lake
from theletter_data.settings import Environment, Settings

MONDAY = date(2026, 11, 9)
SUNDAY = MONDAY + timedelta(days=6)
EMAIL_SHAPED = r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+\.[A-Za-z0-9.-]+"


@pytest.fixture(scope="module")
def week(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, GenerationReport, dg.Definitions]:
    data = tmp_path_factory.mktemp("data")
    defs = build_definitions(
        Settings(environment=Environment.LOCAL, data_dir=data, pseudonym_key_set=False)
    )
    report = generate_lake(
        defs.resources["lake"], MONDAY, SUNDAY, newsletters=8, readers=1_500, seed=11, workers=2
    )
    with dg.instance_for_test() as instance:
        for job, first, last in (
            ("daily_refresh", MONDAY, SUNDAY),
            ("weekly_cohorts", MONDAY, MONDAY),
        ):
            result = run(defs, job, instance, first, last)
            assert result.success, job
            failed = [
                e.asset_check_evaluation_data.asset_check_key.to_user_string()
                for e in result.all_events
                if e.event_type_value == "ASSET_CHECK_EVALUATION"
                and not e.asset_check_evaluation_data.passed
            ]
            assert failed == [], job
    return data / "warehouse.duckdb", report, defs


def run(defs: dg.Definitions, job: str, instance: dg.DagsterInstance, first: date, last: date):
    return defs.resolve_job_def(job).execute_in_process(
        instance=instance,
        tags={
            ASSET_PARTITION_RANGE_START_TAG: first.isoformat(),
            ASSET_PARTITION_RANGE_END_TAG: last.isoformat(),
        },
    )


def query(path: Path, sql: str) -> list[tuple]:
    with duckdb.connect(str(path), read_only=True) as con:
        return con.execute(sql).fetchall()


@pytest.mark.parametrize(
    ("stream", "table"), [("ses_events", "stg_email_events"), ("page_views", "stg_page_views")]
)
def test_every_generated_record_is_staged_once_or_quarantined(week, stream, table) -> None:
    warehouse, report, _ = week
    staged = dict(query(warehouse, f"SELECT event_date, COUNT(*) FROM staging.{table} GROUP BY 1"))
    for day in (MONDAY + timedelta(days=i) for i in range(7)):
        counts = report.per_day[day][stream]
        # Records that arrive after their day's window are quarantined by their arrival day.
        assert staged[day] == counts.records - counts.late_lines, day
    reasons = dict(
        query(
            warehouse,
            f"SELECT reason, SUM(occurrences) FROM staging.quarantine WHERE stream = '{stream}' "
            "GROUP BY 1",
        )
    )
    total = report.streams[stream]
    assert reasons.get("malformed_json", 0) + reasons.get("invalid_utf8", 0) == (
        total.malformed_lines
    )
    assert total.records > 0


def test_metric_tables_have_rows_for_every_day(week) -> None:
    warehouse, _, _ = week
    for table in (
        "newsletter_daily_traffic",
        "newsletter_traffic_sources",
        "post_email_funnel",
        "newsletter_subscriber_growth",
        "platform_daily_kpis",
    ):
        (days,) = query(warehouse, f"SELECT COUNT(DISTINCT date) FROM metrics.{table}")[0]
        assert days == 7, table
    (cohorts,) = query(warehouse, "SELECT COUNT(*) FROM metrics.newsletter_subscriber_cohorts")[0]
    assert cohorts > 0


def test_subscriber_totals_move_by_exactly_the_net_change(week) -> None:
    warehouse, _, _ = week
    mismatches = query(
        warehouse,
        """
        SELECT g.newsletter_id, g.date
        FROM metrics.newsletter_subscriber_growth AS g
        JOIN metrics.newsletter_subscriber_growth AS prev
            ON prev.newsletter_id = g.newsletter_id AND prev.date = g.date - 1
        WHERE g.total_subscribers - prev.total_subscribers <> g.net_change
        """,
    )
    assert mismatches == []


def test_no_email_address_survives_the_raw_layer(week) -> None:
    warehouse, _, _ = week
    columns = query(
        warehouse,
        "SELECT table_schema, table_name, column_name FROM information_schema.columns "
        "WHERE data_type = 'VARCHAR' AND table_schema IN ('staging', 'metrics')",
    )
    assert len(columns) > 30
    for schema, table, column in columns:
        (found,) = query(
            warehouse,
            f"SELECT COUNT(*) FROM {schema}.{table} WHERE regexp_matches({column}, "
            f"'{EMAIL_SHAPED}')",
        )[0]
        assert found == 0, f"{schema}.{table}.{column}"


def test_rerunning_a_day_gives_identical_tables(week) -> None:
    warehouse, _, defs = week

    def fingerprints() -> dict[str, tuple]:
        tables = query(
            warehouse,
            "SELECT table_schema || '.' || table_name FROM information_schema.tables "
            "WHERE table_schema IN ('staging', 'metrics')",
        )
        return {
            name: query(
                warehouse,
                f"SELECT COUNT(*), md5(string_agg(md5(CAST(t AS VARCHAR)), '' "
                f"ORDER BY md5(CAST(t AS VARCHAR)))) FROM {name} AS t",
            )[0]
            for (name,) in tables
        }

    before = fingerprints()
    with dg.instance_for_test() as instance:
        assert run(
            defs, "daily_refresh", instance, MONDAY + timedelta(days=3), MONDAY + timedelta(days=3)
        ).success
    assert fingerprints() == before
