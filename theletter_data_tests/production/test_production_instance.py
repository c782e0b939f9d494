"""The top-level dagster.yaml as production loads it: PostgreSQL storage (a real server), queued
runs, one Fargate task per run launched through the ECS API (a moto server), compute logs in S3.
"""

from __future__ import annotations

import ast
import inspect
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import boto3
import dagster as dg
import pytest
import yaml
from dagster._core.run_coordinator import QueuedRunCoordinator
from dagster_aws.ecs import EcsRunLauncher
from dagster_aws.s3.compute_log_manager import S3ComputeLogManager
from dagster_postgres import PostgresRunStorage

from theletter_data.ecs_launcher import SizedEcsRunLauncher
from theletter_data.sizing import INGESTION, SNAPSHOT, WAREHOUSE_SQL
from theletter_data_tests.support.container_credentials import ContainerCredentials
from theletter_data_tests.support.dockerfile import image_environment
from theletter_data_tests.support.production_instance import (
    IMAGE,
    IMAGE_PYTHON,
    REGION,
    REPOSITORY_ROOT,
    create_run,
    launched_task,
)


@pytest.fixture
def instance(production_environment: dict[str, str]) -> Iterator[dg.DagsterInstance]:
    with dg.DagsterInstance.from_config(str(REPOSITORY_ROOT)) as instance:
        yield instance


def test_the_production_instance_is_postgres_queued_ecs_and_s3(instance) -> None:
    assert isinstance(instance.run_storage, PostgresRunStorage)
    assert isinstance(instance.run_coordinator, QueuedRunCoordinator)
    assert isinstance(instance.run_launcher, SizedEcsRunLauncher)
    assert isinstance(instance.compute_log_manager, S3ComputeLogManager)
    assert instance.run_retries_enabled and instance.run_retries_max_retries == 2
    assert instance.run_monitoring_enabled
    assert instance.run_monitoring_max_runtime_seconds == 3 * 3600
    assert instance.run_monitoring_max_resume_run_attempts == 0
    assert instance.get_concurrency_config().pool_config.default_pool_limit == 8
    run = create_run(instance, ["stg_email_events"])
    assert instance.get_run_by_id(run.run_id).asset_selection == {dg.AssetKey("stg_email_events")}


@pytest.mark.parametrize(
    ("assets", "size"),
    [
        (["stg_email_events", "newsletter_daily_traffic"], INGESTION),
        (["stg_subscriptions"], SNAPSHOT),
        (["newsletter_daily_traffic", "post_email_funnel"], WAREHOUSE_SQL),
    ],
)
def test_each_run_gets_one_fargate_task_sized_by_its_assets(instance, assets, size) -> None:
    env = production_environment_values()
    run = create_run(instance, assets)

    task = launched_task(instance, run)

    assert instance.get_run_by_id(run.run_id).tags["ecs/cpu"] == str(size.cpu)
    assert task["launchType"] == "FARGATE"
    assert (task["overrides"]["cpu"], task["overrides"]["memory"]) == (
        str(size.cpu),
        str(size.memory),
    )
    (container,) = task["overrides"]["containerOverrides"]
    assert container["name"] == "run"
    assert container["command"][:5] == [IMAGE_PYTHON, "-m", "dagster", "api", "execute_run"]
    assert run.run_id in " ".join(container["command"])
    definition = boto3.client("ecs").describe_task_definition(
        taskDefinition=task["taskDefinitionArn"]
    )["taskDefinition"]
    (run_container,) = definition["containerDefinitions"]
    assert run_container["image"] == IMAGE
    assert {s["name"] for s in run_container["secrets"]} == {
        "DAGSTER_PG_PASSWORD",
        "THELETTER_PSEUDONYM_KEY",
        "THELETTER_GCP_CREDENTIALS",
    }
    environment = {e["name"]: e["value"] for e in run_container["environment"]}
    assert environment["THELETTER_ENV"] == "production"
    assert "DAGSTER_PG_PASSWORD" not in environment
    assert definition["taskRoleArn"] == env["THELETTER_ECS_TASK_ROLE_ARN"]
    (interface,) = task["attachments"]
    subnet = next(d["value"] for d in interface["details"] if d["name"] == "subnetId")
    assert subnet in env["THELETTER_ECS_SUBNETS"].split(",")


