"""deploy/render.py: every placeholder known, used and documented, and a render that fails
loudly on unknown, unset or malformed values; every policy statement explained in deploy/README.md.
The deployment on moto, its fixtures and helpers: support/moto_deployment.py.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from theletter_data_tests.support.moto_deployment import (
    DEPLOY,
    Deployment,
    all_templates,
    render,
    template,
)


def test_every_placeholder_is_known_used_and_documented() -> None:
    used = set().union(*(render.placeholders_in(template(t)) for t in all_templates()))
    assert used == set(render.PLACEHOLDERS)
    readme = (DEPLOY / "README.md").read_text()
    undocumented = [n for n in render.PLACEHOLDERS if f"`{n}`" not in readme]
    assert not undocumented


def test_render_fails_on_unknown_unset_or_malformed_values(deployment: Deployment) -> None:
    document = {"a": "${ACCOUNT_ID}:${NOT_A_PLACEHOLDER}", "b": ["${REGION}"]}
    with pytest.raises(render.RenderError) as error:
        render.render(document, {"ACCOUNT_ID": "12345"})
    assert "unknown placeholder ${NOT_A_PLACEHOLDER}" in str(error.value)
    assert "REGION is not set" in str(error.value)
    assert "ACCOUNT_ID='12345' does not look like" in str(error.value)
    with pytest.raises(render.RenderError, match="LAKE_PREFIX"):
        render.render({"p": "${LAKE_PREFIX}x"}, {"LAKE_PREFIX": "lake"})  # no trailing '/'

    command = [sys.executable, str(DEPLOY / "render.py"), str(DEPLOY / "ecs/daemon.json")]
    done = subprocess.run(
        command, env={**os.environ, **deployment.values}, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == deployment.render("ecs/daemon.json")
    missing = {k: v for k, v in deployment.values.items() if k != "IMAGE"}
    done = subprocess.run(command, env=missing, capture_output=True, text=True)
    assert done.returncode == 2 and "IMAGE is not set" in done.stderr


def test_every_policy_statement_is_explained_in_the_readme() -> None:
    readme = (DEPLOY / "README.md").read_text()
    for path in sorted((DEPLOY / "iam").glob("*.json")):
        assert f"`{path.name}`" in readme
        for statement in json.loads(path.read_text())["Statement"]:
            assert f"`{statement['Sid']}`" in readme, (path.name, statement["Sid"])
