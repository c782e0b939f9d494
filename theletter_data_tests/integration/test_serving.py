"""The authors' dashboard documents: published from the generated week (the schema, one
newsletter's numbers and nothing else per document, rewrites only on change, the preview), and
their queries on hand-made rows on both warehouses."""

from __future__ import annotations

import copy
import html
import json
import multiprocessing
import os
import re
import shutil
import signal
import time
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path

import dagster as dg
import duckdb
import jsonschema
import pytest

from theletter_data.cli import main
from theletter_data.metrics.newsletter_daily_traffic import (
    NEWSLETTER_DAILY_TRAFFIC,
    newsletter_daily_traffic,
)
from theletter_data.metrics.newsletter_engagement_segments import NEWSLETTER_ENGAGEMENT_SEGMENTS
from theletter_data.metrics.newsletter_subscriber_cohorts import NEWSLETTER_SUBSCRIBER_COHORTS
from theletter_data.metrics.newsletter_subscriber_growth import NEWSLETTER_SUBSCRIBER_GROWTH
from theletter_data.metrics.newsletter_traffic_sources import NEWSLETTER_TRAFFIC_SOURCES
from theletter_data.metrics.post_email_clients import POST_EMAIL_CLIENTS
from theletter_data.metrics.post_email_funnel import POST_EMAIL_FUNNEL
from theletter_data.metrics.post_link_clicks import POST_LINK_CLICKS
from theletter_data.partitions import daily_partitions
from theletter_data.resources.duckdb_warehouse import DuckDBWarehouse
from theletter_data.resources.lake import Lake
from theletter_data.serving import registry
from theletter_data.serving.documents import build_documents, content_hash, validate
from theletter_data.serving.fields import count, day
from theletter_data.serving.preview import render_dashboard
from theletter_data.serving.publish import (
    MANIFEST_KEY,
    SCHEMA_KEY,
    document_key,
    publish,
    read_document,
    read_manifest,
)
from theletter_data.serving.registry import published_sections, register
from theletter_data.serving.schema import dashboard_schema, schema_bytes
from theletter_data.serving.sections import (
    DailySeries,
    DashboardSection,
    PreviewColumn,
    RankedTable,
)
from theletter_data.staging.app_exports import NEWSLETTERS, POSTS, SUBSCRIPTIONS
from theletter_data.staging.page_views import STG_PAGE_VIEWS
from theletter_data_tests.support.rawdata import utc
from theletter_data_tests.support.staged import create_empty_tables, snapshots_of, write_rows
from theletter_data_tests.support.week import SUNDAY, Week, definitions, run

EMAIL_SHAPED = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+\.[A-Za-z0-9.-]+")


def documents(data: Path) -> dict[str, dict]:
    folder = data / "lake" / "serving" / "v1" / "newsletters"
    return {path.stem: json.loads(path.read_text()) for path in sorted(folder.glob("*.json"))}


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


