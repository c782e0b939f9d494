"""The raw sources' declarations (theletter_data/raw/sources.py) and everything derived from
them: the graph, the staging modules, the committed files generated from them (deploy/ and the
docs' tables), and the guards that refuse an unusable declaration."""

from __future__ import annotations

import dataclasses
import importlib
import json
import pkgutil
import shutil
import subprocess
import sys
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import dagster as dg
import pytest

import theletter_data.staging
import theletter_data_dev.lake_docs as lake_docs
from theletter_data import archive
from theletter_data.automation import raw_arrivals
from theletter_data.definitions import build_definitions
from theletter_data.extract.snapshots import SOURCE_TABLES
from theletter_data.raw import sources
from theletter_data.raw.layout import EXACT_DAY, ArrivalWindow, FirehoseStream
from theletter_data.raw.sources import (
    ALLOWED_LATENESS,
    APPDB_TABLES,
    ARCHIVED,
    AREAS,
    FIREHOSE_DELIVERY,
    GZIP_JSON_LINES,
    SERVING,
    SOURCES,
    RawSource,
    declaration_problems,
)
from theletter_data.resources.ingest_engine import IngestEngine
from theletter_data.resources.lake import Lake
from theletter_data.serving import publish
from theletter_data.settings import Environment, Settings
from theletter_data_tests.support.rawdata import firehose_key, put_lines, utc

ROOT = Path(__file__).parents[2]
DEPLOY = ROOT / "deploy"