def test_explicit_size_tags_win(instance) -> None:
    run = create_run(
        instance, ["stg_email_events"], tags={"ecs/cpu": "4096", "ecs/memory": "16384"}
    )
    task = launched_task(instance, run)
    assert (task["overrides"]["cpu"], task["overrides"]["memory"]) == ("4096", "16384")


def test_a_half_given_size_is_not_mixed_with_the_computed_one(instance) -> None:
    """`ecs/cpu` alone (256) beside an ingestion step's 8 GiB would be no Fargate combination:
    the run gets its steps' size whole."""
    run = create_run(instance, ["stg_email_events"], tags={"ecs/cpu": "256"})
    task = launched_task(instance, run)
    assert (task["overrides"]["cpu"], task["overrides"]["memory"]) == (
        str(INGESTION.cpu),
        str(INGESTION.memory),
    )
    assert instance.get_run_by_id(run.run_id).tags["ecs/cpu"] == str(INGESTION.cpu)


def test_the_launcher_sizes_runs_through_dagster_aws_s_hook() -> None:
    """Sizing goes through `get_cpu_and_memory_overrides`, the hook EcsRunLauncher offers for
    it; the launch itself is dagster-aws's, and the module imports no private Dagster module."""
    assert SizedEcsRunLauncher.launch_run is EcsRunLauncher.launch_run
    assert "get_cpu_and_memory_overrides" in vars(SizedEcsRunLauncher)
    source = Path(inspect.getfile(SizedEcsRunLauncher)).read_text()
    private = [
        node.module
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("dagster._")
    ]
    assert private == []


def test_the_launcher_checks_and_stops_the_task(instance) -> None:
    run = create_run(instance, ["newsletter_daily_traffic"])
    launched_task(instance, run)
    health = instance.run_launcher.check_run_worker_health(instance.get_run_by_id(run.run_id))
    assert health.status.name in {"RUNNING", "UNKNOWN"}
    assert instance.run_launcher.terminate(run.run_id)


def production_environment_values() -> dict[str, str]:
    import os

    return {k: v for k, v in os.environ.items() if k.startswith("THELETTER_")}