def test_the_preview_renders_the_documents_numbers(week: Week, tmp_path: Path, capsys) -> None:
    docs = documents(week.data)
    newsletter_id, doc = max(
        docs.items(), key=lambda item: len(item[1]["recent_posts"]) + len(item[1]["cohorts"])
    )
    out = tmp_path / "preview.html"
    lake = str(week.data / "lake")
    assert main(["preview", newsletter_id, "--lake", lake, "--out", str(out)]) == 0
    page = out.read_text()

    def card(card_id: str) -> str:
        found = re.search(rf'id="{card_id}">.*?class="value">([^<]*)<', page, re.S)
        assert found, card_id
        return found.group(1)

    last_30 = doc["traffic"]["last_30_days"]
    assert card("kpi-traffic-last_30_days-page_views") == f"{last_30['page_views']:,}"
    assert card("kpi-traffic-last_30_days-unique_visitors") == f"{last_30['unique_visitors']:,}"
    last_90 = doc["traffic"]["last_90_days"]
    assert card("kpi-traffic-last_90_days-unique_visitors") == f"{last_90['unique_visitors']:,}"
    assert card("kpi-subscribers-total") == f"{doc['subscribers']['total']:,}"
    assert card("kpi-subscribers-paid") == f"{doc['subscribers']['paid']:,}"
    for post in doc["recent_posts"]:
        row = re.search(rf'<tr id="post-{post["post_id"]}">(.*?)</tr>', page, re.S)
        assert row, post["post_id"]
        assert html.escape(post["title"] or post["post_id"]) in row.group(1)
        assert f"<td>{post['sent']:,}</td>" in row.group(1)
        assert f"<td>{post['human_open_rate'] * 100:.1f}%</td>" in row.group(1)
    for source in doc["traffic_sources"]["by_category"]:
        assert f"<td>{source['page_views']:,}</td>" in page
    for cohort in doc["cohorts"]:
        assert f"<td>{cohort['cohort_week']}</td><td>{cohort['size']:,}</td>" in page
    new = sum(d["new"] for d in doc["subscribers"]["daily"])  # the week: all in the last 30 days
    assert f"Last 30 days: {new:,} new," in page
    series = [
        p for s in published_sections() for p in s.section.parts if isinstance(p, DailySeries)
    ]
    assert page.count("<polyline") == sum(len(p.lines) for p in series) and "<script" not in page
    assert [s["segment"] for s in doc["engagement"]["segments"]] == [
        "active", "at_risk", "dormant",
    ]  # fmt: skip
    for segment in doc["engagement"]["segments"]:
        row = re.search(rf'<tr id="engagement-{segment["segment"]}">(.*?)</tr>', page, re.S)
        assert row, segment["segment"]
        assert f"<td>{segment['readers']:,}</td><td>{segment['share'] * 100:.1f}%</td>" in row[1]
    assert doc["link_clicks"], "the busiest newsletter's links"
    for link in doc["link_clicks"]:
        row_id = f"link-{link['post_id']}-{link['link_url'].removeprefix('https://')}"
        row = re.search(rf'<tr id="{re.escape(html.escape(row_id))}">(.*?)</tr>', page, re.S)
        assert row, row_id
        assert f"<td>{link['unique_clickers']:,}</td><td>{link['total_clicks']:,}</td>" in row[1]
        assert f"<td>{link['scanner_clicks']:,}</td>" in row[1]
    clients = doc["email_clients"]
    assert card("kpi-email_clients-human_opens") == f"{clients['human_opens']:,}"
    assert card("kpi-email_clients-machine_opens") == f"{clients['machine_opens']:,}"
    for key in ("clients", "devices"):
        assert doc["email_clients"][key], key
        for group in doc["email_clients"][key]:
            row = re.search(rf'<tr id="{key}-{group["name"]}">(.*?)</tr>', page, re.S)
            assert row and f"<td>{group['opens']:,}</td>" in row[1], group
    # The charts start on the lake's first day (the week), not 90 days before the as-of day.
    assert doc["series_from"] == str(SUNDAY - timedelta(days=6))
    assert page.count(f">{doc['series_from']}</text>") == len(series)
    assert not re.search(r"(src|href)=", page)  # self-contained: nothing fetched

    assert main(["preview", "nl_missing", "--lake", lake]) == 1
    assert "No document at serving/v1/newsletters/nl_missing.json" in capsys.readouterr().err


def chart(page: str, block_id: str) -> tuple[list[str], list[float], str]:
    """A preview chart's y tick labels (bottom up), its lines' y coordinates, and its first
    day's label."""
    found = re.search(rf'<section[^>]* id="{block_id}">(.*?)</section>', page, re.S)
    assert found, block_id
    svg = found[1]
    ticks = re.findall(r'<text class="tick"[^>]*>([^<]*)</text>', svg)
    ys = [
        float(y) for p in re.findall(r'points="([^"]*)"', svg) for y in re.findall(r",([\d.]+)", p)
    ]
    first_day = re.findall(r"<text [^>]*>(\d{4}-\d{2}-\d{2})</text>", svg)[0]
    return ticks, ys, first_day