def _render() -> Any:
    spec = importlib.util.spec_from_file_location("deploy_render_sources", DEPLOY / "render.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _staging_declarations() -> list[Any]:
    """Every object at the top of a staging module that says how a raw source is staged (a
    line stream's `stream` and `table`, an app export's `source_table` and `table`), found by
    what it holds, not by its class's name."""
    found = []
    for info in pkgutil.iter_modules(theletter_data.staging.__path__):
        module = importlib.import_module(f"theletter_data.staging.{info.name}")
        for value in vars(module).values():
            if isinstance(value, type) or not dataclasses.is_dataclass(value):
                continue
            if hasattr(value, "table") and (
                hasattr(value, "stream") or hasattr(value, "source_table")
            ):
                found.append(value)
    return found


# --- the graph and the code follow the declarations -----------------------------------------


def test_each_declaration_is_a_raw_asset_feeding_its_staged_asset(tmp_path: Path) -> None:
    settings = Settings(environment=Environment.LOCAL, data_dir=tmp_path, pseudonym_key_set=False)
    graph = build_definitions(settings).resolve_asset_graph()
    raw = {
        k.to_user_string() for k in graph.get_all_asset_keys() if graph.get(k).group_name == "raw"
    }
    assert raw == {s.asset_key for s in SOURCES} and len(SOURCES) >= 6  # the first six, at least
    for source in SOURCES:
        node = graph.get(dg.AssetKey(source.asset_key))
        assert node.metadata["lake_prefix"] == f"{source.prefix}/"
        assert source.key_pattern in (node.description or "")
        staged = graph.get(dg.AssetKey(source.staged_asset))
        assert staged.group_name == "staging"
        assert source.asset_key in {k.to_user_string() for k in staged.parent_keys}, source.name


def test_the_staging_modules_stage_the_declared_streams() -> None:
    """A staging module names its source's stream and whether its records are checked against
    the newsletters export; the declaration says the same (the sensor restages by it)."""
    staged = {d.table.name: d for d in _staging_declarations()}
    for source in SOURCES:
        declared = staged[source.staged_asset]
        if source.app_table is not None:
            assert declared.source_table == source.app_table
            continue
        assert declared.stream == source.stream
        checked = "appdb_newsletters" in source.checked_against
        assert declared.newsletters_must_exist == checked, source.name


def test_the_app_tables_are_the_declared_snapshots_everywhere() -> None:
    assert set(SOURCE_TABLES) == set(APPDB_TABLES) == {"newsletters", "posts", "subscriptions"}
    assert sources.appdb_export_prefix("posts", date(2026, 11, 20)) == "appdb/posts/dt=2026-11-20/"
    with pytest.raises(ValueError, match="unknown app database table 'comments'"):
        sources.appdb_export_prefix("comments", date(2026, 11, 20))
    assert publish.PREFIX.startswith(f"{SERVING.prefix}/")
    with pytest.raises(ValueError, match="'appdb_posts' is not a source of text lines"):
        sources.line_stream("appdb_posts")


def test_the_allowed_lateness_is_declared_once_and_the_engine_overrides_it(lake: Lake) -> None:
    assert IngestEngine().allowed_lateness == ALLOWED_LATENESS == FIREHOSE_DELIVERY.allowed_lateness
    assert IngestEngine(allowed_lateness_hours=5).allowed_lateness == timedelta(hours=5)
    # The sensor waits for the window the engine is configured with: 18:00 UTC closes the
    # Japan-time 20th by the declaration (3 h), 20:00 by a 5 h override.
    put_lines(lake, firehose_key("pageviews", utc("2026-11-20 03:05:00")), [{"event_id": "x"}])
    five = timedelta(hours=5)
    at = utc("2026-11-20 18:00:00")
    assert raw_arrivals.plan_arrivals(lake, {}, at, ALLOWED_LATENESS).requests
    assert not raw_arrivals.plan_arrivals(lake, {}, at, five).requests
    assert raw_arrivals.plan_arrivals(lake, {}, at + timedelta(hours=2), five).requests


# --- committed files generated from the declarations ------------------------------------------


def test_the_deploy_templates_are_what_the_declarations_generate() -> None:
    generated = _render().generated_templates()
    assert set(generated) == {
        "s3/lake-lifecycle.json",
        "iam/run-task-role.json",
        "iam/code-server-task-role.json",
        "iam/appdb-extract-run-role.json",
    }
    for template, document in generated.items():
        assert json.loads((DEPLOY / template).read_text()) == document, (
            f"deploy/{template} differs from raw/sources.py: run "
            "`.venv/bin/python deploy/render.py --generate`"
        )


def test_render_check_names_a_template_edited_by_hand_and_generate_repairs_it(
    tmp_path: Path,
) -> None:
    copy = tmp_path / "deploy"
    shutil.copytree(DEPLOY, copy)
    role = copy / "iam/run-task-role.json"
    policy = json.loads(role.read_text())
    read = next(s for s in policy["Statement"] if s["Sid"] == "ReadRawPrefixes")
    read["Resource"] = [r for r in read["Resource"] if "pageviews" not in r]  # a prefix lost
    role.write_text(json.dumps(policy))

    def render(*args: str) -> subprocess.CompletedProcess[str]:
        command = [sys.executable, str(copy / "render.py"), *args]
        return subprocess.run(command, capture_output=True, text=True, cwd=tmp_path)

    checked = render("--check")
    assert checked.returncode == 1
    assert checked.stderr.strip() == "deploy/iam/run-task-role.json: differ from " + (
        "theletter_data/raw/sources.py"
    )
    assert render("--generate").returncode == 0
    assert render("--check").returncode == 0
    assert json.loads(role.read_text()) == json.loads(
        (DEPLOY / "iam/run-task-role.json").read_text()
    )
    # The hand-written statements are kept, in place.
    sids = [s["Sid"] for s in json.loads(role.read_text())["Statement"]]
    assert sids[-1] == "WriteComputeLogs"


def test_the_docs_tables_are_what_the_declarations_generate(tmp_path: Path) -> None:
    assert lake_docs.main(["--check"]) == 0, (
        "run `.venv/bin/python -m theletter_data_dev.lake_docs`"
    )
    for name in lake_docs.TABLES:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(ROOT / name, tmp_path / name)
    layout = tmp_path / "docs/lake-layout.md"
    layout.write_text(layout.read_text().replace("`stg_page_views`", "`stg_pageviews`"))
    assert lake_docs.main(["--check"], root=tmp_path) == 1
    assert lake_docs.main([], root=tmp_path) == 0
    assert layout.read_text() == (ROOT / "docs/lake-layout.md").read_text()
    layout.write_text(layout.read_text().replace(lake_docs.END, ""))
    with pytest.raises(ValueError, match="expected one"):
        lake_docs.main([], root=tmp_path)


# --- a new source: its declaration is enough ------------------------------------------------


def test_a_new_source_reaches_the_sensor_restore_deploy_and_docs(
    monkeypatch: pytest.MonkeyPatch, lake: Lake
) -> None:
    """A hypothetical Firehose stream of push notifications, declared and nothing else: the
    sensor stages its days, a restore reads its folders, IAM grants and the lifecycle archives
    its prefix, and the docs list it. (The modules bind SOURCES on import, so each is given
    the longer tuple here; in the code, the declaration is the one edit.)"""
    push = RawSource(
        name="push_events",
        title="push notifications",
        prefix="push-events",
        layout=FirehoseStream,
        arrival=FIREHOSE_DELIVERY,
        producer="the app's push service, delivered by Kinesis Data Firehose",
        format=GZIP_JSON_LINES,
        staged_asset="stg_push_events",
        retention=ARCHIVED,
    )
    extended = (*SOURCES, push)
    assert declaration_problems(extended, AREAS) == []
    for module in (sources, raw_arrivals, archive, lake_docs):
        monkeypatch.setattr(module, "SOURCES", extended)

    put_lines(lake, firehose_key("push-events", utc("2026-11-20 03:05:00")), [{"id": "x"}])
    plan = raw_arrivals.plan_arrivals(lake, {}, utc("2026-11-20 18:00:00"), ALLOWED_LATENESS)
    assert [(r.asset_selection[0].to_user_string(), r.partition_key) for r in plan.requests] == [
        ("stg_push_events", "2026-11-20")
    ]
    assert "push-events/2026/11/19/" in archive.raw_prefixes(date(2026, 11, 20), date(2026, 11, 20))

    render = _render()
    run_role = render.lake_statements()["iam/run-task-role.json"]
    read = next(s for s in run_role if s["Sid"] == "ReadRawPrefixes")
    assert "arn:aws:s3:::${LAKE_BUCKET}/${LAKE_PREFIX}push-events/*" in read["Resource"]
    rules = {r["ID"]: r for r in render.lake_lifecycle()["Rules"]}
    assert rules["push-events-to-glacier"]["Filter"] == {"Prefix": "${LAKE_PREFIX}push-events/"}
    assert "| push notifications | `push-events/YYYY/MM/DD/HH/<name>.gz` |" in (
        lake_docs.lake_layout_table()
    )


# --- declarations that cannot work are refused -----------------------------------------------


def _source(**changes: Any) -> RawSource:
    return dataclasses.replace(SOURCES[0], **changes)


@pytest.mark.parametrize(
    ("bad", "problem"),
    [
        ({"name": "page_views"}, "two sources are named 'page_views'"),
        ({"name": "Push-Events"}, "source name 'Push-Events' is not snake_case"),
        ({"prefix": "push-events/"}, "prefix 'push-events/' is not folder names"),
        ({"prefix": "push-*"}, "prefix 'push-*' is not folder names"),  # an IAM wildcard
        ({"prefix": "push?"}, "prefix 'push?' is not folder names"),
        ({"prefix": "../outside"}, "prefix '../outside' is not folder names"),
        ({"prefix": "a//b"}, "prefix 'a//b' is not folder names"),
        ({"prefix": "appdb"}, "prefixes 'appdb/newsletters' and 'appdb' overlap"),
        ({"prefix": "serving/x"}, "prefixes 'serving/x' and 'serving' overlap"),
        ({"prefix": "pageviews"}, "prefixes 'pageviews' and 'pageviews' overlap"),
        ({"checked_against": ("appdb_comments",)}, "checked against 'appdb_comments'"),
        (
            {"arrival": ArrivalWindow(timedelta(hours=1), timedelta(hours=6))},
            "declare different arrival windows",
        ),
        (
            {"arrival": ArrivalWindow(timedelta(hours=1), timedelta(minutes=90))},
            "whole hours",
        ),
    ],
)
def test_a_declaration_that_cannot_work_is_refused(bad: dict[str, Any], problem: str) -> None:
    """Each would break a derived artefact: a second `raw_page_views` asset, a prefix IAM reads
    as a wildcard or whose rules overlap another's, a restage nobody triggers, a stream that
    staging (one clock skew and lateness) would judge by another window than the sensor."""
    name = {"name": "push_events"} if "name" not in bad else {}
    declared = [*SOURCES[1:], _source(**{"prefix": "push-events", **name, **bad})]
    problems = declaration_problems(declared, AREAS)
    assert any(problem in p for p in problems), problems


def test_the_declared_sources_are_usable_and_windows_of_exports_are_their_day() -> None:
    assert declaration_problems(SOURCES, AREAS) == []
    for source in SOURCES:
        if not source.stream.late_records_possible:
            assert source.arrival == EXACT_DAY, source.name
