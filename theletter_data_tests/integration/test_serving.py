"""The authors' dashboard documents published from the generated week: the schema, one
newsletter's numbers and nothing else per document, rewrites only on change and never by older
numbers; a document that breaks the schema is refused. The preview, the schema's contract, the
queries on both warehouses and publishing's faults: test_serving_*.py."""

from __future__ import annotations

import json
import re
import shutil
from datetime import timedelta
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from theletter_data.resources.lake import Lake
from theletter_data.serving.documents import validate
from theletter_data.serving.publish import MANIFEST_KEY, SCHEMA_KEY, document_key, read_manifest
from theletter_data.staging.app_exports import SUBSCRIPTIONS
from theletter_data_tests.support.staged import snapshots_of
from theletter_data_tests.support.week import SUNDAY, Week, definitions, documents, run

EMAIL_SHAPED = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+\.[A-Za-z0-9.-]+")


def scalar(warehouse: Path, sql: str, *params: object) -> object:
    with duckdb.connect(str(warehouse), read_only=True) as con:
        return con.execute(sql, list(params)).fetchall()[0][0]


def test_each_document_follows_the_schema_and_holds_its_newsletters_numbers(week: Week) -> None:
    docs = documents(week.data)
    assert len(docs) == 8
    with duckdb.connect(str(week.warehouse), read_only=True) as con:
        visitor_ids = {
            v for (v,) in con.sql("SELECT visitor_id FROM staging.stg_page_views").fetchall()
        }
        post_owner = dict(
            con.execute("SELECT DISTINCT post_id, newsletter_id FROM staging.stg_posts").fetchall()
        )
        hashes = {
            h
            for (h,) in con.sql(
                "SELECT recipient_hash FROM staging.stg_email_events "
                f"UNION SELECT reader_hash FROM {snapshots_of(SUBSCRIPTIONS.table)}"
            ).fetchall()
        }
    for newsletter_id, doc in docs.items():
        validate(doc)
        assert doc["newsletter"]["id"] == newsletter_id and doc["as_of"] == str(SUNDAY)
        text = json.dumps(doc)
        assert not EMAIL_SHAPED.search(text), newsletter_id
        assert not any(v in text for v in visitor_ids | hashes), newsletter_id
        assert {post_owner[p["post_id"]] for p in doc["recent_posts"]} <= {newsletter_id}
        # The week is shorter than 30 days: both periods are the whole week.
        traffic = doc["traffic"]
        assert traffic["last_30_days"] == {**traffic["last_90_days"], "days": 30}
        assert traffic["last_30_days"]["page_views"] == scalar(
            week.warehouse,
            "SELECT COALESCE(SUM(page_views), 0) FROM metrics.newsletter_daily_traffic "
            "WHERE newsletter_id = ?",
            newsletter_id,
        )
        visitors = traffic["last_30_days"]["unique_visitors"]
        assert visitors == scalar(
            week.warehouse,
            "SELECT COUNT(DISTINCT visitor_id) FROM staging.stg_page_views "
            "WHERE newsletter_id = ? AND NOT is_bot",
            newsletter_id,
        )
        assert visitors >= max((d["unique_visitors"] for d in traffic["daily"]), default=0)
        for post in doc["recent_posts"]:
            assert (post["sent"], post["unique_human_opens"], post["days_since_send"]) == tuple(
                scalar(
                    week.warehouse,
                    "SELECT [sent, unique_human_opens, days_since_send] "
                    "FROM metrics.post_email_funnel WHERE post_id = ? AND date = ?",
                    post["post_id"],
                    SUNDAY,
                )
            )
        assert doc["subscribers"]["total"] == scalar(
            week.warehouse,
            f"SELECT COUNT(*) FROM {snapshots_of(SUBSCRIPTIONS.table)} "
            "WHERE newsletter_id = ? AND snapshot_date = ? AND is_active",
            newsletter_id,
            SUNDAY,
        )
    busiest = max(docs.values(), key=lambda d: d["traffic"]["last_30_days"]["page_views"])
    assert busiest["recent_posts"] and busiest["traffic_sources"]["by_category"]
    assert busiest["cohorts"] and busiest["cohorts"][0]["retention"]


def test_only_changed_documents_are_rewritten_and_never_by_older_numbers(
    week: Week, tmp_path: Path
) -> None:
    data = tmp_path / "data"
    shutil.copytree(week.data, data)
    defs = definitions(data)
    lake = Lake(url=str(data / "lake"))
    before = read_manifest(lake)

    def publish(day=SUNDAY) -> dict:
        with dg.instance_for_test() as instance:
            result = run(defs, "publish_dashboards", instance, day, day)
        assert result.success
        (materialization,) = result.asset_materializations_for_node(
            "newsletter_dashboard_documents"
        )
        return {k: v.value for k, v in materialization.metadata.items()}

    schema_written = (data / "lake" / SCHEMA_KEY).stat().st_mtime_ns
    assert (publish()["rewritten"], publish()["unchanged"]) == (0, 8)
    assert read_manifest(lake)["documents"] == before["documents"]
    assert (data / "lake" / SCHEMA_KEY).stat().st_mtime_ns == schema_written  # unchanged

    changed = sorted(before["documents"])[2]
    with duckdb.connect(str(data / "warehouse.duckdb")) as con:
        con.execute(
            "UPDATE metrics.newsletter_daily_traffic SET page_views = page_views + 1000 "
            "WHERE newsletter_id = ? AND date = ?",
            [changed, SUNDAY],
        )
    untouched = (data / "lake" / document_key(sorted(before["documents"])[0])).stat().st_mtime_ns
    assert publish()["rewritten_newsletters"] == [changed]
    assert documents(data)[changed]["traffic"]["daily"][-1]["page_views"] >= 1000
    assert (data / "lake" / document_key(sorted(before["documents"])[0])).stat().st_mtime_ns == (
        untouched
    )

    # Publishing an older day (a backfill) leaves the newer documents alone.
    current = documents(data)
    older = publish(SUNDAY - timedelta(days=2))
    assert (older["rewritten"], older["kept_newer"]) == (0, 8)
    assert documents(data) == current
    assert json.loads(lake.read_bytes(MANIFEST_KEY))["as_of"] == str(SUNDAY)


@pytest.mark.parametrize("broken", ["extra_field", "negative_count"])
def test_a_document_that_breaks_the_schema_is_refused(week: Week, broken: str) -> None:
    doc = next(iter(documents(week.data).values()))
    if broken == "extra_field":
        doc["reader_emails"] = []
    else:
        doc["traffic"]["last_30_days"]["page_views"] = -1
    with pytest.raises(Exception, match=r"Additional properties|less than the minimum"):
        validate(doc)
