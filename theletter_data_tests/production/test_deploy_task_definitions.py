"""The services' task definitions, registered on ECS (moto): small Fargate tasks whose commands the
installed Dagster CLI accepts, secrets only by ARN, and in each process exactly the variables the
production instance (dagster.yaml) reads; the workspace that finds the code server; and, with the
code server's environment, every job plans.
The deployment on moto, its fixtures and helpers: support/moto_deployment.py.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from typing import Any

import pytest
import yaml
from dagster._cli.api import grpc_health_check_command
from dagster._cli.code_server import start_command
from dagster._core.remote_origin import GrpcServerCodeLocationOrigin
from dagster._core.workspace.config_schema import process_workspace_config
from dagster._core.workspace.load import location_origins_from_yaml_paths
from dagster._daemon.cli import run_command
from dagster_webserver.cli import dagster_webserver

from theletter_data_tests.support.iam_policy import ACCOUNT
from theletter_data_tests.support.moto_deployment import (
    DEPLOY,
    ROOT,
    SERVICES,
    Deployment,
    container,
    environment,
    secrets,
)
from theletter_data_tests.support.production_instance import IMAGE, REGION

IMAGE_WORKDIR = "/opt/theletter"  # WORKDIR of the Dockerfile: the repository's root in the image
SECRET_VARIABLES = ("DAGSTER_PG_PASSWORD", "THELETTER_PSEUDONYM_KEY", "THELETTER_GCP_CREDENTIALS")
ALERT_SECRET = "THELETTER_SLACK_WEBHOOK_URL"  # the code server's sensors post alerts
FIXED_VARIABLES = {
    "THELETTER_ENV",
    "THELETTER_LAKE_URL",
    "THELETTER_BIGQUERY_PROJECT",
    "THELETTER_BIGQUERY_LOCATION",
    "THELETTER_BIGQUERY_DATASET_PREFIX",
    "THELETTER_BIGQUERY_MAXIMUM_BYTES_BILLED",
    "DAGSTER_PG_HOST",
    "DAGSTER_PG_PORT",
    "DAGSTER_PG_DB",
    "DAGSTER_PG_USERNAME",
    "THELETTER_COMPUTE_LOG_BUCKET",
    "THELETTER_ECS_CLUSTER",
    "THELETTER_ECS_SUBNETS",
    "THELETTER_ECS_SECURITY_GROUPS",
    "THELETTER_ECS_LOG_GROUP",
    "THELETTER_ECS_EXECUTION_ROLE_ARN",
    "THELETTER_ECS_TASK_ROLE_ARN",
    "DAGSTER_PG_PASSWORD_SECRET_ARN",
    "THELETTER_PSEUDONYM_KEY_SECRET_ARN",
    "THELETTER_GCP_CREDENTIALS_SECRET_ARN",
    # Alerts, sent by the sensors in the code server.
    "THELETTER_DAGSTER_UI_URL",
    # Dagster's own: the code server tells runs which image to use.
    "DAGSTER_CURRENT_IMAGE",
}
FARGATE_SIZES = {256: {512, 1024, 2048}, 512: {1024, 2048, 3072, 4096}}


COMMANDS = {
    "code-server": (
        ["dagster", "code-server", "start"],
        start_command,
        {"host": "0.0.0.0", "port": 4000, "module_name": "theletter_data.definitions"},
    ),
    "webserver": (
        ["dagster-webserver"],
        dagster_webserver,
        {"host": "0.0.0.0", "port": 3000, "workspace": (str(DEPLOY / "workspace.yaml"),)},
    ),
    "daemon": (
        ["dagster-daemon", "run"],
        run_command,
        {"workspace": (str(DEPLOY / "workspace.yaml"),)},
    ),
}


@pytest.mark.parametrize("service", SERVICES)
def test_each_service_registers_on_ecs_as_a_small_fargate_task(
    service: str, deployment: Deployment, task_definitions: dict[str, dict[str, Any]]
) -> None:
    definition = task_definitions[service]
    values = deployment.values
    assert definition["family"] == f"theletter-data-{service}"
    assert definition["requiresCompatibilities"] == ["FARGATE"]
    assert definition["networkMode"] == "awsvpc"
    assert int(definition["memory"]) in FARGATE_SIZES[int(definition["cpu"])]
    roles = f"arn:aws:iam::{ACCOUNT}:role/theletter-data-"
    assert definition["executionRoleArn"] == f"{roles}{service}-execution"
    assert definition["taskRoleArn"] == f"{roles}{service}"

    c = container(definition)
    assert c["name"] == service and c["essential"]
    assert c["image"] == IMAGE
    assert c["logConfiguration"] == {
        "logDriver": "awslogs",
        "options": {
            "awslogs-group": values["LOG_GROUP"],
            "awslogs-region": REGION,
            "awslogs-stream-prefix": service,
        },
    }
    # The command is one the installed Dagster CLI accepts, with the image's paths.
    program, command, expected = COMMANDS[service]
    line = c["command"]
    if service == "code-server":  # under a stop guard that ends before ECS's SIGKILL
        kill_after = int(line[1].removeprefix("--kill-after="))
        assert line[:3] == ["timeout", f"--kill-after={kill_after}", "0"]
        assert kill_after < c["stopTimeout"]
        line = line[3:]
    assert line[: len(program)] == program
    args = [a.replace(IMAGE_WORKDIR, str(ROOT)) for a in line[len(program) :]]
    parsed = command.make_context(program[-1], args).params
    assert {k: parsed[k] for k in expected} == expected
    ports = [(p["containerPort"], p["protocol"]) for p in c.get("portMappings", [])]
    assert ports == {"code-server": [(4000, "tcp")], "webserver": [(3000, "tcp")]}.get(service, [])

    # Explicit, never ECS's default: SIGTERM, then SIGKILL this many seconds later (Fargate
    # allows up to 120). test_service_stop.py stops the code server well within it.
    assert c["stopTimeout"] == {"code-server": 30, "webserver": 30, "daemon": 60}[service]
    check = c["healthCheck"]["command"]
    assert check[0] == "CMD" and c["healthCheck"]["startPeriod"] <= 300
    if service == "code-server":
        assert check[1:4] == ["dagster", "api", "grpc-health-check"]
        grpc_health_check_command.make_context("grpc-health-check", check[4:])
        assert check[4:] == ["-p", "4000"]
    elif service == "webserver":
        assert check[1:3] == ["python", "-c"] and "127.0.0.1:3000/server_info" in check[3]
        compile(check[3], "healthcheck", "exec")
    else:
        assert check[1:] == ["dagster-daemon", "liveness-check"]

    # Secrets only by ARN, never a value in the environment or anywhere in the definition.
    env = environment(definition)
    expected = {"DAGSTER_PG_PASSWORD": values["PG_PASSWORD_SECRET_ARN"]}
    if service == "code-server":  # its sensors post alerts; it plans runs (resolving their keys)
        expected["THELETTER_SLACK_WEBHOOK_URL"] = values["SLACK_WEBHOOK_SECRET_ARN"]
        expected["THELETTER_PSEUDONYM_KEY"] = values["PSEUDONYM_KEY_SECRET_ARN"]
        expected["THELETTER_GCP_CREDENTIALS"] = values["GCP_CREDENTIALS_SECRET_ARN"]
    assert secrets(definition) == expected
    assert not {*SECRET_VARIABLES, ALERT_SECRET} & set(env)
    text = json.dumps(definition)
    assert not [s for s in deployment.secret_strings if s in text]


def test_the_code_server_command_is_the_image_cmd_and_runs_use_its_image(
    task_definitions: dict[str, dict[str, Any]],
) -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    cmd = re.search(r"^CMD (\[.*?\])\s*$", dockerfile.replace("\\\n", ""), re.M | re.S)
    assert cmd and json.loads(cmd.group(1)) == container(task_definitions["code-server"])["command"]
    assert re.search(rf"^WORKDIR {IMAGE_WORKDIR}$", dockerfile, re.M)
    assert environment(task_definitions["code-server"])["DAGSTER_CURRENT_IMAGE"] == IMAGE


def test_the_image_holds_the_workspace_the_webserver_and_daemon_load() -> None:
    """The task definitions load /opt/theletter/deploy/workspace.yaml: the Dockerfile must copy
    it there, e.g. `COPY deploy/workspace.yaml ./deploy/`."""
    dockerfile = (ROOT / "Dockerfile").read_text()
    copies = [c.split() for c in re.findall(r"^COPY (?!--)(.+)$", dockerfile, re.M)]

    def places(sources: list[str], dest: str) -> bool:
        """Whether `COPY sources dest` puts the file at deploy/workspace.yaml of the WORKDIR."""
        if dest.startswith(IMAGE_WORKDIR):
            dest = dest[len(IMAGE_WORKDIR) :].lstrip("/")
        dest = "" if dest in {".", "./"} else dest.removeprefix("./")
        if {".", "./"} & set(sources):  # the whole context
            return dest == ""
        if {"deploy", "deploy/"} & set(sources):  # the folder's contents
            return dest.rstrip("/") == "deploy"
        return "deploy/workspace.yaml" in sources and dest in {"deploy/", "deploy/workspace.yaml"}

    assert any(places(c[:-1], c[-1]) for c in copies), copies


def test_environment_names_are_the_fixed_ones(task_definitions: dict[str, dict[str, Any]]) -> None:
    for service, definition in task_definitions.items():
        assert set(environment(definition)) <= FIXED_VARIABLES, service
        assert set(secrets(definition)) <= {*SECRET_VARIABLES, ALERT_SECRET}, service


def _env_references(value: Any) -> set[str]:
    if isinstance(value, Mapping):
        if set(value) == {"env"}:
            return {value["env"]}
        return set().union(set(), *(_env_references(v) for v in value.values()))
    if isinstance(value, list):
        return set().union(set(), *(_env_references(v) for v in value))
    return set()


def test_each_process_has_what_the_production_instance_reads(
    deployment: Deployment, task_definitions: dict[str, dict[str, Any]]
) -> None:
    """dagster.yaml's `{env: ...}` values must be set where each part is loaded: storage and
    compute logs everywhere (the code server builds the instance from the daemon's reference
    for sensor and schedule logs), the run launcher in the daemon (launches) and the webserver
    (terminates), the variables the launcher forwards to runs in the daemon; and the whole
    file in run tasks, which get only what the launcher forwards (env_vars, secrets)."""
    instance = yaml.safe_load((ROOT / "dagster.yaml").read_text())
    everywhere = _env_references(instance["storage"]) | _env_references(instance["compute_logs"])
    launcher = _env_references(instance["run_launcher"])
    forwarded = set(instance["run_launcher"]["config"]["env_vars"])
    run_secrets = {s["name"] for s in instance["run_launcher"]["config"]["secrets"]}
    provided = {s: set(environment(d)) | set(secrets(d)) for s, d in task_definitions.items()}
    assert everywhere <= provided["code-server"]
    assert everywhere | launcher <= provided["webserver"]
    assert everywhere | launcher | forwarded <= provided["daemon"]
    assert _env_references(instance) <= forwarded | run_secrets
    assert not {n for n in provided["code-server"] if n.startswith("THELETTER_ECS_")}

    daemon = environment(task_definitions["daemon"])
    assert daemon["THELETTER_ECS_SUBNETS"].split(",") == [
        deployment.values["SUBNET_1"],
        deployment.values["SUBNET_2"],
    ]
    assert daemon["THELETTER_ECS_SECURITY_GROUPS"] == deployment.values["RUN_SG"]
    assert daemon["THELETTER_LAKE_URL"] == f"s3://{deployment.values['LAKE_BUCKET']}/lake/"
    for service in ("code-server", "webserver"):
        shared = set(environment(task_definitions[service])) & set(daemon)
        assert {n: daemon[n] for n in shared} == {
            n: environment(task_definitions[service])[n] for n in shared
        }


def test_the_readme_documents_every_variable_the_deployment_sets_or_reads(
    task_definitions: dict[str, dict[str, Any]],
) -> None:
    """The README's environment table names every variable dagster.yaml reads (`env:`, the
    launcher's forwarded and optional variables and secrets, `value_from_env`) and every one a
    task definition sets."""
    instance = yaml.safe_load((ROOT / "dagster.yaml").read_text())
    launcher = instance["run_launcher"]["config"]
    names = _env_references(instance) | set(launcher["env_vars"])
    names |= set(launcher.get("optional_env_vars", []))
    for key in ("secrets", "optional_secrets"):
        names |= {s["name"] for s in launcher.get(key, [])}
    names |= {s["value_from_env"] for s in launcher.get("optional_secrets", [])}
    for definition in task_definitions.values():
        names |= set(environment(definition)) | set(secrets(definition))
    readme = (ROOT / "README.md").read_text()
    table = readme.split("\n## Environments and configuration")[1].split("\n## ")[0]
    assert "THELETTER_APPDB_PASSWORD_SECRET_ARN" in names
    assert sorted(n for n in names if f"`{n}`" not in table) == []


def test_the_workspace_points_at_the_code_server_by_its_cloud_map_name(
    deployment: Deployment,
) -> None:
    path = DEPLOY / "workspace.yaml"
    assert process_workspace_config(yaml.safe_load(path.read_text())).success
    (origin,) = location_origins_from_yaml_paths([str(path)])
    assert isinstance(origin, GrpcServerCodeLocationOrigin)
    assert origin.host == f"{deployment.discovery_service}.{deployment.namespace}"
    assert origin.port == 4000
    pyproject = (ROOT / "pyproject.toml").read_text()
    assert f'code_location_name = "{origin.location_name}"' in pyproject


def test_code_server_plans_every_job(
    task_definitions: dict[str, dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The code server plans each run before the daemon launches it (the execution plan stored
    with the run), and Dagster resolves every resource's EnvVar settings when it plans. With
    exactly the code server's task environment and secrets, every job, the asset job of the
    sensors, automation and backfills included, must plan; before its task got the pseudonym
    key, every staging job failed here: "THELETTER_PSEUDONYM_KEY ... is not set"."""
    from dagster._core.execution.api import create_execution_plan

    from theletter_data.definitions import build_definitions
    from theletter_data.settings import load_settings

    definition = task_definitions["code-server"]
    for name in [n for n in os.environ if n.startswith(("THELETTER_", "DAGSTER_PG"))]:
        monkeypatch.delenv(name)
    for name, value in environment(definition).items():
        monkeypatch.setenv(name, value)
    for name in secrets(definition):  # a value of the secret's shape, as ECS would inject it
        monkeypatch.setenv(name, "a-strong-test-secret-4f9c2e7d")
    repository = build_definitions(load_settings()).get_repository_def()
    jobs = repository.get_all_jobs()
    assert {"daily_refresh", "intraday_refresh", "__ASSET_JOB"} <= {j.name for j in jobs}
    for job in jobs:
        assert create_execution_plan(job, run_config={}).step_keys_to_execute, job.name