def test_the_preview_charts_start_with_the_data_and_label_their_axes(week: Week) -> None:
    """Seen in the preview: the 90-day charts drew a flat zero for the 83 days before the week's
    lake began, only the y axis's maximum was labelled, and a subscriber total moving from
    1,180 to 1,250 was a flat line at the top of a scale from 0. Now each chart starts on the
    document's `series_from`, labels round ticks, and the subscriber line's axis fits its range
    (it spans most of the plot's 116 pixels instead of 6)."""
    doc = copy.deepcopy(next(iter(documents(week.data).values())))
    first = SUNDAY - timedelta(days=6)
    doc["subscribers"]["daily"] = [
        {"date": str(first + timedelta(days=i)), "new": 10, "lost": 0, "net": 10,
         "total": total, "paid": 0}
        for i, total in enumerate((1180, 1190, 1200, 1215, 1230, 1240, 1250))
    ]  # fmt: skip
    doc["traffic"]["daily"] = [
        {"date": str(first + timedelta(days=i)), "page_views": v, "unique_visitors": v // 2,
         "visits": v // 2}
        for i, v in enumerate((120, 340, 90, 410, 380, 60, 200))
    ]  # fmt: skip
    validate(doc)
    assert doc["series_from"] == str(first)

    page = render_dashboard(doc)

    ticks, ys, first_day = chart(page, "subscribers-daily")
    assert ticks == ["1,180", "1,200", "1,220", "1,240", "1,260"]
    assert first_day == str(first)
    assert max(ys) - min(ys) > 0.8 * (180 - 2 * 32) * (1250 - 1180) / (1260 - 1180)
    ticks, ys, first_day = chart(page, "traffic-daily")
    assert ticks == ["0", "100", "200", "300", "400", "500"] and first_day == str(first)
    # 7 days, 7 points per line: nothing drawn before the data starts.
    polyline = re.search(r'<section[^>]* id="traffic-daily">.*?points="([^"]*)"', page, re.S)
    assert len(polyline[1].split()) == 7


@pytest.mark.parametrize("broken", ["extra_field", "negative_count"])
def test_a_document_that_breaks_the_schema_is_refused(week: Week, broken: str) -> None:
    doc = next(iter(documents(week.data).values()))
    if broken == "extra_field":
        doc["reader_emails"] = []
    else:
        doc["traffic"]["last_30_days"]["page_views"] = -1
    with pytest.raises(Exception, match=r"Additional properties|less than the minimum"):
        validate(doc)


# --- The contract: built from the sections' declarations, published beside the documents ------

FIRST_V1 = Path(__file__).parents[1] / "support" / "newsletter_dashboard.v1.first.schema.json"
"""Version 1 of the schema as the web app was first built against it (frozen): every later v1
schema must extend it."""
_WORDS = {"description", "title", "$id", "$schema", "$defs"}


def resolved(node, root):
    """The schema with every `$ref` replaced by what it names."""
    if isinstance(node, dict):
        if "$ref" in node:
            target = root
            for part in node["$ref"].removeprefix("#/").split("/"):
                target = target[part]
            return {**resolved(target, root), **{k: v for k, v in node.items() if k != "$ref"}}
        return {k: resolved(v, root) for k, v in node.items()}
    if isinstance(node, list):
        return [resolved(v, root) for v in node]
    return node


def breaks(first: dict, now: dict, path: str = "$") -> list[str]:
    """Where `now` does not extend `first`: a property removed or no longer required, a type
    or constraint changed. A `const` within the first's `enum` narrows it (a document's
    `last_30_days.days` is always 30), which a reader can only welcome."""
    problems = []
    for name, schema in first.get("properties", {}).items():
        if name not in now.get("properties", {}):
            problems.append(f"{path}.{name}: removed")
        else:
            problems += breaks(schema, now["properties"][name], f"{path}.{name}")
    if lost := sorted(set(first.get("required", [])) - set(now.get("required", []))):
        problems.append(f"{path}: no longer required: {lost}")
    if "items" in first:
        problems += breaks(first["items"], now.get("items", {}), f"{path}[]")
    narrowed = "const" in now and now["const"] in first.get("enum", [])
    for key in sorted((set(first) | set(now)) - _WORDS - {"properties", "required", "items"}):
        if narrowed and key in ("type", "enum", "const"):
            continue
        if first.get(key) != now.get(key):
            problems.append(f"{path}: {key} {first.get(key)!r} -> {now.get(key)!r}")
    return problems


def test_the_schema_built_from_the_sections_extends_the_first_v1() -> None:
    first = json.loads(FIRST_V1.read_text())
    now = dashboard_schema()
    assert breaks(resolved(first, first), resolved(now, now)) == []
    assert set(now["properties"]) >= {"traffic", "subscribers", "recent_posts", "cohorts"}


def test_the_compatibility_check_names_what_would_break_v1() -> None:
    """The check above, attacked with the changes a section's edit could make by mistake."""
    first = json.loads(FIRST_V1.read_text())
    good = resolved(first, first)

    def broken(change) -> list[str]:
        now = copy.deepcopy(good)
        change(now)
        return breaks(good, now)

    posts = lambda s: s["properties"]["recent_posts"]["items"]  # noqa: E731
    subscribers = lambda s: s["properties"]["subscribers"]  # noqa: E731
    assert broken(lambda s: posts(s)["properties"].pop("title")) == [
        "$.recent_posts[].title: removed"
    ]
    assert broken(lambda s: posts(s)["properties"]["sent"].pop("minimum")) == [
        "$.recent_posts[].sent: minimum 0 -> None"
    ]
    assert broken(lambda s: subscribers(s)["required"].remove("paid")) == [
        "$.subscribers: no longer required: ['paid']"
    ]
    assert broken(lambda s: s["properties"]["traffic_sources"]["properties"].update(
        days={"const": 28})) == ["$.traffic_sources.days: const 30 -> 28"]  # fmt: skip
    assert broken(lambda s: s["properties"]["recent_posts"].update(maxItems=50)) == [
        "$.recent_posts: maxItems 20 -> 50"
    ]
    # Additions are what v1 allows: a new field, a new section.
    assert broken(lambda s: posts(s)["properties"].update(bounce_rate={"type": "number"})) == []
    assert broken(lambda s: s["properties"].update(busiest_days={"type": "array"})) == []


def test_the_schema_is_published_beside_the_documents(week: Week) -> None:
    lake = week.data / "lake"
    published = (lake / SCHEMA_KEY).read_bytes()
    assert published == schema_bytes()
    schema = json.loads(published)
    for doc in documents(week.data).values():
        jsonschema.validate(doc, schema, format_checker=jsonschema.FormatChecker())


@pytest.fixture
def busiest_days() -> Iterator[DashboardSection]:
    """A new section, declared as a metric declares one (`metric_asset(section=...)` registers
    it the same way), for this test only."""
    section = DashboardSection(
        name="busiest_days",
        order=15,
        content=RankedTable(
            query="traffic_daily",
            title="Busiest days",
            description="The three days with most page views.",
            fields=(day("date"), count("page_views")),
            order_by=("-page_views", "date"),
            limit=3,
            columns=(
                PreviewColumn("Day", "date", "text"),
                PreviewColumn("Page views", "page_views"),
            ),
            row_id=lambda d: f"busy-{d['date']}",
        ),
    )
    register(section, newsletter_daily_traffic, NEWSLETTER_DAILY_TRAFFIC, daily_partitions)
    dashboard_schema.cache_clear()
    yield section
    registry._PUBLISHED.pop(section.name)  # this test's alone
    dashboard_schema.cache_clear()


def test_a_new_section_is_only_its_declaration(week: Week, tmp_path: Path, busiest_days) -> None:
    """Declared, it is in every document, in the schema (which the documents then follow) and
    on the preview, drawn as its kind says; nothing else changed."""
    shutil.copy(week.warehouse, tmp_path / "warehouse.duckdb")
    warehouse = DuckDBWarehouse(path=str(tmp_path / "warehouse.duckdb"))

    docs = build_documents(warehouse, SUNDAY)

    assert dashboard_schema()["properties"]["busiest_days"]["maxItems"] == 3
    assert "busiest_days" in dashboard_schema()["required"]
    for newsletter_id, doc in docs.items():
        validate(doc)
        daily = doc["traffic"]["daily"]
        most = sorted(daily, key=lambda d: (-d["page_views"], d["date"]))[:3]
        assert doc["busiest_days"] == [{k: d[k] for k in ("date", "page_views")} for d in most]
        assert {k: v for k, v in doc.items() if k != "busiest_days"} == documents(week.data)[
            newsletter_id
        ]
    doc = max(docs.values(), key=lambda d: len(d["busiest_days"]))
    page = render_dashboard(doc)
    assert '<section id="busiest_days">' in page and "<h2>Busiest days</h2>" in page
    for d in doc["busiest_days"]:
        assert f'<tr id="busy-{d["date"]}"><td>{d["date"]}</td><td>{d["page_views"]:,}</td>' in page


def test_the_documents_queries_run_on_both_warehouses(warehouse) -> None:
    """Two newsletters' hand-made rows of every table the documents read, on DuckDB and on the
    BigQuery emulator: each document holds exactly its own numbers."""
    day = date(2026, 11, 20)
    end = day + timedelta(days=1)
    start = day - timedelta(days=89)
    new = {"snapshot_date": day, "created_at": utc("2026-01-01 00:00:00")}
    write_rows(warehouse, NEWSLETTERS.table, [
        {**new, "newsletter_id": "nl_1", "slug": "one", "name": "One"},
        {**new, "newsletter_id": "nl_2", "slug": "two", "name": None},
    ], day, end)  # fmt: skip
    write_rows(warehouse, POSTS.table, [
        {"snapshot_date": day, "post_id": "po_1", "newsletter_id": "nl_1", "title": "Hello",
         "emailed": True},
    ], day, end)  # fmt: skip
    write_rows(warehouse, STG_PAGE_VIEWS, [
        {"event_date": d, "event_at": utc(f"{d} 01:00:00"), "event_id": f"{d}-{v}",
         "newsletter_id": "nl_1", "url_path": "/", "source_category": "direct",
         "visitor_id": v, "session_id": "s", "device_type": "mobile", "is_bot": False,
         "source_object": "x"}
        for d in (day, day - timedelta(days=40)) for v in ("v1", "v2")
    ], start, end)  # fmt: skip
    traffic = {"unique_visitors": 2, "visits": 2, "post_page_views": 0, "bot_page_views": 0,
               "page_views_per_visit": 1.0}  # fmt: skip
    write_rows(warehouse, NEWSLETTER_DAILY_TRAFFIC, [
        {**traffic, "date": d, "newsletter_id": "nl_1", "page_views": 2}
        for d in (day, day - timedelta(days=40))
    ], start, end)  # fmt: skip
    write_rows(warehouse, NEWSLETTER_TRAFFIC_SOURCES, [
        {"date": day, "newsletter_id": "nl_1", "source_category": "direct",
         "referrer_domain": "(none)", "page_views": 2, "visits": 2, "unique_visitors": 2},
        {"date": day, "newsletter_id": "nl_2", "source_category": "social",
         "referrer_domain": "t.co", "page_views": 7, "visits": 5, "unique_visitors": 5},
    ], start, end)  # fmt: skip
    counts = dict.fromkeys(
        ["sent", "delivered", "bounced", "hard_bounced", "complained", "unique_opens",
         "unique_human_opens", "unique_machine_opens", "unique_clicks", "unsubscribes"], 0,
    )  # fmt: skip
    write_rows(warehouse, POST_EMAIL_FUNNEL, [
        {**counts, "date": d, "newsletter_id": "nl_1", "post_id": "po_1",
         "first_sent_at": utc("2026-11-19 00:00:00"), "days_since_send": n, "sent": 10 + n,
         "delivered": 10, "unique_human_opens": 4 + n, "human_open_rate": (4 + n) / 10}
        for n, d in enumerate((day - timedelta(days=1), day))
    ], start, end)  # fmt: skip
    link = {"newsletter_id": "nl_1", "post_id": "po_1", "first_sent_at": utc("2026-11-19 00:00:00"),
            "post_scanner_clicks": 0, "scanner_clicks": 0}  # fmt: skip
    write_rows(warehouse, POST_LINK_CLICKS, [
        {**link, "date": day - timedelta(days=1), "days_since_send": 0, "link_url": "https://a",
         "unique_clickers": 1, "total_clicks": 1, "post_unique_clickers": 1, "clicker_share": 1.0},
        *({**link, "date": day, "days_since_send": 1, "link_url": url, "link_tags": tags,
           "unique_clickers": n, "total_clicks": n + 1, "post_unique_clickers": 3,
           "clicker_share": n / 3, "scanner_clicks": scanners}
          for url, tags, n, scanners in (
              ("https://a", '{"link_type":["post"]}', 2, 0), ("https://b", None, 3, 4),
              ("https://c", None, 0, 1),
          )),
    ], start, end)  # fmt: skip
    opens = dict.fromkeys(
        [c.name for c in POST_EMAIL_CLIENTS.columns if c.type == "INT64"], 0
    )  # fmt: skip
    write_rows(warehouse, POST_EMAIL_CLIENTS, [
        {**opens, "date": d, "newsletter_id": "nl_1", "post_id": "po_1",
         "first_sent_at": utc("2026-11-19 00:00:00"), "days_since_send": n, "human_opens": 4 + n,
         "human_openers": 3, "machine_opens": 5, "apple_mail_opens": 2 + n, "gmail_opens": 2,
         "mobile_opens": 2 + n, "webmail_opens": 2}
        for n, d in enumerate((day - timedelta(days=1), day))
    ], start, end)  # fmt: skip
    write_rows(warehouse, NEWSLETTER_SUBSCRIBER_GROWTH, [
        {"date": day, "newsletter_id": "nl_2", "new_subscribers": 3, "lost_subscribers": 1,
         "net_change": 2, "total_subscribers": 12, "paid_subscribers": 1},
    ], start, end)  # fmt: skip
    segments = {"dormant_new_readers": 0, "engagement_days_seen": 90}
    write_rows(warehouse, NEWSLETTER_ENGAGEMENT_SEGMENTS, [
        {**segments, "date": d, "newsletter_id": "nl_2", "subscribers": 12, "active_readers": a,
         "at_risk_readers": 3, "dormant_readers": 9 - a, "active_share": a / 12,
         "at_risk_share": 3 / 12, "dormant_share": (9 - a) / 12, "active_change_7d": change,
         "at_risk_change_7d": None if change is None else 0,
         "dormant_change_7d": None if change is None else -change}
        for d, a, change in ((day - timedelta(days=7), 4, None), (day, 6, 2))
    ], start, end)  # fmt: skip
    write_rows(warehouse, NEWSLETTER_SUBSCRIBER_COHORTS, [
        {"week_start": w, "newsletter_id": "nl_2", "cohort_week": date(2026, 11, 2),
         "weeks_since_signup": n, "cohort_size": 10, "retained_subscribers": 10 - n,
         "retention_rate": (10 - n) / 10}
        for n, w in enumerate((date(2026, 11, 2), date(2026, 11, 9), date(2026, 11, 16)))
    ], date(2026, 11, 2), date(2026, 11, 23))  # fmt: skip
    create_empty_tables(warehouse)  # the tables of sections not filled here

    docs = build_documents(warehouse, day)

    assert sorted(docs) == ["nl_1", "nl_2"]
    for doc in docs.values():
        validate(doc)
    one, two = docs["nl_1"], docs["nl_2"]
    assert one["traffic"]["last_30_days"] == {"days": 30, "page_views": 2, "unique_visitors": 2}
    assert one["traffic"]["last_90_days"] == {"days": 90, "page_views": 4, "unique_visitors": 2}
    assert [d["date"] for d in one["traffic"]["daily"]] == ["2026-10-11", "2026-11-20"]
    (post,) = one["recent_posts"]
    assert (post["title"], post["sent"], post["days_since_send"], post["human_open_rate"]) == (
        "Hello", 11, 1, 0.5,
    )  # fmt: skip
    assert one["subscribers"] == {"total": 0, "paid": 0, "daily": []} and one["cohorts"] == []
    # The links as they stood on the post's newest day, the most clicked first.
    assert [
        (c["link_url"], c["link_tags"], c["unique_clickers"], c["total_clicks"],
         c["clicker_share"], c["scanner_clicks"], c["title"])
        for c in one["link_clicks"]
    ] == [
        ("https://b", None, 3, 4, 1.0, 4, "Hello"),
        ("https://a", '{"link_type":["post"]}', 2, 3, 2 / 3, 0, "Hello"),
        ("https://c", None, 0, 1, 0.0, 1, "Hello"),
    ]  # fmt: skip
    assert docs["nl_2"]["link_clicks"] == []
    # Opens by client and device over the recent posts, each as on its newest day (4 + 1).
    clients = one["email_clients"]
    assert (clients["human_opens"], clients["machine_opens"]) == (5, 5)
    assert [(c["name"], c["opens"], c["share"]) for c in clients["clients"]] == [
        ("apple_mail", 3, 0.6), ("gmail", 2, 0.4), ("outlook", 0, 0.0), ("yahoo", 0, 0.0),
        ("other", 0, 0.0),
    ]  # fmt: skip
    assert [(d["name"], d["opens"]) for d in clients["devices"]] == [
        ("mobile", 3), ("desktop", 0), ("webmail", 2), ("unknown", 0),
    ]  # fmt: skip
    assert docs["nl_2"]["email_clients"] == {
        "human_opens": 0, "machine_opens": 0, "clients": [], "devices": [],
    }  # fmt: skip
    assert two["newsletter"] == {"id": "nl_2", "slug": "two", "name": None}
    assert two["traffic_sources"]["top_referrers"] == [
        {"domain": "t.co", "category": "social", "page_views": 7, "visits": 5}
    ]
    assert (two["subscribers"]["total"], two["subscribers"]["paid"]) == (12, 1)
    assert two["cohorts"] == [
        {"cohort_week": "2026-11-02", "size": 10, "retention": [1.0, 0.9, 0.8]}
    ]
    assert two["recent_posts"] == [] and two["traffic"]["daily"] == []
    assert two["engagement"]["segments"] == [
        {"segment": "active", "readers": 6, "share": 0.5, "change_7d": 2},
        {"segment": "at_risk", "readers": 3, "share": 0.25, "change_7d": 0},
        {"segment": "dormant", "readers": 3, "share": 0.25, "change_7d": -2},
    ]
    assert two["engagement"]["history_days"] == 90
    assert [(d["date"], d["active"], d["dormant"]) for d in two["engagement"]["daily"]] == [
        ("2026-11-13", 4, 5), ("2026-11-20", 6, 3),
    ]  # fmt: skip
    assert one["engagement"] == {"history_days": 0, "segments": [], "daily": []}
    # The platform's first day with a daily number: nl_1's traffic 40 days before.
    assert {d["series_from"] for d in docs.values()} == {"2026-10-11"}


def test_before_the_first_week_is_measured_the_documents_have_no_cohorts(warehouse) -> None:
    """Days are published before any Monday-to-Sunday week has ended (a new platform, a demo of
    three days): no cohort table exists yet, and the documents say "no cohorts" instead of
    failing to publish."""
    day = date(2026, 10, 3)
    end = day + timedelta(days=1)
    write_rows(warehouse, NEWSLETTERS.table, [
        {"snapshot_date": day, "created_at": utc("2026-01-01 00:00:00"), "newsletter_id": "nl_1",
         "slug": "one", "name": "One"},
    ], day, end)  # fmt: skip
    create_empty_tables(warehouse, but=[NEWSLETTER_SUBSCRIBER_COHORTS])  # no week measured

    docs = build_documents(warehouse, day)

    validate(docs["nl_1"])
    assert docs["nl_1"]["cohorts"] == [] and docs["nl_1"]["subscribers"]["total"] == 0


# --- Ids that are not ids never become paths --------------------------------------------------

BAD_IDS = ["../../etc/x", "a/b", "../../../../../x", "x" * 5_000, "nl\x00x", "nl_1\n"]


def files_under(root: Path) -> set[Path]:
    return {p for p in root.rglob("*") if p.is_file()}


def test_documents_of_invalid_ids_are_refused_and_the_others_published(
    week: Week, tmp_path: Path
) -> None:
    good = dict(list(documents(week.data).items())[:2])
    template = next(iter(good.values()))
    bad = {i: {**template, "newsletter": {**template["newsletter"], "id": i}} for i in BAD_IDS}
    root = tmp_path / "a" / "b" / "c" / "d" / "e"
    lake = Lake(url=str(root / "lake"))
    started = time.monotonic()

    published = publish(lake, {**bad, **good}, SUNDAY)

    assert time.monotonic() - started < 10
    assert sorted(published.rewritten) == sorted(good) and len(published.refused) == 6
    assert all(len(r) <= 80 and "\x00" not in r for r in published.refused)
    expected = {root / "lake" / key for key in (MANIFEST_KEY, SCHEMA_KEY)}
    assert files_under(tmp_path) == expected | {root / "lake" / document_key(i) for i in good}
    assert sorted(read_manifest(lake)["documents"]) == sorted(good)


def test_a_bad_newsletter_in_the_warehouse_blocks_no_other_document(
    week: Week, tmp_path: Path
) -> None:
    """The asset, over a copy of the week whose stg_newsletters holds rows with bad ids (as if
    staged before ids were validated): the 8 documents are published, the bad ones refused and
    named by the failed `every_document_published` check, and no file appears anywhere else."""
    data = tmp_path / "x" / "y" / "z" / "data"
    shutil.copytree(week.data, data)
    with duckdb.connect(str(data / "warehouse.duckdb")) as con:
        for i in BAD_IDS:
            con.execute(
                "INSERT INTO staging.stg_newsletters (snapshot_date, newsletter_id, slug, "
                "created_at) VALUES (?, ?, 'bad', TIMESTAMPTZ '2026-01-01 00:00:00+00')",
                [SUNDAY, i],
            )
    before = files_under(tmp_path)
    defs = definitions(data)
    with dg.instance_for_test() as instance:
        result = run(defs, "publish_dashboards", instance, SUNDAY, SUNDAY)
    assert result.success
    (check,) = [
        e.asset_check_evaluation_data
        for e in result.all_events
        if e.event_type_value == "ASSET_CHECK_EVALUATION"
    ]
    assert check.check_name == "every_document_published" and not check.passed
    assert len(check.metadata["refused_ids"].value) == 6
    assert files_under(tmp_path) == before  # the manifest rewritten in place, nothing new
    assert len(documents(data)) == 8


def test_the_preview_refuses_an_id_before_touching_the_filesystem(
    week: Week, tmp_path: Path, monkeypatch, capsys
) -> None:
    data = tmp_path / "a" / "b" / "c" / "data"
    lake = data / "lake"
    shutil.copytree(week.data / "lake" / "serving", lake / "serving")
    # What the unvalidated publish wrote: `serving/v1/newsletters/../../etc/x.json`.
    (lake / "serving" / "etc").mkdir()
    shutil.copy(next((lake / "serving" / "v1" / "newsletters").glob("*.json")),
                lake / "serving" / "etc" / "x.json")  # fmt: skip
    monkeypatch.setenv("THELETTER_DATA_DIR", str(data))
    before = files_under(tmp_path)
    for bad in ("../../etc/x", "../../../../../x", "a/b", "x" * 5_000):
        assert main(["preview", bad, "--lake", str(lake)]) == 2
        assert main(["preview", bad]) == 2
        assert "invalid newsletter id" in capsys.readouterr().err
    assert files_under(tmp_path) == before
    good = sorted(documents(week.data))[0]
    assert main(["preview", good, "--lake", str(lake)]) == 0
    assert files_under(tmp_path) - before == {data / "previews" / f"{good}.html"}


# --- A publish killed between its documents and its manifest -----------------------------------


class _DiesBeforeItsManifest(Lake):
    """A lake on which the publish hangs when it comes to the manifest, to be killed there."""

    marker: str

    def write_bytes(self, key: str, data: bytes) -> None:
        if key == MANIFEST_KEY:
            Path(self.marker).touch()
            time.sleep(120)
        super().write_bytes(key, data)


def _publish_and_hang(url: str, marker: str, docs: dict, as_of: date) -> None:
    publish(_DiesBeforeItsManifest(url=url, marker=marker), docs, as_of)


def assert_manifest_describes_documents(lake: Lake) -> dict[str, dict]:
    entries = read_manifest(lake)["documents"]
    for newsletter_id, entry in entries.items():
        stored = read_document(lake, newsletter_id)
        assert (entry["sha256"], entry["as_of"]) == (content_hash(stored), stored["as_of"])
    return entries


def test_a_publish_killed_before_its_manifest_is_repaired_by_the_next_run(
    week: Week, tmp_path: Path
) -> None:
    lake = Lake(url=str(tmp_path / "lake"))
    monday = dict(list(documents(week.data).items())[:3])
    tuesday = {
        i: {**d, "as_of": str(SUNDAY + timedelta(days=1)), "traffic": {
            **d["traffic"], "last_30_days": {**d["traffic"]["last_30_days"], "page_views": 10**6}}}
        for i, d in monday.items()
    }  # fmt: skip
    assert publish(lake, monday, SUNDAY).rewritten == sorted(monday)

    marker = tmp_path / "writing-the-manifest"
    publisher = multiprocessing.get_context("spawn").Process(
        target=_publish_and_hang,
        args=(lake.url, str(marker), tuesday, SUNDAY + timedelta(days=1)),
    )
    publisher.start()
    deadline = time.monotonic() + 60
    while not marker.exists():
        assert time.monotonic() < deadline and publisher.is_alive(), "never reached the manifest"
        time.sleep(0.05)
    os.kill(publisher.pid, signal.SIGKILL)
    publisher.join()
    # The crash: every document holds Monday+1's numbers, the manifest still Sunday's hashes.
    entries = read_manifest(lake)["documents"]
    assert all(
        entries[i]["sha256"] != content_hash(read_document(lake, i))
        and read_document(lake, i)["as_of"] == str(SUNDAY + timedelta(days=1))
        for i in monday
    )

    # Re-running the older day: not "unchanged" (the stored hash differs), not rolled back
    # (the stored documents hold a later day), and the manifest now describes them.
    again = publish(lake, monday, SUNDAY)
    assert (again.rewritten, again.unchanged, sorted(again.newer_kept)) == ([], 0, sorted(monday))
    assert sorted(again.repaired) == sorted(monday)
    entries = assert_manifest_describes_documents(lake)
    assert {e["current_through"] for e in entries.values()} == {str(SUNDAY + timedelta(days=1))}
    # And the interrupted day, run again, finds its documents already there.
    finished = publish(lake, tuesday, SUNDAY + timedelta(days=1))
    assert (finished.rewritten, finished.unchanged, finished.repaired) == ([], 3, [])
    assert_manifest_describes_documents(lake)
    assert read_manifest(lake)["as_of"] == str(SUNDAY + timedelta(days=1))
