"""The command line: the development tools' commands come from their own package, and where it
is not installed (the production image) they say where to find them instead of a traceback."""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import pytest

from theletter_data.cli import DEVELOPMENT_COMMANDS, build_parser, main

DEV_MODULES = ("theletter_data_dev", "theletter_data_dev.cli")


def without_development_tools(monkeypatch: pytest.MonkeyPatch) -> None:
    """As in the image: `import theletter_data_dev` fails with ModuleNotFoundError."""
    for name in DEV_MODULES:
        monkeypatch.setitem(sys.modules, name, None)


@pytest.mark.parametrize(
    "argv",
    [
        ["demo"],
        ["demo", "--start", "2026-10-01", "--end", "2026-10-03", "--readers", "800"],
        ["generate", "--lake", "s3://somewhere/lake"],
        ["benchmark", "--sizes", "1000"],
    ],
)
def test_without_the_development_tools_their_commands_say_where_they_are(
    argv: list[str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    without_development_tools(monkeypatch)
    assert main(argv) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == (
        f"theletter-data {argv[0]} is a development tool: it is available in a checkout of "
        "theletter-data (`./scripts/setup.sh` installs the package theletter_data_dev), not in "
        "the production image, which installs the platform alone.\n"
    )


def test_without_the_development_tools_the_platform_s_commands_are_all_there(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    without_development_tools(monkeypatch)
    image = build_parser()._subparsers._group_actions[0].choices  # type: ignore[union-attr]
    monkeypatch.undo()
    checkout = build_parser()._subparsers._group_actions[0].choices  # type: ignore[union-attr]
    assert list(image) == list(checkout) == [
        *DEVELOPMENT_COMMANDS, "preview", "trace", "restore-archived", "bigquery-setup",
    ]  # fmt: skip
    assert "--newsletters" in checkout["demo"].format_help()
    assert "--newsletters" not in image["demo"].format_help()


def test_a_development_package_that_fails_to_import_is_not_taken_for_a_missing_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Only the package's own absence means "not installed": a checkout whose tools lack a
    dependency fails with that dependency's name."""
    broken = tmp_path / "theletter_data_dev"
    broken.mkdir()
    (broken / "__init__.py").write_text("")
    (broken / "cli.py").write_text("import a_dependency_that_is_not_installed\n")
    for name in DEV_MODULES:
        monkeypatch.delitem(sys.modules, name, raising=False)
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(ModuleNotFoundError, match="a_dependency_that_is_not_installed"):
        main(["demo"])


@pytest.mark.parametrize(
    ("options", "said"),
    [
        (["--start", "2026-10-01"], "--start and --end go together"),
        (["--end", "2026-10-28"], "--start and --end go together"),
        (["--start", "2026-10-28", "--end", "2026-10-01"], "--end 2026-10-01 is before --start"),
    ],
)
def test_a_demo_range_given_by_half_or_backwards_is_refused_before_anything_runs(
    options: list[str], said: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One end alone used to be dropped without a word (the demo ran on other days)."""
    monkeypatch.setenv("THELETTER_DATA_DIR", str(tmp_path / "data"))
    with pytest.raises(SystemExit, match=said):
        main(["demo", *options])
    assert not (tmp_path / "data").exists()


@pytest.mark.slow
def test_the_demo_without_dagster_home_records_runs_its_code_location_can_reach(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`theletter-data demo` without DAGSTER_HOME: the runs are created by the code location's
    server, which must reach the temporary instance (an in-memory one failed every demo with
    "Attempted to prepare an ineligible DagsterInstance (InstanceType.EPHEMERAL) for cross
    process communication")."""
    from theletter_data_dev.cli import _instance
    from theletter_data_dev.launch import WorkspaceRuns

    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    monkeypatch.setenv("THELETTER_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    with _instance() as instance, WorkspaceRuns(instance) as runs:
        run = runs.create("daily_refresh", tags={"dagster/partition": "2026-10-01"})
        assert instance.get_run_by_id(run.run_id) is not None
    assert capsys.readouterr().out == (
        "DAGSTER_HOME is not set: runs are recorded in a temporary instance "
        f"({instance.root_directory}).\n"
    )
    assert Path(instance.root_directory).is_relative_to(tmp_path)
