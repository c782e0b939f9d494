"""Definitions are discovered and selected by layer and cadence: a new metric module is in the
graph, its jobs, its automation and its freshness checks without an edit anywhere else; an asset
whose cadence disagrees with its partitions, or a key defined twice, stops the code location
from loading; and the raw-arrivals sensor's requests pass Dagster's own evaluation."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import dagster as dg
import pytest
import yaml

from theletter_data.automation.selection import CADENCE_TAG, Cadence, cadence_errors
from theletter_data.definitions import build_definitions, discover
from theletter_data.partitions import TOKYO, daily_partitions, weekly_partitions
from theletter_data.raw.sources import SOURCES
from theletter_data.resources.ingest_engine import IngestEngine
from theletter_data.settings import Environment, Settings
from theletter_data_tests.support.graph_snapshot import environments, render
from theletter_data_tests.support.rawdata import firehose_key, put_export, put_lines, ses

ROOT = Path(__file__).resolve().parents[2]
NEW = "platform_daily_kpis_copy"


def _asset(name: str, **kwargs: Any) -> dg.AssetsDefinition:
    @dg.asset(name=name, **kwargs)
    def _a() -> None: ...

    return _a


def test_a_cadence_that_disagrees_with_the_partitions_is_named() -> None:
    external = dg.AssetSpec("raw_thing", partitions_def=daily_partitions)  # no cadence: fine

    @dg.multi_asset(
        specs=[dg.AssetSpec("tagged", tags=Cadence.DAILY.tags), dg.AssetSpec("untagged")],
        partitions_def=daily_partitions,
    )
    def both():  # type: ignore[no-untyped-def]
        yield from ()

    errors = cadence_errors(
        [
            external,
            _asset("daily_ok", partitions_def=daily_partitions, tags=Cadence.DAILY.tags),
            _asset("weekly_ok", partitions_def=weekly_partitions, tags=Cadence.WEEKLY.tags),
            _asset("intraday_ok", tags=Cadence.INTRADAY.tags),
            _asset("daily_as_weekly", partitions_def=daily_partitions, tags=Cadence.WEEKLY.tags),
            _asset("unpartitioned_as_daily", tags=Cadence.DAILY.tags),
            _asset("no_tag", partitions_def=weekly_partitions),
            _asset("hourly", tags={CADENCE_TAG: "hourly"}),
            _asset(
                "other_partitions",
                partitions_def=dg.StaticPartitionsDefinition(["a"]),
                tags=Cadence.DAILY.tags,
            ),
            both,
        ]
    )
    assert errors == [
        "daily_as_weekly is tagged weekly but its partitions are daily",
        "unpartitioned_as_daily is tagged daily but its partitions are intraday",
        "no_tag has no `theletter/cadence` tag (expected weekly)",
        "hourly: `theletter/cadence` 'hourly' is not one of the cadences",
        "other_partitions is tagged daily but its partitions are "
        + str(dg.StaticPartitionsDefinition(["a"])),
        "untagged has no `theletter/cadence` tag (expected daily)",
    ]


@pytest.mark.parametrize("environment", ["local", "production with the app database"])
def test_every_asset_written_here_is_run_by_a_schedule_or_a_sensor(
    environment: str, tmp_path: Path
) -> None:
    """An asset no job, schedule or sensor selects would never be materialized by itself."""
    repository = build_definitions(environments(tmp_path)[environment]).get_repository_def()
    graph = repository.asset_graph
    kept: set[dg.AssetKey] = set()
    for schedule in repository.schedule_defs:
        kept |= repository.get_job(schedule.job_name).asset_layer.selected_asset_keys
    for sensor in repository.sensor_defs:
        if sensor.asset_selection is not None:
            kept |= sensor.asset_selection.resolve(graph)
        elif sensor.has_jobs:
            for job in sensor.jobs:
                kept |= repository.get_job(job.name).asset_layer.selected_asset_keys
    materializable = {key for key in graph.get_all_asset_keys() if graph.get(key).is_materializable}
    assert materializable and materializable - kept == set()


def test_the_raw_arrivals_sensor_requests_runs_dagster_accepts(lake, tmp_path: Path) -> None:
    """The sensor daemon evaluates a sensor through `evaluate_tick`, which refuses a RunRequest
    of a sensor that declares no target. Objects of every raw prefix request every daily staged
    table, inside the sensor's target."""
    now = datetime.now(UTC)
    arrival = now.replace(minute=5, second=0, microsecond=0) - timedelta(hours=30)
    day = (arrival - timedelta(minutes=2)).astimezone(TOKYO).date()
    put_lines(lake, firehose_key("ses-events", arrival), [ses("Send", arrival)])
    put_lines(lake, firehose_key("pageviews", arrival), [{"event_id": "x"}])
    # An app-logs export lands the day after its day: yesterday's, in Japan time. (The day of
    # the arrival above is up to 54 hours old, and a first tick looks 48 hours back: the test
    # failed from 15:00 to 21:00 UTC.)
    logs_day = now.astimezone(TOKYO).date() - timedelta(days=1)
    put_lines(lake, f"app-logs/{logs_day.isoformat()}/web/t1/ecs/web/a/000000.gz", ["x"])
    for table in ("newsletters", "posts", "subscriptions"):
        put_export(lake, table, day, [{"id": "1"}])
    settings = Settings(environment=Environment.LOCAL, data_dir=tmp_path, pseudonym_key_set=False)
    repository = build_definitions(settings).get_repository_def()
    sensor = repository.get_sensor_def("raw_arrivals_sensor")
    with (
        dg.instance_for_test() as instance,
        dg.build_sensor_context(
            instance=instance,
            repository_def=repository,
            resources={"lake": lake, "ingest_engine": IngestEngine()},
        ) as context,
    ):
        tick = sensor.evaluate_tick(context)
    requested = {key.to_user_string() for r in tick.run_requests for key in r.asset_selection}
    # The newsletters export restages the days of the streams checked against it (payments).
    assert requested == {source.staged_asset for source in SOURCES}
    assert sensor.asset_selection is not None
    targeted = sensor.asset_selection.resolve(repository.asset_graph)
    assert {key.to_user_string() for key in targeted} == requested
    assert {r.job_name for r in tick.run_requests} == {"__ASSET_JOB"}
    assert day.isoformat() in {r.partition_key for r in tick.run_requests}


