"""The documents' contract: the JSON Schema built from the sections' declarations extends the
first version 1 the web app was built against, is published beside the documents, and a new
section is only its declaration."""

from __future__ import annotations

import copy
import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import jsonschema
import pytest

from theletter_data.metrics.newsletter_daily_traffic import (
    NEWSLETTER_DAILY_TRAFFIC,
    newsletter_daily_traffic,
)
from theletter_data.partitions import daily_partitions
from theletter_data.resources.duckdb_warehouse import DuckDBWarehouse
from theletter_data.serving import registry
from theletter_data.serving.documents import build_documents, validate
from theletter_data.serving.fields import count, day
from theletter_data.serving.preview import render_dashboard
from theletter_data.serving.publish import SCHEMA_KEY
from theletter_data.serving.registry import register
from theletter_data.serving.schema import dashboard_schema, schema_bytes
from theletter_data.serving.sections import DashboardSection, PreviewColumn, RankedTable
from theletter_data_tests.support.week import SUNDAY, Week, documents

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
