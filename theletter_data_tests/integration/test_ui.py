"""The README's UI command, scripts/ui.sh: `dagster dev` over the local instance, without the
warning that the top-level (production) dagster.yaml is ignored (nor any other), and with the
code location loaded."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

from theletter_data_tests.support.ports import free_port

pytestmark = pytest.mark.slow  # a real webserver

ROOT = Path(__file__).resolve().parents[2]
IGNORED_INSTANCE_WARNING = "Found a dagster instance configuration value"


def test_the_ui_command_starts_without_the_instance_warning(tmp_path: Path) -> None:
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(ROOT / "dagster_home" / "dagster.yaml", home)
    port = free_port()
    log = tmp_path / "dagster-dev.log"
    environment = {
        **os.environ,
        "DAGSTER_HOME": str(home),
        "THELETTER_DATA_DIR": str(tmp_path / "data"),
    }
    with log.open("w") as out:
        dev = subprocess.Popen(
            [str(ROOT / "scripts" / "ui.sh"), "-p", str(port)],
            cwd=ROOT,  # where a newcomer types it, beside the production dagster.yaml
            env=environment,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # dagster dev, its webserver, daemon and code server
        )
        try:
            locations = _code_locations(port, deadline=time.monotonic() + 180)
        finally:
            _stop(dev)
    output = log.read_text()
    assert locations == {"theletter_data": "RepositoryLocation"}, output
    assert IGNORED_INSTANCE_WARNING not in output
    assert "Warning" not in output  # nor "dg dev supersedes dagster dev"
    assert (ROOT / "dagster.yaml").exists()  # the production instance stays where it is


def _stop(dev: subprocess.Popen) -> None:
    """`dagster dev` and its children stop on SIGTERM to the group; force them if they hang.
    (Alone this takes a second or two; in the full suite it once waited out a 60 s limit,
    which is no part of what this test checks.)"""
    os.killpg(dev.pid, signal.SIGTERM)
    try:
        dev.wait(timeout=15)
    except subprocess.TimeoutExpired:
        os.killpg(dev.pid, signal.SIGKILL)
        dev.wait(timeout=10)


def _code_locations(port: int, deadline: float) -> dict[str, str]:
    """The UI's code locations and whether each loaded, once the webserver answers."""
    query = json.dumps(
        {
            "query": "{ workspaceOrError { ... on Workspace { locationEntries { name "
            "locationOrLoadError { __typename } } } } }"
        }
    ).encode()
    while True:
        try:
            request = urllib.request.Request(
                f"http://127.0.0.1:{port}/graphql",
                data=query,
                headers={"Content-Type": "application/json"},
            )
            with urllib.request.urlopen(request, timeout=10) as response:
                entries = json.load(response)["data"]["workspaceOrError"]["locationEntries"]
            loaded = {
                e["name"]: (e["locationOrLoadError"] or {}).get("__typename") for e in entries
            }
            if all(loaded.values()):
                return loaded
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise TimeoutError("dagster dev did not serve its code locations in time")
        time.sleep(1)