@pytest.mark.filterwarnings("ignore:Class `SourceAsset` is deprecated")
def test_discovery_counts_an_imported_asset_once_and_refuses_a_source_asset(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    layer = tmp_path / "scratch_layer"
    layer.mkdir()
    (layer / "a.py").write_text(
        "import dagster as dg\n\n"
        'raw = dg.AssetSpec("raw_x")\n\n\n'
        "@dg.asset(deps=[raw])\n"
        "def x() -> None: ...\n\n\n"
        "@dg.asset_check(asset=x)\n"
        "def x_ok() -> dg.AssetCheckResult:\n"
        "    return dg.AssetCheckResult(passed=True)\n"
    )
    (layer / "b.py").write_text("from scratch_layer.a import raw, x  # noqa: F401\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    assets, checks = discover(["scratch_layer"])
    assert sorted(_name(a) for a in assets) == ["raw_x", "x"]
    assert [key.name for c in checks for key in c.check_keys] == ["x_ok"]

    (layer / "c.py").write_text('import dagster as dg\n\nold = dg.SourceAsset("old_style")\n')
    with pytest.raises(
        TypeError, match=r"Declare as an AssetSpec or an asset: AssetKey\(\['old_style'\]\)"
    ):
        discover(["scratch_layer"])


def _name(asset: dg.AssetsDefinition | dg.AssetSpec) -> str:
    return asset.key.to_user_string()


def _copy_of_the_package(tmp_path: Path) -> Path:
    package = tmp_path / "theletter_data"
    shutil.copytree(ROOT / "theletter_data", package, ignore=shutil.ignore_patterns("__pycache__"))
    return package


def _in_a_fresh_interpreter(code: str, path: Path) -> subprocess.CompletedProcess[str]:
    environment = {**os.environ, "PYTHONPATH": os.pathsep.join([str(path), str(ROOT)])}
    return subprocess.run(
        [sys.executable, "-c", code],
        env=environment,
        cwd=path,
        capture_output=True,
        text=True,
        timeout=300,
    )


def _without(document: Any, name: str) -> Any:
    """The snapshot as if `name` did not exist: its entries and list items dropped."""
    if isinstance(document, dict):
        return {k: _without(v, name) for k, v in document.items() if k != name}
    if isinstance(document, list):
        return [item for item in document if item not in (name, f"{name}:partition_freshness")]
    return document


def test_a_new_metric_module_is_in_the_graph_its_jobs_and_automation(tmp_path: Path) -> None:
    """A copy of the package with one more module in metrics/ (a copy of a metric under another
    name) and its SQL files, nothing else edited: the snapshot gains that asset, in the daily
    job, the metrics automation and the daily freshness checks, and nothing else changes."""
    package = _copy_of_the_package(tmp_path)
    metrics = package / "metrics"
    # A metric without a dashboard section: a section belongs to one metric only.
    source = (metrics / "platform_daily_kpis.py").read_text()
    (metrics / f"{NEW}.py").write_text(source.replace("platform_daily_kpis", NEW))
    for sql in (metrics / "sql").glob("platform_daily_kpis*.sql"):
        shutil.copy(sql, sql.with_name(sql.name.replace("platform_daily_kpis", NEW)))

    done = _in_a_fresh_interpreter(
        "import theletter_data\n"
        f"assert theletter_data.__file__.startswith({str(tmp_path)!r}), theletter_data.__file__\n"
        "from theletter_data_tests.support.graph_snapshot import render\n"
        "print(render())\n",
        tmp_path,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    graph = yaml.safe_load(done.stdout)
    local = graph["local"]
    assert local["assets"][NEW]["group"] == "metrics"
    assert local["assets"][NEW]["tags"] == {CADENCE_TAG: "daily"}
    assert NEW in local["jobs"]["daily_refresh"]["assets"]
    assert NEW in local["sensors"]["metrics_automation"]["targets"]
    assert f"{NEW}:partition_freshness" in local["jobs"]["partition_freshness"]["checks"]
    assert _without(graph, NEW) == yaml.safe_load(render())


def test_a_key_defined_twice_stops_the_code_location_naming_both_modules(tmp_path: Path) -> None:
    package = _copy_of_the_package(tmp_path)
    shutil.copy(
        package / "metrics" / "newsletter_daily_traffic.py", package / "metrics" / "traffic_v2.py"
    )
    done = _in_a_fresh_interpreter("import theletter_data.definitions", tmp_path)
    assert done.returncode == 1
    assert "Asset key newsletter_daily_traffic is defined multiple times" in done.stderr
    assert "theletter_data.metrics.traffic_v2" in done.stderr.splitlines()[-1]


def test_an_asset_without_a_cadence_stops_the_code_location(tmp_path: Path) -> None:
    """A metric written with a bare `@dg.asset` instead of the shared decorators would be left
    out of every job, automation sensor and freshness check: the location refuses to load."""
    package = _copy_of_the_package(tmp_path)
    (package / "metrics" / "hand_made.py").write_text(
        "import dagster as dg\n\n"
        "from theletter_data.partitions import daily_partitions\n\n\n"
        '@dg.asset(group_name="metrics", partitions_def=daily_partitions)\n'
        "def hand_made() -> None: ...\n"
    )
    done = _in_a_fresh_interpreter("import theletter_data.definitions", tmp_path)
    assert done.returncode == 1
    assert (
        "ValueError: Assets with a wrong cadence: hand_made has no `theletter/cadence` tag "
        "(expected daily)" in done.stderr
    )
