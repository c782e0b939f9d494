"""The intraday tables: the current day so far, by the same staging and the same SQL as the
daily tables, holding only that day."""

from __future__ import annotations

from datetime import date

import dagster as dg
import duckdb
import pytest
from dagster._core.storage.tags import (
    ASSET_PARTITION_RANGE_END_TAG,
    ASSET_PARTITION_RANGE_START_TAG,
)

from theletter_data.definitions import build_definitions
from theletter_data.settings import Environment, Settings
from theletter_data_dev.generate import generate_lake

D1, D2 = date(2026, 11, 20), date(2026, 11, 21)
INTRADAY = ("stg_page_views_today", "newsletter_traffic_today", "newsletter_traffic_sources_today")


def rows(path, sql):  # type: ignore[no-untyped-def]
    with duckdb.connect(str(path), read_only=True) as con:
        return con.execute(sql).fetchall()


@pytest.mark.slow
def test_today_tables_equal_the_daily_ones_for_a_whole_day_and_hold_one_day(tmp_path) -> None:
    defs = build_definitions(
        Settings(environment=Environment.LOCAL, data_dir=tmp_path, pseudonym_key_set=False)
    )
    generate_lake(defs.resources["lake"], D1, D2, newsletters=4, readers=400, seed=9)
    with dg.instance_for_test() as instance:
        daily = defs.resolve_job_def("daily_refresh").execute_in_process(
            instance=instance,
            tags={ASSET_PARTITION_RANGE_START_TAG: str(D1), ASSET_PARTITION_RANGE_END_TAG: str(D1)},
        )
        assert daily.success
        intraday = defs.resolve_job_def("intraday_refresh")
        config = {"ops": {name: {"config": {"day": str(D1)}} for name in INTRADAY}}
        assert intraday.execute_in_process(instance=instance, run_config=config).success
        warehouse = tmp_path / "warehouse.duckdb"
        # A finished day's "so far" is the whole day: the same rows as the daily tables.
        for today, whole in (
            ("staging.stg_page_views_today", "staging.stg_page_views"),
            ("metrics.newsletter_traffic_today", "metrics.newsletter_daily_traffic"),
            ("metrics.newsletter_traffic_sources_today", "metrics.newsletter_traffic_sources"),
        ):
            column = "event_date" if today.startswith("staging") else "date"
            same = f"SELECT * FROM {whole} WHERE {column} = '{D1}' EXCEPT SELECT * FROM {today}"
            assert rows(warehouse, same) == [], today
            assert rows(warehouse, f"SELECT COUNT(*) FROM {today}")[0][0] > 0

        config = {"ops": {name: {"config": {"day": str(D2)}} for name in INTRADAY}}
        assert intraday.execute_in_process(instance=instance, run_config=config).success
    for table, column in (
        ("staging.stg_page_views_today", "event_date"),
        ("metrics.newsletter_traffic_today", "date"),
    ):
        assert rows(warehouse, f"SELECT DISTINCT {column} FROM {table}") == [(D2,)]


def test_the_intraday_schedule_requests_the_refresh_every_three_hours(tmp_path) -> None:
    from datetime import datetime

    from theletter_data.partitions import TOKYO

    defs = build_definitions(
        Settings(environment=Environment.LOCAL, data_dir=tmp_path, pseudonym_key_set=False)
    )
    schedule = defs.resolve_schedule_def("intraday_refresh_schedule")
    assert schedule.cron_schedule == "5 */3 * * *" and schedule.execution_timezone == "Asia/Tokyo"
    tick = datetime(2026, 11, 27, 9, 5, tzinfo=TOKYO)
    # Closed here, not when garbage-collected: closing later restored a closed instance's
    # state storage as the current one, and later tests failed to load definitions.
    with (
        dg.instance_for_test() as instance,
        dg.build_schedule_context(instance=instance, scheduled_execution_time=tick) as context,
    ):
        (request,) = schedule.evaluate_tick(context).run_requests
    assert request.job_name in (None, "intraday_refresh")
    # The next ticks, in Japan time.
    from dagster._utils.schedules import cron_string_iterator

    ticks = cron_string_iterator(tick.timestamp(), schedule.cron_schedule, "Asia/Tokyo")
    following = [next(ticks).astimezone(TOKYO).strftime("%H:%M") for _ in range(3)]
    assert following == ["09:05", "12:05", "15:05"]
