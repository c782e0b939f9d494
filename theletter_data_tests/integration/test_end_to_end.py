"""The whole graph on a generated week: the code location's own jobs, in one single-run backfill,
reconciled against what the generator says it wrote."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from theletter_data.cli import main
from theletter_data.raw.layout import FirehoseStream, LogExportStream
from theletter_data.raw.sources import SOURCES
from theletter_data.staging.app_exports import SUBSCRIPTIONS
from theletter_data_tests.support.staged import snapshots_of
from theletter_data_tests.support.week import MONDAY, SUNDAY, Week, run

EMAIL_SHAPED = r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+\.[A-Za-z0-9.-]+"


def query(path: Path, sql: str) -> list[tuple]:
    with duckdb.connect(str(path), read_only=True) as con:
        return con.execute(sql).fetchall()


FIREHOSE_STREAMS = [(s.name, s.staged_asset) for s in SOURCES if s.layout is FirehoseStream]


def test_the_generated_week_has_every_declared_line_stream(week: Week) -> None:
    """A stream declared but not generated would be reconciled by no test below."""
    declared = {s.name for s in SOURCES if s.layout in (FirehoseStream, LogExportStream)}
    assert set(week.report.streams) == declared


@pytest.mark.parametrize(("stream", "table"), FIREHOSE_STREAMS)
def test_every_generated_record_is_staged_once_or_quarantined(week: Week, stream, table) -> None:
    warehouse, report = week.warehouse, week.report
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


def test_every_generated_log_line_is_staged_or_quarantined(week: Week) -> None:
    warehouse, report = week.warehouse, week.report
    staged = dict(
        query(warehouse, "SELECT event_date, COUNT(*) FROM staging.stg_app_logs GROUP BY 1")
    )
    assert staged == {day: counts["app_logs"].records for day, counts in report.per_day.items()}
    reasons = dict(
        query(
            warehouse,
            "SELECT reason, SUM(occurrences) FROM staging.quarantine WHERE stream = 'app_logs' "
            "GROUP BY 1",
        )
    )
    assert reasons == {"malformed_json": 14, "invalid_timestamp": 7}
    assert report.streams["app_logs"].malformed_lines == 21


def test_the_weeks_incident_can_be_traced(week: Week, capsys, monkeypatch) -> None:
    """One day of the week a newsletter's site timed out for 15 minutes at 21:00 JST."""
    ((day, newsletter, errors),) = query(
        week.warehouse,
        "SELECT event_date, newsletter_id, COUNT(*) FROM staging.stg_app_logs "
        "WHERE level IN ('ERROR', 'CRITICAL') GROUP BY 1, 2",
    )
    monkeypatch.setenv("THELETTER_DATA_DIR", str(week.data))
    assert main(["trace", "--newsletter", newsletter, "--day", str(day), "--level", "error"]) == 0
    header, *lines = capsys.readouterr().out.splitlines()
    assert header.startswith(f"{errors:,} log events of newsletter {newsletter}, ")
    assert len(lines) == errors > 90
    assert lines == sorted(lines)  # in time order
    assert all(f" {day} 21:" in f" {line}" for line in lines)
    assert sum("pool exhausted (20 of 20 in use) (OperationalError)" in line for line in lines) == 3


def test_metric_tables_have_rows_for_every_day(week: Week) -> None:
    warehouse = week.warehouse
    for table in (
        "newsletter_daily_traffic",
        "newsletter_traffic_sources",
        "post_email_funnel",
        "newsletter_subscriber_growth",
        "platform_daily_kpis",
        "platform_top_newsletters",
        "newsletter_engagement_segments",
        "newsletter_deliverability",
        "newsletter_signup_sources",
        "post_web_performance",
    ):
        (days,) = query(warehouse, f"SELECT COUNT(DISTINCT date) FROM metrics.{table}")[0]
        assert days == 7, table
    (cohorts,) = query(warehouse, "SELECT COUNT(*) FROM metrics.newsletter_subscriber_cohorts")[0]
    assert cohorts > 0


def test_subscriber_totals_move_by_exactly_the_net_change(week: Week) -> None:
    warehouse = week.warehouse
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


