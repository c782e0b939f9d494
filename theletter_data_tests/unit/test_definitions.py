"""The code location loads in every environment, and its graph (keys, deps, groups, partitions,
checks, automation, freshness, sizes, jobs, schedules, sensors) is the reviewed snapshot."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import pytest

from theletter_data.automation.selection import CADENCE_TAG, Cadence
from theletter_data.definitions import build_definitions, defs
from theletter_data.settings import Environment, Settings, load_settings
from theletter_data_tests.support import graph_snapshot


def test_the_graph_is_its_reviewed_snapshot() -> None:
    """Local, production and production with the app database; a difference is printed as a
    diff of the snapshot file, with the command that regenerates it for review."""
    actual = graph_snapshot.render()
    expected = graph_snapshot.SNAPSHOT.read_text()
    if actual != expected:
        pytest.fail(
            "The graph differs from its reviewed snapshot "
            f"({graph_snapshot.SNAPSHOT.relative_to(Path(__file__).parents[2])}). If the change "
            f"is intended, regenerate it and review the diff:\n  {graph_snapshot.UPDATE_COMMAND}"
            f"\n\n{graph_snapshot.diff(expected, actual)}",
            pytrace=False,
        )


def test_the_entry_point_loads_with_the_default_environment(monkeypatch, tmp_path) -> None:
    monkeypatch.delenv("THELETTER_ENV", raising=False)
    monkeypatch.setenv("THELETTER_DATA_DIR", str(tmp_path))
    loaded = defs()
    assert {job.name for job in loaded.resolve_all_job_defs()} >= {
        "daily_refresh",
        "weekly_cohorts",
        "publish_dashboards",
    }


def test_an_unknown_environment_fails_loudly() -> None:
    with pytest.raises(ValueError, match="THELETTER_ENV='staging-ish' is not one of: local"):
        load_settings({"THELETTER_ENV": "staging-ish"})


def test_every_table_asset_describes_itself_and_has_checks(tmp_path: Path) -> None:
    settings = Settings(environment=Environment.LOCAL, data_dir=tmp_path, pseudonym_key_set=False)
    loaded = build_definitions(settings)
    graph = loaded.resolve_asset_graph()
    for key in graph.get_all_asset_keys():
        node = graph.get(key)
        if node.group_name == "raw":
            assert not node.is_materializable
            continue
        assert node.owners and node.description and "Owner:" in node.description, key
        if node.group_name == "serving":  # documents in the lake, not a table
            assert node.metadata["lake_prefix"].startswith("serving/v1/"), key
            continue
        spec = node.metadata
        assert "one row per" in spec["grain"], key
        assert isinstance(spec["dagster/column_schema"], dg.TableSchema), key
        assert node.owners and node.description and "Owner:" in node.description, key
        assert node.kinds, key
        checks = {check_key.name for check_key in node.check_keys}
        assert {"unique_key", "column_values"} <= checks, key
        if node.group_name == "staging":
            assert "reconciliation" in checks, key


def test_workspace_yaml_points_at_the_entry_point() -> None:
    text = (Path(__file__).parents[2] / "workspace.yaml").read_text()
    assert "theletter_data.definitions" in text


@pytest.mark.parametrize(
    ("environment", "status"),
    [(Environment.LOCAL, "STOPPED"), (Environment.PRODUCTION, "RUNNING")],
)
def test_automation_runs_by_itself_only_in_production(environment, status, tmp_path) -> None:
    loaded = build_definitions(
        Settings(environment=environment, data_dir=tmp_path, pseudonym_key_set=False)
    )
    repository = loaded.get_repository_def()
    sensors = {s.name: s.default_status.name for s in repository.sensor_defs}
    schedules = {s.name: s.default_status.name for s in repository.schedule_defs}
    assert sensors and set(sensors.values()) == {status}, sensors
    assert schedules and set(schedules.values()) == {status}, schedules


def test_every_sensor_the_ui_lists_is_named_and_described(tmp_path: Path) -> None:
    """Assets with an automation condition that no named sensor targets would get Dagster's
    anonymous `default_automation_condition_sensor`."""
    settings = Settings(environment=Environment.LOCAL, data_dir=tmp_path, pseudonym_key_set=False)
    repository = build_definitions(settings).get_repository_def()
    described = {s.name: bool(s.description) for s in repository.sensor_defs}
    assert "default_automation_condition_sensor" not in described
    assert all(described.values()), described


def test_every_table_is_kept_fresh_by_something_and_declares_when(tmp_path: Path) -> None:
    settings = Settings(environment=Environment.LOCAL, data_dir=tmp_path, pseudonym_key_set=False)
    graph = build_definitions(settings).resolve_asset_graph()
    for key in graph.get_all_asset_keys():
        node = graph.get(key)
        name = key.to_user_string()
        if node.group_name == "raw":
            continue
        assert node.freshness_policy is not None, name
        assert node.pools == {"warehouse"}, name
        intraday = node.tags[CADENCE_TAG] == Cadence.INTRADAY
        if node.group_name in ("metrics", "serving") and not intraday:
            assert node.automation_condition is not None, name  # follows its inputs
        else:
            assert node.automation_condition is None, name  # the sensor or the schedule


@pytest.mark.parametrize(
    ("environment", "executor"),
    [(Environment.LOCAL, "in_process"), (Environment.PRODUCTION, "multiprocess")],
)
def test_steps_share_the_run_process_only_where_they_would_wait_anyway(
    environment: Environment, executor: str, tmp_path: Path
) -> None:
    """Locally DuckDB's one writer serialises the steps; in production BigQuery steps run in
    parallel processes."""
    settings = Settings(environment=environment, data_dir=tmp_path, pseudonym_key_set=False)
    loaded = build_definitions(settings)
    assert {job.executor_def.name for job in loaded.resolve_all_job_defs()} == {executor}