def test_the_app_database_settings_reach_runs_only_where_they_are_set(
    production_environment: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without THELETTER_APPDB_* the launcher passes nothing of them (and does not fail); with
    them, runs get the connection settings and the password's secret by ARN."""

    def run_container(instance: dg.DagsterInstance) -> dict:
        task = launched_task(instance, create_run(instance, ["stg_subscriptions"]))
        definition = boto3.client("ecs").describe_task_definition(
            taskDefinition=task["taskDefinitionArn"]
        )["taskDefinition"]
        (container,) = definition["containerDefinitions"]
        return container

    with dg.DagsterInstance.from_config(str(REPOSITORY_ROOT)) as instance:
        without = run_container(instance)
    assert not [e for e in without["environment"] if e["name"].startswith("THELETTER_APPDB")]
    assert "THELETTER_APPDB_PASSWORD" not in {s["name"] for s in without["secrets"]}

    arn = "arn:aws:secretsmanager:ap-northeast-1:123456789012:secret:appdb-AbCdEf"
    settings = {
        "THELETTER_APPDB_HOST": "app-replica.internal", "THELETTER_APPDB_PORT": "3306",
        "THELETTER_APPDB_USER": "theletter_extract", "THELETTER_APPDB_DATABASE": "app",
        "THELETTER_APPDB_PASSWORD_SECRET_ARN": arn,
    }  # fmt: skip
    for name, value in settings.items():
        monkeypatch.setenv(name, value)
    with dg.DagsterInstance.from_config(str(REPOSITORY_ROOT)) as instance:
        with_db = run_container(instance)
    environment = {e["name"]: e["value"] for e in with_db["environment"]}
    assert {k: environment[k] for k in settings if k in environment} == {
        k: v for k, v in settings.items() if not k.endswith("_SECRET_ARN")
    }
    secrets = {s["name"]: s["valueFrom"] for s in with_db["secrets"]}
    assert secrets["THELETTER_APPDB_PASSWORD"] == arn
    assert arn not in environment.values()


# --- the instance inside a run task ----------------------------------------------------------

# What Fargate itself sets in every container (platform 1.4), besides the task role's
# credentials endpoint (a local stand-in here: container_credentials.py).
FARGATE_VARIABLES = {
    "AWS_REGION": REGION,
    "AWS_DEFAULT_REGION": REGION,
    "AWS_EXECUTION_ENV": "AWS_ECS_FARGATE",
    "ECS_CONTAINER_METADATA_URI_V4": "http://169.254.170.2/v4/0f1e2d3c",
}
IMAGE_PATH = "/usr/local/bin:/usr/local/sbin:/usr/sbin:/usr/bin:/sbin:/bin"  # python:3.11-slim

LOAD_THE_INSTANCE = """
import json
import dagster as dg
with dg.DagsterInstance.get() as instance:
    launcher = instance.run_launcher
    print(json.dumps({
        "launcher": type(launcher).__name__,
        "supports_resume_run": launcher.supports_resume_run,
        "max_resume_run_attempts": instance.run_monitoring_max_resume_run_attempts,
    }))
"""


def run_task_environment(task: dict, credentials: ContainerCredentials) -> dict[str, str]:
    """Exactly what a run's container sees: the image's ENV, Fargate's variables (the task
    role's credentials endpoint among them), the run task definition's environment, its
    secrets (fetched by ARN, as ECS does) and RunTask's container overrides."""
    ecs, secrets = boto3.client("ecs"), boto3.client("secretsmanager")
    definition = ecs.describe_task_definition(taskDefinition=task["taskDefinitionArn"])[
        "taskDefinition"
    ]
    (container,) = definition["containerDefinitions"]
    (overrides,) = task["overrides"]["containerOverrides"]
    return {
        "PATH": IMAGE_PATH,
        **image_environment(),
        **FARGATE_VARIABLES,
        **credentials.environment,
        **{e["name"]: e["value"] for e in container.get("environment", [])},
        **{
            s["name"]: secrets.get_secret_value(SecretId=s["valueFrom"])["SecretString"]
            for s in container.get("secrets", [])
        },
        **{e["name"]: e["value"] for e in overrides.get("environment", [])},
    }


def load_instance_in(environment: dict[str, str], home: Path, instance_yaml: str) -> dict:
    """Load the instance in a fresh process with exactly `environment`, its DAGSTER_HOME
    holding `instance_yaml` (the image copies dagster.yaml there)."""
    home.mkdir(parents=True, exist_ok=True)
    (home / "dagster.yaml").write_text(instance_yaml)
    result = subprocess.run(
        [sys.executable, "-c", LOAD_THE_INSTANCE],
        env={**environment, "DAGSTER_HOME": str(home)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_a_run_task_loads_the_instance_and_its_run_launcher(
    instance, container_credentials: ContainerCredentials, tmp_path: Path
) -> None:
    """A run worker loads dagster.yaml too: run monitoring's resume (and anything else that
    asks for the instance's run launcher) needs the launcher's configuration to resolve in
    the run task, from the environment the launcher gave that task and nothing else."""
    task = launched_task(instance, create_run(instance, ["newsletter_daily_traffic"]))
    environment = run_task_environment(task, container_credentials)
    assert not {k for k in environment if k.startswith("AWS_ACCESS") or k == "AWS_ENDPOINT_URL"}
    instance_yaml = (REPOSITORY_ROOT / "dagster.yaml").read_text()

    loaded = load_instance_in(environment, tmp_path / "home", instance_yaml)

    assert loaded["launcher"] == "SizedEcsRunLauncher"
    assert loaded["supports_resume_run"]
    # Resume can be turned on: with it, the instance builds its run launcher as it starts.
    resuming = yaml.safe_load(instance_yaml)
    resuming["run_monitoring"]["max_resume_run_attempts"] = 1
    loaded = load_instance_in(environment, tmp_path / "resume", yaml.safe_dump(resuming))
    assert loaded["max_resume_run_attempts"] == 1

    # The check can fail: a variable the launcher's configuration needs, missing in the task.
    missing = {k: v for k, v in environment.items() if k != "THELETTER_ECS_CLUSTER"}
    with pytest.raises(AssertionError, match='"THELETTER_ECS_CLUSTER" which is not set'):
        load_instance_in(missing, tmp_path / "missing", instance_yaml)