def test_engagement_segments_partition_the_days_subscribers(week: Week) -> None:
    """Every day, each newsletter's three segments add up to its distinct readers with an active
    subscription in that day's snapshot, and the week's lake is all the history they saw."""
    mismatches = query(
        week.warehouse,
        f"""
        WITH subscribed AS (
            SELECT snapshot_date, newsletter_id, COUNT(DISTINCT reader_hash) AS readers
            FROM {snapshots_of(SUBSCRIPTIONS.table)} WHERE is_active GROUP BY 1, 2
        )
        SELECT e.date, e.newsletter_id
        FROM metrics.newsletter_engagement_segments AS e
        FULL JOIN subscribed AS s ON s.snapshot_date = e.date AND s.newsletter_id = e.newsletter_id
        WHERE e.subscribers IS DISTINCT FROM s.readers
            OR e.active_readers + e.at_risk_readers + e.dormant_readers <> e.subscribers
            OR e.at_risk_readers <> 0
            OR e.engagement_days_seen <> e.date - DATE '{MONDAY}' + 1
        """,
    )
    assert mismatches == []


def test_every_new_subscriber_is_attributed_once_and_posts_get_theirs(week: Week) -> None:
    """Each day, a newsletter's signups by source are its new subscribers (growth's), the paid
    conversions are the subscriptions that turned paid, and the posts' signups are exactly the
    signups on post pages; the generated world's signups come from every kind of page."""
    mismatches = query(
        week.warehouse,
        f"""
        WITH sources AS (
            SELECT date, newsletter_id, SUM(signups) AS signups,
                SUM(IF(signup_page = 'post', signups, 0)) AS on_posts,
                SUM(paid_conversions) AS conversions
            FROM metrics.newsletter_signup_sources GROUP BY 1, 2
        ),
        posts AS (
            SELECT date, newsletter_id, SUM(signups) AS signups
            FROM metrics.post_web_performance GROUP BY 1, 2
        ),
        upgrades AS (
            SELECT s.snapshot_date, s.newsletter_id, COUNT(*) AS conversions
            FROM {snapshots_of(SUBSCRIPTIONS.table)}
            JOIN {snapshots_of(SUBSCRIPTIONS.table, "p")}
                ON p.subscription_id = s.subscription_id
                AND p.snapshot_date = s.snapshot_date - 1
            WHERE s.plan = 'paid' AND p.plan = 'free' GROUP BY 1, 2
        )
        SELECT g.date, g.newsletter_id
        FROM metrics.newsletter_subscriber_growth AS g
        LEFT JOIN sources AS s ON s.date = g.date AND s.newsletter_id = g.newsletter_id
        LEFT JOIN posts AS p ON p.date = g.date AND p.newsletter_id = g.newsletter_id
        LEFT JOIN upgrades AS u ON u.snapshot_date = g.date AND u.newsletter_id = g.newsletter_id
        WHERE COALESCE(s.signups, 0) <> g.new_subscribers
            OR COALESCE(s.on_posts, 0) <> COALESCE(p.signups, 0)
            OR COALESCE(s.conversions, 0) <> COALESCE(u.conversions, 0)
        """,
    )
    assert mismatches == []
    pages = dict(
        query(
            week.warehouse,
            "SELECT signup_page, SUM(signups) FROM metrics.newsletter_signup_sources GROUP BY 1",
        )
    )
    assert {"post", "home", "page"} <= set(pages) and pages["post"] > 0


def test_the_platforms_deliverability_sums_the_newsletters(week: Week) -> None:
    """The platform's row is the sum of the newsletters' on every day; by Sunday its 30 days
    hold every email of the week: each staged message to a recipient once."""
    mismatches = query(
        week.warehouse,
        """
        SELECT p.date
        FROM metrics.newsletter_deliverability AS p
        JOIN metrics.newsletter_deliverability AS n ON n.date = p.date AND n.scope = 'newsletter'
        WHERE p.scope = 'platform'
        GROUP BY p.date, p.sends_7d, p.hard_bounces_30d, p.complaints_30d
        HAVING p.sends_7d <> SUM(n.sends_7d) OR p.hard_bounces_30d <> SUM(n.hard_bounces_30d)
            OR p.complaints_30d <> SUM(n.complaints_30d)
        """,
    )
    assert mismatches == []
    ((sends, emails),) = query(
        week.warehouse,
        f"""
        SELECT
            (SELECT sends_30d FROM metrics.newsletter_deliverability
             WHERE scope = 'platform' AND date = DATE '{SUNDAY}'),
            (SELECT COUNT(DISTINCT (message_id, recipient_hash)) FROM staging.stg_email_events
             WHERE event_type <> 'rendering_failure')
        """,
    )
    assert sends == emails > 0


def test_no_email_address_survives_the_raw_layer(week: Week) -> None:
    warehouse = week.warehouse
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


def test_rerunning_a_day_gives_identical_tables(week: Week) -> None:
    warehouse, defs = week.warehouse, week.defs

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
