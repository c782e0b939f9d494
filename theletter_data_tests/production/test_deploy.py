"""deploy/ checked against real-protocol servers and the installed Dagster, not by eye.

Every template is rendered with deploy/render.py from values of resources created on a moto
server (VPC, subnets, security groups, secrets, ECR repository, log group, Cloud Map service,
ALB, certificate), then: the task definitions are registered on ECS and the services created;
the target group and listeners are created on ELBv2; every policy is created on IAM and attached
to its role. Least privilege is checked three ways: statically against AWS's own action and
resource data (the copy cfn-lint ships), by recording the AWS calls Dagster's real run launcher
and S3 compute-log manager make and evaluating each against the policy of the process that makes
it (a small evaluator of the policy grammar these files use), and by requests that must be
refused. What moto and the evaluator cannot prove (AWS's own authorization, Fargate itself) is
listed in deploy/README.md.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import subprocess
import sys
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import boto3
import cfnlint
import dagster as dg
import pytest
import yaml
from dagster._cli.api import grpc_health_check_command
from dagster._cli.code_server import start_command
from dagster._core.launcher import LaunchRunContext
from dagster._core.remote_origin import GrpcServerCodeLocationOrigin
from dagster._core.storage.compute_log_manager import ComputeIOType
from dagster._core.workspace.config_schema import process_workspace_config
from dagster._core.workspace.load import location_origins_from_yaml_paths
from dagster._daemon.cli import run_command
from dagster._serdes import ConfigurableClassData
from dagster_aws.ecs.utils import get_task_logs
from dagster_aws.s3.compute_log_manager import S3ComputeLogManager
from dagster_webserver.cli import dagster_webserver

from theletter_data_tests.support.iam_policy import (
    ACCOUNT,
    Recorder,
    allows,
    as_list,
    iam_requests,
    refused,
)
from theletter_data_tests.support.production_instance import IMAGE, REGION, create_run

ROOT = Path(__file__).parents[2]
DEPLOY = ROOT / "deploy"
IMAGE_WORKDIR = "/opt/theletter"  # WORKDIR of the Dockerfile: the repository's root in the image
SERVICES = ("code-server", "webserver", "daemon")
ROLE_OF_POLICY = {
    # One execution role per service and one for run tasks: each reads only its own secrets.
    "code-server-execution-role": "theletter-data-code-server-execution",
    "webserver-execution-role": "theletter-data-webserver-execution",
    "daemon-execution-role": "theletter-data-daemon-execution",
    "run-execution-role": "theletter-data-run-execution",
    "code-server-task-role": "theletter-data-code-server",
    "webserver-task-role": "theletter-data-webserver",
    "daemon-task-role": "theletter-data-daemon",
    "run-task-role": "theletter-data-run",
    "github-deploy-role": "theletter-data-github-deploy",
    # Attached besides the run and execution roles' own where the app database is read.
    "appdb-extract-run-role": "theletter-data-run",
    "appdb-extract-execution-role": "theletter-data-run-execution",
}
EXECUTION_POLICIES = tuple(  # each execution role's own policy
    p for p in ROLE_OF_POLICY if p.endswith("-execution-role") and not p.startswith("appdb-")
)
TRUST_OF_POLICY = {
    **{p: "execution-role-trust.json" for p in EXECUTION_POLICIES},
    "github-deploy-role": "github-oidc-trust.json",
}
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
UNSCOPABLE_ACTIONS = {
    # AWS defines no resource type for these two: a statement must say "Resource": "*".
    "ecr:GetAuthorizationToken",
    "ecs:DescribeTaskDefinition",
}
FARGATE_SIZES = {256: {512, 1024, 2048}, 512: {1024, 2048, 3072, 4096}}


def _load_module(name: str) -> Any:
    """A script of deploy/ (not a package) as a module."""
    spec = importlib.util.spec_from_file_location(f"deploy_{Path(name).stem}", DEPLOY / name)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


render = _load_module("render.py")


def template(relative: str) -> Any:
    return json.loads((DEPLOY / relative).read_text())


def all_templates() -> list[str]:
    return sorted(str(p.relative_to(DEPLOY)) for p in DEPLOY.rglob("*.json"))


# --- the deployment on moto ----------------------------------------------------------------


@dataclass
class Deployment:
    endpoint: str
    values: dict[str, str]
    secret_strings: list[str]
    namespace: str
    discovery_service: str
    repository_arn: str
    log_group_arn: str
    created_roles: dict[str, str] = field(default_factory=dict)

    def client(self, service: str) -> Any:
        return boto3.client(
            service,
            endpoint_url=self.endpoint,
            region_name=REGION,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )

    def render(self, relative: str) -> Any:
        return render.render(template(relative), self.values)


@pytest.fixture(scope="module")
def deployment(moto_endpoint: str) -> Deployment:
    name = f"theletter-{uuid.uuid4().hex[:8]}"
    d = Deployment(moto_endpoint, {}, [], "", "", "", "")
    ec2 = d.client("ec2")
    vpc = ec2.create_vpc(CidrBlock="10.20.0.0/16")["Vpc"]["VpcId"]
    ec2.modify_vpc_attribute(VpcId=vpc, EnableDnsHostnames={"Value": True})  # moto: task ENIs
    subnets = [
        ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.20.{i}.0/24", AvailabilityZone=f"{REGION}{z}")[
            "Subnet"
        ]["SubnetId"]
        for i, z in ((1, "a"), (2, "c"))
    ]
    groups = {
        role: ec2.create_security_group(GroupName=f"{name}-{role}", Description=role, VpcId=vpc)[
            "GroupId"
        ]
        for role in ("code-server", "webserver", "daemon", "run", "alb", "rds")
    }
    d.client("ecs").create_cluster(clusterName=name)
    d.repository_arn = d.client("ecr").create_repository(repositoryName=f"{name}/data")[
        "repository"
    ]["repositoryArn"]
    logs = d.client("logs")
    logs.create_log_group(logGroupName=f"/ecs/{name}")
    (group,) = logs.describe_log_groups(logGroupNamePrefix=f"/ecs/{name}")["logGroups"]
    d.log_group_arn = group["arn"]
    secrets = d.client("secretsmanager")
    d.secret_strings = [f"secret-{uuid.uuid4().hex}" for _ in range(4)]
    pg, key, gcp, slack = (
        secrets.create_secret(Name=f"{name}/{n}", SecretString=s)["ARN"]
        for n, s in zip(("pg", "pseudonym", "gcp", "slack"), d.secret_strings, strict=True)
    )
    s3 = d.client("s3")
    for bucket in (f"{name}-lake", f"{name}-logs"):
        s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": REGION})
    # Cloud Map: the code server's DNS name is <service>.<namespace>.
    discovery = d.client("servicediscovery")
    d.namespace = "theletter.internal"
    discovery.create_private_dns_namespace(Name=d.namespace, Vpc=vpc)
    namespace_id = next(
        n["Id"] for n in discovery.list_namespaces()["Namespaces"] if n["Name"] == d.namespace
    )
    d.discovery_service = "code-server"
    registry = discovery.create_service(
        Name=d.discovery_service,
        NamespaceId=namespace_id,
        DnsConfig={"DnsRecords": [{"Type": "A", "TTL": 10}], "RoutingPolicy": "MULTIVALUE"},
        HealthCheckCustomConfig={"FailureThreshold": 1},
    )["Service"]["Arn"]
    certificate = d.client("acm").request_certificate(DomainName="data.theletter.example")[
        "CertificateArn"
    ]
    alb = d.client("elbv2").create_load_balancer(
        Name=name, Subnets=subnets, SecurityGroups=[groups["alb"]], Type="application"
    )["LoadBalancers"][0]["LoadBalancerArn"]
    d.values = {
        "ACCOUNT_ID": ACCOUNT,
        "REGION": REGION,
        "IMAGE": IMAGE,
        "ECR_REPOSITORY": f"{name}/data",
        "GITHUB_REPOSITORY": "theletter/theletter-data",
        "CLUSTER": name,
        "LOG_GROUP": f"/ecs/{name}",
        "SUBNET_1": subnets[0],
        "SUBNET_2": subnets[1],
        "CODE_SERVER_SG": groups["code-server"],
        "WEBSERVER_SG": groups["webserver"],
        "DAEMON_SG": groups["daemon"],
        "RUN_SG": groups["run"],
        "CODE_SERVER_DISCOVERY_ARN": registry,
        "VPC_ID": vpc,
        "ALB_ARN": alb,
        "CERTIFICATE_ARN": certificate,
        "OIDC_CLIENT_ID": "1234567890-abcdef.apps.googleusercontent.com",
        "OIDC_CLIENT_SECRET": "GOCSPX-test-client-secret",
        "PG_HOST": f"{name}.abcdefghijkl.{REGION}.rds.amazonaws.com",
        "PG_DB": "dagster",
        "PG_USERNAME": "dagster",
        "PG_PASSWORD_SECRET_ARN": pg,
        "PSEUDONYM_KEY_SECRET_ARN": key,
        "GCP_CREDENTIALS_SECRET_ARN": gcp,
        "SLACK_WEBHOOK_SECRET_ARN": slack,
        "DAGSTER_UI_URL": "https://dagster.theletter.example",
        "LAKE_BUCKET": f"{name}-lake",
        "LAKE_PREFIX": "lake/",
        "COMPUTE_LOG_BUCKET": f"{name}-logs",
        "BIGQUERY_PROJECT": "theletter-data",
        "BIGQUERY_LOCATION": "asia-northeast1",
        "BIGQUERY_DATASET_PREFIX": "theletter_",
        "BIGQUERY_MAXIMUM_BYTES_BILLED": str(50 * 2**30),
        "DB_SUBNET_GROUP": f"{name}-db",
        "RDS_SG": groups["rds"],
    }
    d.values["APPDB_PASSWORD_SECRET_ARN"] = secrets.create_secret(
        Name=f"{name}/appdb", SecretString=f"secret-{uuid.uuid4().hex}"
    )["ARN"]
    d.client("rds").create_db_subnet_group(
        DBSubnetGroupName=f"{name}-db", DBSubnetGroupDescription="private", SubnetIds=subnets
    )
    target_group = d.client("elbv2").create_target_group(**d.render("alb/target-group.json"))
    d.values["TARGET_GROUP_ARN"] = target_group["TargetGroups"][0]["TargetGroupArn"]
    return d


@pytest.fixture(scope="module")
def task_definitions(deployment: Deployment) -> dict[str, dict[str, Any]]:
    """Each service's task definition, rendered and registered; as ECS describes it back."""
    ecs = deployment.client("ecs")
    registered = {}
    for service in SERVICES:
        arn = ecs.register_task_definition(**deployment.render(f"ecs/{service}.json"))[
            "taskDefinition"
        ]["taskDefinitionArn"]
        registered[service] = ecs.describe_task_definition(taskDefinition=arn)["taskDefinition"]
    return registered


@pytest.fixture(scope="module")
def policies(deployment: Deployment) -> dict[str, dict[str, Any]]:
    return {name: deployment.render(f"iam/{name}.json") for name in ROLE_OF_POLICY}


def container(task_definition: Mapping[str, Any]) -> dict[str, Any]:
    (only,) = task_definition["containerDefinitions"]
    return only


def environment(task_definition: Mapping[str, Any]) -> dict[str, str]:
    return {e["name"]: e["value"] for e in container(task_definition).get("environment", [])}


def secrets(task_definition: Mapping[str, Any]) -> dict[str, str]:
    return {s["name"]: s["valueFrom"] for s in container(task_definition).get("secrets", [])}


# --- rendering and documentation -----------------------------------------------------------


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


# --- task definitions ----------------------------------------------------------------------

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


# --- services and the load balancer --------------------------------------------------------


def test_the_services_and_the_authenticated_listener_create(
    deployment: Deployment, task_definitions: dict[str, dict[str, Any]]
) -> None:
    ecs, elbv2 = deployment.client("ecs"), deployment.client("elbv2")
    created = {
        s: ecs.create_service(**deployment.render(f"ecs/services/{s}.json"))["service"]
        for s in SERVICES
    }
    assert all(s["launchType"] == "FARGATE" for s in created.values())
    # Two webservers behind the load balancer; one code server and exactly one daemon, which
    # ECS replaces when they die.
    assert {s: c["desiredCount"] for s, c in created.items()} == {
        "code-server": 1, "webserver": 2, "daemon": 1,
    }  # fmt: skip
    daemon = deployment.render("ecs/services/daemon.json")["deploymentConfiguration"]
    assert (daemon["maximumPercent"], daemon["minimumHealthyPercent"]) == (100, 0)  # never two
    assert created["code-server"]["serviceRegistries"] == [
        {"registryArn": deployment.values["CODE_SERVER_DISCOVERY_ARN"]}
    ]
    (balancer,) = created["webserver"]["loadBalancers"]
    assert (balancer["containerName"], balancer["containerPort"]) == ("webserver", 3000)
    assert balancer["targetGroupArn"] == deployment.values["TARGET_GROUP_ARN"]
    for service, s in created.items():
        network = s["networkConfiguration"]["awsvpcConfiguration"]
        assert network["assignPublicIp"] == "DISABLED"
        assert network["securityGroups"] == [
            deployment.values[f"{service.upper().replace('-', '_')}_SG"]
        ]

    (group,) = elbv2.describe_target_groups(
        TargetGroupArns=[deployment.values["TARGET_GROUP_ARN"]]
    )["TargetGroups"]
    assert (group["TargetType"], group["Port"], group["HealthCheckPath"]) == (
        "ip",
        3000,
        "/server_info",
    )
    https = elbv2.create_listener(**deployment.render("alb/https-listener.json"))["Listeners"][0]
    first, second = sorted(https["DefaultActions"], key=lambda a: a["Order"])
    assert first["Type"] == "authenticate-oidc"
    assert first["AuthenticateOidcConfig"]["OnUnauthenticatedRequest"] == "authenticate"
    assert second == {
        "Type": "forward",
        "Order": 2,
        "TargetGroupArn": deployment.values["TARGET_GROUP_ARN"],
    }
    http = elbv2.create_listener(**deployment.render("alb/http-redirect-listener.json"))
    (redirect,) = http["Listeners"][0]["DefaultActions"]
    assert redirect["RedirectConfig"]["Protocol"] == "HTTPS"


# --- IAM -----------------------------------------------------------------------------------


@cache
def aws_actions() -> dict[str, Any]:
    """AWS's actions, resource types and ARN formats, as cfn-lint ships them."""
    data = Path(cfnlint.__file__).parent / "data" / "AdditionalSpecs" / "Policies.json"
    return json.loads(data.read_text())


def resource_types(action: str) -> list[str] | None:
    """The resource types an action can be scoped to; None when AWS knows no such action."""
    service, name = action.lower().split(":")
    known = aws_actions().get(service, {}).get("Actions", {})
    return known[name].get("Resources", []) if name in known else None


def test_iam_accepts_every_policy_on_its_role(
    deployment: Deployment,
    policies: dict[str, dict[str, Any]],
    task_definitions: dict[str, dict[str, Any]],
) -> None:
    iam = deployment.client("iam")
    suffix = deployment.values["CLUSTER"]
    iam.create_open_id_connect_provider(
        Url="https://token.actions.githubusercontent.com",
        ClientIDList=["sts.amazonaws.com"],
        ThumbprintList=["0" * 40],
    )
    for name, role in ROLE_OF_POLICY.items():
        trust = TRUST_OF_POLICY.get(name, "task-role-trust.json")
        created = (
            deployment.created_roles.get(role)
            or iam.create_role(
                RoleName=role,
                AssumeRolePolicyDocument=json.dumps(deployment.render(f"iam/{trust}")),
            )["Role"]["Arn"]
        )
        arn = iam.create_policy(
            PolicyName=f"{name}-{suffix}", PolicyDocument=json.dumps(policies[name])
        )["Policy"]["Arn"]
        iam.attach_role_policy(RoleName=role, PolicyArn=arn)
        stored = iam.get_policy_version(PolicyArn=arn, VersionId="v1")["PolicyVersion"]
        assert stored["Document"] == policies[name]
        deployment.created_roles[role] = created
    # Every role a task definition names exists, with its own policy.
    for service, definition in task_definitions.items():
        assert definition["taskRoleArn"] == deployment.created_roles[f"theletter-data-{service}"]
        assert (
            definition["executionRoleArn"]
            == deployment.created_roles[f"theletter-data-{service}-execution"]
        )
    daemon = environment(task_definitions["daemon"])
    assert daemon["THELETTER_ECS_TASK_ROLE_ARN"] == deployment.created_roles["theletter-data-run"]
    assert (
        daemon["THELETTER_ECS_EXECUTION_ROLE_ARN"]
        == deployment.created_roles["theletter-data-run-execution"]
    )


def test_policies_name_real_actions_and_scope_every_action_that_can_be(
    policies: dict[str, dict[str, Any]],
) -> None:
    wildcard_resource_actions = set()
    for name, policy in policies.items():
        for statement in policy["Statement"]:
            assert statement["Effect"] == "Allow" and set(statement) <= {
                "Sid",
                "Effect",
                "Action",
                "Resource",
                "Condition",
            }, (name, statement)  # no NotAction / NotResource / Principal
            actions, resources = as_list(statement["Action"]), as_list(statement["Resource"])
            for action in actions:
                assert "*" not in action, (name, action)
                types = resource_types(action)
                assert types is not None, f"{action} is not an AWS action"
                if "*" in resources:
                    assert resources == ["*"] and action in UNSCOPABLE_ACTIONS, (name, action)
                    wildcard_resource_actions.add(action)
                else:
                    assert types, f"{action} has no resource types: it needs Resource '*'"
                    _assert_arn_formats(action, types, resources)
    assert wildcard_resource_actions == UNSCOPABLE_ACTIONS
    assert all(resource_types(a) == [] for a in UNSCOPABLE_ACTIONS)


def _assert_arn_formats(action: str, types: list[str], resources: list[str]) -> None:
    service = action.split(":")[0].lower()
    known = {k.lower(): v for k, v in aws_actions()[service]["Resources"].items()}
    formats = [
        f.replace("${Partition}", "aws").replace("${Region}", REGION).replace("${Account}", ACCOUNT)
        for t in types
        for f in known[t.lower()]["ARNFormats"]
    ]
    for resource in resources:
        sample = resource.replace("*", "x")
        assert any(re.fullmatch(f, sample) for f in formats), (action, resource, formats)


def test_pass_role_is_for_ecs_tasks_and_the_roles_each_launches_only(
    policies: dict[str, dict[str, Any]],
) -> None:
    passing = {
        name: statement
        for name, policy in policies.items()
        for statement in policy["Statement"]
        if any(a.lower().startswith("iam:") for a in as_list(statement["Action"]))
    }
    assert set(passing) == {"daemon-task-role", "github-deploy-role"}
    services = [f"theletter-data-{s}" for s in SERVICES]
    for name, passed in (
        ("daemon-task-role", ["theletter-data-run"]),
        ("github-deploy-role", services),  # the services' roles, never the run role
    ):
        statement = passing[name]
        assert as_list(statement["Action"]) == ["iam:PassRole"]
        assert statement["Condition"] == {
            "StringEquals": {"iam:PassedToService": "ecs-tasks.amazonaws.com"}
        }
        assert sorted(r.rsplit("/", 1)[1] for r in statement["Resource"]) == sorted(
            [*passed, *(f"{role}-execution" for role in passed)]  # each with its own
        )


OPTIONAL_POLICIES = {"appdb-extract-run-role", "appdb-extract-execution-role"}


def role_policy(
    policies: Mapping[str, dict[str, Any]], role_arn: str, optional: bool = False
) -> dict[str, Any]:
    """Every statement of the policies attached to a role (`optional`: also those attached
    only where the app database is read), as one policy for the evaluator."""
    role = role_arn.rsplit("/", 1)[1]
    attached = [
        name
        for name, owner in ROLE_OF_POLICY.items()
        if owner == role and (optional or name not in OPTIONAL_POLICIES)
    ]
    assert attached, f"no policy is attached to {role}"
    return {"Statement": [s for name in attached for s in policies[name]["Statement"]]}


def readable_secrets(policy: Mapping[str, Any], deployment: Deployment) -> set[str]:
    """Which of the deployment's secrets the evaluator lets this policy read."""
    every = {v for k, v in deployment.values.items() if k.endswith("_SECRET_ARN")}
    return {arn for arn in every if allows(policy, "secretsmanager:GetSecretValue", arn)}


def run_task_secrets(daemon: Mapping[str, str], optional: bool = False) -> dict[str, str]:
    """The secrets dagster.yaml's launcher, in the daemon, gives every run task (by ARN)."""
    config = yaml.safe_load((ROOT / "dagster.yaml").read_text())["run_launcher"]["config"]
    found = {s["name"]: daemon[s["valueFrom"]["env"]] for s in config["secrets"]}
    for s in config.get("optional_secrets", []) if optional else []:
        found[s["name"]] = daemon[s["value_from_env"]]
    return found


def test_each_execution_role_reads_only_its_own_task_s_secrets(
    deployment: Deployment,
    policies: dict[str, dict[str, Any]],
    task_definitions: dict[str, dict[str, Any]],
) -> None:
    """ECS fetches a task's `secrets` with the task's execution role: each service's role, and
    the run tasks' (named by the daemon's launcher), may read exactly the secrets of its own
    task definition; the webserver's none of the pipeline's, the daemon's none of the runs'."""
    v = deployment.values
    daemon = environment(task_definitions["daemon"])
    tasks = {
        service: (definition["executionRoleArn"], set(secrets(definition).values()))
        for service, definition in task_definitions.items()
    }
    tasks["run"] = (
        daemon["THELETTER_ECS_EXECUTION_ROLE_ARN"],
        set(run_task_secrets(daemon).values()),
    )
    roles = {role for role, _ in tasks.values()}
    assert len(roles) == 4, "the services and the run tasks share an execution role"
    for task, (role, needed) in tasks.items():
        assert readable_secrets(role_policy(policies, role), deployment) == needed, task
    assert tasks["webserver"][1] == tasks["daemon"][1] == {v["PG_PASSWORD_SECRET_ARN"]}
    # The code server plans every run, and Dagster resolves each resource's EnvVar settings
    # when it plans: it needs the run's pseudonym key and Google credential too
    # (test_code_server_plans_every_job).
    assert tasks["code-server"][1] == {
        v["PG_PASSWORD_SECRET_ARN"], v["SLACK_WEBHOOK_SECRET_ARN"],
        v["PSEUDONYM_KEY_SECRET_ARN"], v["GCP_CREDENTIALS_SECRET_ARN"],
    }  # fmt: skip
    assert tasks["run"][1] == {
        v["PG_PASSWORD_SECRET_ARN"], v["PSEUDONYM_KEY_SECRET_ARN"], v["GCP_CREDENTIALS_SECRET_ARN"]
    }  # fmt: skip
    # Where the app database is read, its password goes to run tasks, and only to them.
    with_appdb = {**daemon, "THELETTER_APPDB_PASSWORD_SECRET_ARN": v["APPDB_PASSWORD_SECRET_ARN"]}
    for task, (role, needed) in tasks.items():
        if task == "run":
            needed = set(run_task_secrets(with_appdb, optional=True).values())
            assert v["APPDB_PASSWORD_SECRET_ARN"] in needed
        readable = readable_secrets(role_policy(policies, role, optional=True), deployment)
        assert readable == needed, task
    listed = {s["ARN"] for s in deployment.client("secretsmanager").list_secrets()["SecretList"]}
    assert set().union(*(needed for _, needed in tasks.values())) <= listed
    for name, policy in policies.items():
        touches = [a for s in policy["Statement"] for a in as_list(s["Action"])]
        if not name.endswith("execution-role"):
            assert not [a for a in touches if a.lower().startswith("secretsmanager:")], name


def test_every_execution_role_pulls_from_the_repository_and_logs_to_the_group(
    deployment: Deployment, policies: dict[str, dict[str, Any]]
) -> None:
    image = deployment.repository_arn
    stream = f"{deployment.log_group_arn.removesuffix(':*')}:log-stream:run_x/run/abc"
    for name in EXECUTION_POLICIES:
        policy = policies[name]
        for action in ("ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"):
            assert allows(policy, action, image), name
            assert not allows(policy, action, image.replace("/data", "/other")), name
        assert allows(policy, "logs:PutLogEvents", stream), name
        assert allows(policy, "logs:CreateLogStream", deployment.log_group_arn), name
        assert not allows(policy, "logs:PutLogEvents", stream.replace("/ecs/", "/other/")), name


def test_the_daemon_launches_and_the_webserver_stops_runs_within_their_policies(
    deployment: Deployment,
    policies: dict[str, dict[str, Any]],
    task_definitions: dict[str, dict[str, Any]],
    aws_credentials: None,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    """The real run launcher, configured by dagster.yaml from the daemon's task environment,
    launches a run on moto; every ECS call it makes must be allowed by the daemon's policy.
    The webserver's launcher (its own environment) terminates it within the webserver's."""
    monkeypatch.setenv("AWS_ENDPOINT_URL", deployment.endpoint)
    for name, value in environment(task_definitions["daemon"]).items():
        monkeypatch.setenv(name, value)
    launcher_config = yaml.safe_load((ROOT / "dagster.yaml").read_text())["run_launcher"]
    ecs = deployment.client("ecs")
    with dg.instance_for_test(
        overrides={"run_launcher": launcher_config}, temp_dir=str(tmp_path)
    ) as instance:
        daemon = Recorder()
        daemon.attach(instance.run_launcher.ecs)
        run = create_run(instance, ["stg_email_events", "newsletter_daily_traffic"])
        instance.run_launcher.launch_run(LaunchRunContext(dagster_run=run, workspace=None))
        run = instance.get_run_by_id(run.run_id)
        assert run is not None
        instance.run_launcher.check_run_worker_health(run)

        assert {"RegisterTaskDefinition", "RunTask", "DescribeTasks"} <= set(daemon.operations())
        requests = iam_requests(daemon, ecs)
        assert not refused(policies["daemon-task-role"], requests)
        run_task = next(c for c in daemon.calls if c[1] == "RunTask")
        assert run_task[2]["taskDefinition"].startswith("run_")
        assert {t["key"] for t in run_task[2]["tags"]} >= {"dagster/run_id"}
        definition = ecs.describe_task_definition(taskDefinition=run_task[2]["taskDefinition"])[
            "taskDefinition"
        ]
        assert (
            container(definition)["image"]
            == environment(task_definitions["code-server"])["DAGSTER_CURRENT_IMAGE"]
        )
        assert definition["taskRoleArn"].endswith(":role/theletter-data-run")
        # ECS, as the runs' own execution role, can start it: its three secrets and no other,
        # its log stream.
        assert definition["executionRoleArn"].endswith(":role/theletter-data-run-execution")
        execution = role_policy(policies, definition["executionRoleArn"])
        run_secrets = {s["valueFrom"] for s in container(definition)["secrets"]}
        assert len(run_secrets) == 3
        assert readable_secrets(execution, deployment) == run_secrets
        log_options = container(definition)["logConfiguration"]["options"]
        group_arn = f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:{log_options['awslogs-group']}"
        assert allows(execution, "logs:PutLogEvents", f"{group_arn}:log-stream:run_x/run/y")
        task_arn = run.tags["ecs/task_arn"]
        assert task_arn.startswith(
            f"arn:aws:ecs:{REGION}:{ACCOUNT}:task/{deployment.values['CLUSTER']}/"
        )

        # The webserver: only its own environment, the same dagster.yaml.
        for name in set(environment(task_definitions["daemon"])) - set(
            environment(task_definitions["webserver"])
        ):
            monkeypatch.delenv(name)
        data = instance.run_launcher.inst_data
        webserver_launcher = ConfigurableClassData(
            data.module_name, data.class_name, yaml.safe_dump(launcher_config["config"])
        ).rehydrate()
        webserver_launcher.register_instance(instance)
        webserver = Recorder()
        webserver.attach(webserver_launcher.ecs)
        assert webserver_launcher.terminate(run.run_id)
        assert webserver.operations() == ["DescribeTasks", "StopTask"]
        assert not refused(policies["webserver-task-role"], iam_requests(webserver, ecs))

        # Run monitoring, when a run's task died: the task, its definition, its last log lines
        # (the same calls the launcher's health check makes for a failed container).
        stream = f"{definition['family']}/run/{task_arn.rsplit('/', 1)[1]}"
        logs = deployment.client("logs")
        logs.create_log_stream(logGroupName=deployment.values["LOG_GROUP"], logStreamName=stream)
        logs.put_log_events(
            logGroupName=deployment.values["LOG_GROUP"],
            logStreamName=stream,
            logEvents=[{"timestamp": int(time.time() * 1000), "message": "Killed"}],
        )
        monitoring = Recorder()
        monitoring.attach(instance.run_launcher.ecs)
        monitoring.attach(instance.run_launcher.logs)
        last_lines = get_task_logs(
            instance.run_launcher.ecs,
            logs_client=instance.run_launcher.logs,
            cluster=run.tags["ecs/cluster"],
            task_arn=task_arn,
            container_name="run",
        )
        assert last_lines == ["Killed"]
        assert monitoring.operations() == [
            "DescribeTasks",
            "DescribeTaskDefinition",
            "GetLogEvents",
        ]
        assert not refused(policies["daemon-task-role"], iam_requests(monitoring, ecs))

    # What neither may do.
    cluster = {
        "ecs:cluster": f"arn:aws:ecs:{REGION}:{ACCOUNT}:cluster/{deployment.values['CLUSTER']}"
    }
    family = f"arn:aws:ecs:{REGION}:{ACCOUNT}:task-definition"
    service_task = f"arn:aws:ecs:{REGION}:{ACCOUNT}:task/{deployment.values['CLUSTER']}/abc"
    role = f"arn:aws:iam::{ACCOUNT}:role"
    to_ecs = {"iam:PassedToService": "ecs-tasks.amazonaws.com"}
    forbidden = [
        ("ecs:RunTask", f"{family}/theletter-data-webserver:3", cluster),
        ("ecs:RunTask", f"{family}/run_x:1", {"ecs:cluster": cluster["ecs:cluster"] + "-other"}),
        ("ecs:RegisterTaskDefinition", f"{family}/theletter-data-daemon", {}),
        ("ecs:StopTask", service_task, cluster),  # a service's task: no dagster/run_id tag
        ("iam:PassRole", f"{role}/theletter-data-daemon", to_ecs),
        (
            "iam:PassRole",
            f"{role}/theletter-data-run",
            {"iam:PassedToService": "lambda.amazonaws.com"},
        ),
        ("ecs:UpdateService", f"arn:aws:ecs:{REGION}:{ACCOUNT}:service/x/y", cluster),
    ]
    assert refused(policies["daemon-task-role"], forbidden) == forbidden
    assert refused(policies["webserver-task-role"], forbidden) == forbidden
    for action in ("ecs:RunTask", "ecs:RegisterTaskDefinition", "iam:PassRole"):
        assert not allows(policies["webserver-task-role"], action, f"{family}/run_x:1", cluster)


def test_compute_logs_are_written_by_runs_daemon_code_server_and_read_by_the_webserver(
    deployment: Deployment,
    policies: dict[str, dict[str, Any]],
    aws_credentials: None,
    tmp_path: Path,
) -> None:
    """dagster.yaml's S3 compute-log manager against moto: the calls a writer makes (a run's
    steps, the daemon's backfill logs, sensor logs in the code server) and the calls the UI
    makes to show them."""
    instance = yaml.safe_load((ROOT / "dagster.yaml").read_text())
    config = {
        **instance["compute_logs"]["config"],
        "bucket": deployment.values["COMPUTE_LOG_BUCKET"],
    }
    assert config["prefix"] == "dagster/compute-logs"
    log_key = ["0f1e2d3c", "compute_logs", "stg_email_events"]

    def manager(local: str) -> S3ComputeLogManager:
        return S3ComputeLogManager(
            endpoint_url=deployment.endpoint, local_dir=str(tmp_path / local), **config
        )

    writer, writes = manager("writer"), Recorder()
    writes.attach(writer._s3_session)
    with writer.open_log_stream(log_key, ComputeIOType.STDERR) as stream:
        assert stream is not None
        stream.write("staged 42 rows\n")
    reader, reads = manager("reader"), Recorder()
    reads.attach(reader._s3_session)
    data, _ = reader.get_log_data_for_type(log_key, ComputeIOType.STDERR, 0, None)
    assert data == b"staged 42 rows\n"
    assert reader.get_log_keys_for_log_key_prefix(log_key[:2], ComputeIOType.STDERR) == [log_key]

    ecs = deployment.client("ecs")
    write_requests, read_requests = iam_requests(writes, ecs), iam_requests(reads, ecs)
    assert {r[0] for r in write_requests} == {"s3:PutObject"}
    assert {r[0] for r in read_requests} == {"s3:GetObject", "s3:ListBucket"}
    for writer_role in ("run-task-role", "daemon-task-role", "code-server-task-role"):
        assert not refused(policies[writer_role], write_requests), writer_role
    assert not refused(policies["webserver-task-role"], read_requests)
    assert refused(policies["webserver-task-role"], write_requests) == write_requests


def test_the_lake_is_read_only_except_serving(
    deployment: Deployment, policies: dict[str, dict[str, Any]]
) -> None:
    bucket = f"arn:aws:s3:::{deployment.values['LAKE_BUCKET']}"
    raw = [
        "lake/ses-events/2026/11/20/00/theletter-ses-events-1-2026-11-20-00-05-00-x.gz",
        "lake/pageviews/2026/11/20/00/theletter-pageviews-1-2026-11-20-00-05-00-x.gz",
        "lake/appdb/subscriptions/dt=2026-11-20/part-00000.parquet",
    ]
    serving = "lake/serving/newsletters/nl_00012/daily.json"
    run, code_server = policies["run-task-role"], policies["code-server-task-role"]
    for key in raw:
        prefix = {"s3:prefix": key.rsplit("/", 1)[0] + "/"}
        for policy in (run, code_server):
            assert allows(policy, "s3:GetObject", f"{bucket}/{key}")
            assert allows(policy, "s3:ListBucket", bucket, prefix)
            assert not allows(policy, "s3:PutObject", f"{bucket}/{key}")
            assert not allows(policy, "s3:DeleteObject", f"{bucket}/{key}")
    for action in ("s3:GetObject", "s3:PutObject", "s3:DeleteObject"):
        assert allows(run, action, f"{bucket}/{serving}")
        assert not allows(code_server, action, f"{bucket}/{serving}")
    elsewhere = [
        ("s3:ListBucket", bucket, {"s3:prefix": ""}),
        ("s3:ListBucket", bucket, {"s3:prefix": "lake/"}),
        ("s3:ListBucket", bucket, {}),
        ("s3:GetObject", f"{bucket}/lake/other/x", {}),
        ("s3:GetObject", f"{bucket}/ses-events/2026/11/20/00/x.gz", {}),  # outside the root
    ]
    for policy in (run, code_server):
        assert refused(policy, elsewhere) == elsewhere
    for name in ("webserver-task-role", "daemon-task-role", *EXECUTION_POLICIES):
        assert not allows(policies[name], "s3:GetObject", f"{bucket}/{raw[0]}")


def test_no_policy_grants_a_whole_service_or_every_resource_beyond_the_unscopable(
    policies: dict[str, dict[str, Any]],
) -> None:
    for name, policy in policies.items():
        for statement in policy["Statement"]:
            assert statement["Action"] != "*" and "*" not in as_list(statement["Action"]), name
            if statement["Resource"] == "*" or "*" in as_list(statement["Resource"]):
                assert set(as_list(statement["Action"])) <= UNSCOPABLE_ACTIONS, name


# --- continuous delivery ---------------------------------------------------------------------


roll = _load_module("roll_services.py")


def _running_services(deployment: Deployment) -> dict[str, dict[str, Any]]:
    """The three services (created when this test runs alone), as ECS describes them."""
    ecs, cluster = deployment.client("ecs"), deployment.values["CLUSTER"]
    for name in SERVICES:
        found = ecs.describe_services(cluster=cluster, services=[f"theletter-data-{name}"])
        if not [s for s in found["services"] if s["status"] == "ACTIVE"]:
            ecs.create_service(**deployment.render(f"ecs/services/{name}.json"))
    described = ecs.describe_services(cluster=cluster, services=list(roll.SERVICES))
    return {s["serviceName"]: s for s in described["services"]}


def _definitions(deployment: Deployment) -> dict[str, dict[str, Any]]:
    ecs = deployment.client("ecs")
    return {
        name: ecs.describe_task_definition(taskDefinition=s["taskDefinition"])["taskDefinition"]
        for name, s in _running_services(deployment).items()
    }


def test_cd_rolls_every_service_onto_the_image_in_a_safe_order_within_its_role(
    deployment: Deployment,
    policies: dict[str, dict[str, Any]],
    task_definitions: dict[str, dict[str, Any]],
) -> None:
    """deploy/roll_services.py, the workflow's last step, on moto: the webserver, then the
    daemon, then the code server, each on a new revision that differs only in the image (and
    the code server's DAGSTER_CURRENT_IMAGE), each stable before the next is touched; every
    call allowed by the GitHub deploy role, which may not touch runs or other families."""
    ecs, cluster = deployment.client("ecs"), deployment.values["CLUSTER"]
    before = _definitions(deployment)
    image = f"{IMAGE.rsplit(':', 1)[0]}:{'b' * 40}"
    cd, steps = Recorder(), []
    client = cd.attach(deployment.client("ecs"))
    client.meta.events.register(
        "provide-client-params.ecs.UpdateService",
        lambda params, **_: steps.append(("update", params)),
    )

    rolled = roll.roll(client, cluster, image, wait=lambda s: steps.append(("stable", s)))

    assert [(step, p if step == "stable" else p["service"]) for step, p in steps] == [
        ("update", "theletter-data-webserver"), ("stable", "theletter-data-webserver"),
        ("update", "theletter-data-daemon"), ("stable", "theletter-data-daemon"),
        ("update", "theletter-data-code-server"), ("stable", "theletter-data-code-server"),
    ]  # fmt: skip
    after = _definitions(deployment)
    for name, definition in after.items():
        old = before[name]
        assert definition["taskDefinitionArn"] == rolled[name]
        assert definition["family"] == old["family"] and definition["revision"] > old["revision"]
        assert container(definition)["image"] == image
        pinned = {"DAGSTER_CURRENT_IMAGE": image} if name == roll.CODE_SERVER else {}
        assert environment(definition) == {**environment(old), **pinned}
        unchanged = ("command", "secrets", "healthCheck", "logConfiguration", "portMappings")
        assert all(container(definition).get(k) == container(old).get(k) for k in unchanged)
        service = name.removeprefix("theletter-data-")
        for key in ("taskRoleArn", "executionRoleArn", "cpu", "memory", "networkMode"):
            assert definition[key] == old[key] == task_definitions[service][key], key
    policy = policies["github-deploy-role"]
    requests = iam_requests(cd, ecs)
    assert {r[0] for r in requests} == {
        "ecs:DescribeServices", "ecs:DescribeTaskDefinition", "ecs:RegisterTaskDefinition",
        "iam:PassRole", "ecs:UpdateService",
    }  # fmt: skip
    assert not refused(policy, requests)

    # Again with the same image (a re-run of the workflow): checked, nothing registered.
    again = Recorder()
    assert roll.roll(again.attach(deployment.client("ecs")), cluster, image, wait=len) == rolled
    assert "RegisterTaskDefinition" not in again.operations()
    assert "UpdateService" not in again.operations()

    ecs_arn = f"arn:aws:ecs:{REGION}:{ACCOUNT}"
    role = f"arn:aws:iam::{ACCOUNT}:role"
    to_ecs = {"iam:PassedToService": "ecs-tasks.amazonaws.com"}
    forbidden = [
        ("ecs:UpdateService", f"{ecs_arn}:service/{cluster}-other/theletter-data-daemon", {}),
        ("ecs:UpdateService", f"{ecs_arn}:service/{cluster}/theletter-data-other", {}),
        ("ecs:RegisterTaskDefinition", f"{ecs_arn}:task-definition/run_theletter_data", {}),
        ("ecs:RunTask", f"{ecs_arn}:task-definition/theletter-data-code-server", {}),
        ("ecs:StopTask", f"{ecs_arn}:task/{cluster}/abc", {}),
        ("iam:PassRole", f"{role}/theletter-data-run", to_ecs),
        ("iam:PassRole", f"{role}/theletter-data-daemon", {"iam:PassedToService": "lambda"}),
        ("ecr:PutImage", deployment.repository_arn.replace("/data", "/other"), {}),
    ]
    assert refused(policy, forbidden) == forbidden


def test_cd_stops_at_a_service_ecs_rolled_back_and_before_any_change_without_the_pin(
    deployment: Deployment,
) -> None:
    """A revision that does not start is rolled back by ECS's circuit breaker (here: done to
    the daemon while the roll waits for it): the roll fails there, naming what it left, and
    the code server keeps its image, never newer than the daemon's. A code server without
    DAGSTER_CURRENT_IMAGE stops the roll before anything changes."""
    ecs, cluster = deployment.client("ecs"), deployment.values["CLUSTER"]
    before = {n: s["taskDefinition"] for n, s in _running_services(deployment).items()}
    image = f"{IMAGE.rsplit(':', 1)[0]}:{'c' * 40}"

    def circuit_breaker(service: str) -> None:
        if service == "theletter-data-daemon":
            ecs.update_service(cluster=cluster, service=service, taskDefinition=before[service])

    with pytest.raises(roll.RolledBack, match=r"Not rolled: theletter-data-code-server\.$"):
        roll.roll(deployment.client("ecs"), cluster, image, wait=circuit_breaker)
    images = {n: container(d)["image"] for n, d in _definitions(deployment).items()}
    assert images["theletter-data-webserver"] == image
    assert images["theletter-data-daemon"] != image
    assert (
        _running_services(deployment)["theletter-data-code-server"]["taskDefinition"]
        == (before["theletter-data-code-server"])
    )

    code_server = _definitions(deployment)[roll.CODE_SERVER]
    unpinned = {k: code_server[k] for k in roll._REGISTERED if k in code_server}
    container(unpinned)["environment"] = [
        e for e in container(unpinned)["environment"] if e["name"] != "DAGSTER_CURRENT_IMAGE"
    ]
    arn = ecs.register_task_definition(**unpinned)["taskDefinition"]["taskDefinitionArn"]
    ecs.update_service(cluster=cluster, service=roll.CODE_SERVER, taskDefinition=arn)
    current = {n: s["taskDefinition"] for n, s in _running_services(deployment).items()}
    try:
        with pytest.raises(SystemExit, match=r"no DAGSTER_CURRENT_IMAGE.*Nothing was changed"):
            roll.roll(deployment.client("ecs"), cluster, f"{image[:-1]}d", wait=len)
        assert {n: s["taskDefinition"] for n, s in _running_services(deployment).items()} == (
            current
        )
    finally:
        ecs.update_service(
            cluster=cluster, service=roll.CODE_SERVER, taskDefinition=before[roll.CODE_SERVER]
        )


def test_the_oidc_trust_admits_main_s_production_environment_only(deployment: Deployment) -> None:
    (statement,) = deployment.render("iam/github-oidc-trust.json")["Statement"]
    assert statement["Action"] == "sts:AssumeRoleWithWebIdentity"
    assert statement["Principal"]["Federated"].endswith(
        ":oidc-provider/token.actions.githubusercontent.com"
    )
    assert statement["Condition"] == {
        "StringEquals": {
            "token.actions.githubusercontent.com:aud": "sts.amazonaws.com",
            "token.actions.githubusercontent.com:sub": (
                "repo:theletter/theletter-data:environment:production"
            ),
        }
    }
    workflow = yaml.safe_load((ROOT / ".github" / "workflows" / "cd.yml").read_text())
    deploy = workflow["jobs"]["deploy"]
    assert deploy["environment"] == "production" and deploy["permissions"]["id-token"] == "write"
    assert (
        workflow["permissions"] == {} and "id-token" not in workflow["jobs"]["test"]["permissions"]
    )
    assert deploy["if"] == "github.event_name == 'push' && github.ref == 'refs/heads/main'"
    assert not any("aws-access-key-id" in (s.get("with") or {}) for s in deploy["steps"])


# --- raw data to Glacier -------------------------------------------------------------------


def test_the_lake_lifecycle_archives_the_raw_prefixes_and_never_serving(
    deployment: Deployment,
) -> None:
    from theletter_data.raw.sources import SOURCES

    script = _load_module("apply_lake_lifecycle.py")
    configuration = script.rules(deployment.values)
    s3 = deployment.client("s3")
    bucket = deployment.values["LAKE_BUCKET"]
    held = script.apply(s3, bucket, configuration)
    assert script.apply(s3, bucket, configuration) == held  # applying again changes nothing

    prefix = deployment.values["LAKE_PREFIX"]
    archived = {r["Filter"]["Prefix"]: r["Transitions"] for r in held if "Transitions" in r}
    assert set(archived) == {f"{prefix}{s.prefix}/" for s in SOURCES}
    for raw in ("ses-events/", "pageviews/", "app-logs/", "appdb/posts/"):
        assert f"{prefix}{raw}" in archived
    for transitions in archived.values():
        assert transitions == [
            {"Days": 90, "StorageClass": "GLACIER_IR"},
            {"Days": 365, "StorageClass": "DEEP_ARCHIVE"},
        ]
    for key in (
        "serving/v1/manifest.json",
        "serving/v1/newsletters/nl_00001.json",
        "appdb/_extract/posts/state.json",  # rewritten each run: never archived
    ):
        assert not any(f"{prefix}{key}".startswith(p) for p in archived), key
    (abort,) = [r for r in held if "AbortIncompleteMultipartUpload" in r]
    assert abort["Filter"] == {"Prefix": prefix}

    command = [sys.executable, str(DEPLOY / "apply_lake_lifecycle.py"), "--dry-run"]
    done = subprocess.run(command, env=deployment.values, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == configuration


def test_the_instance_database_is_multi_az_private_encrypted_and_backed_up(
    deployment: Deployment,
) -> None:
    rds = deployment.client("rds")
    created = rds.create_db_instance(**deployment.render("rds/dagster-postgres.json"))
    instance = created["DBInstance"]
    assert instance["MultiAZ"] is True and instance["Engine"] == "postgres"
    assert instance["StorageEncrypted"] is True and instance["PubliclyAccessible"] is False
    assert instance["BackupRetentionPeriod"] == 7 and instance["DeletionProtection"] is True
    assert instance["DBSubnetGroup"]["DBSubnetGroupName"] == deployment.values["DB_SUBNET_GROUP"]
    assert [g["VpcSecurityGroupId"] for g in instance["VpcSecurityGroups"]] == [
        deployment.values["RDS_SG"]
    ]
    assert "MasterUserPassword" not in deployment.render("rds/dagster-postgres.json")


def test_the_instance_database_is_pinned_sized_and_grows_by_itself(
    deployment: Deployment,
) -> None:
    """The engine version is pinned (and not moved by RDS behind the file's back), is the major
    version the tests' PostgreSQL runs, and storage grows by itself up to a ceiling; the size
    is the one deploy/README.md derives from the measured load."""
    spec = deployment.render("rds/dagster-postgres.json")
    major, minor = spec["EngineVersion"].split(".")
    assert minor.isdigit() and spec["AutoMinorVersionUpgrade"] is False
    tests_server = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
    assert tests_server, "the tests' PostgreSQL is not installed"
    assert major == tests_server[-1].parents[1].name
    assert spec["MaxAllocatedStorage"] >= 5 * spec["AllocatedStorage"]
    rds = deployment.client("rds")
    spec["DBInstanceIdentifier"] += "-sized"
    created = rds.create_db_instance(**spec)["DBInstance"]
    assert created["EngineVersion"] == spec["EngineVersion"]
    assert created["MaxAllocatedStorage"] == spec["MaxAllocatedStorage"]
    assert created["DBInstanceClass"] == spec["DBInstanceClass"]
    section = (DEPLOY / "README.md").read_text().split("\n## The instance database")[1]
    section = section.split("\n## ")[0]
    for figure in (
        spec["DBInstanceClass"],
        f"`EngineVersion` {spec['EngineVersion']}",
        f"`MaxAllocatedStorage` {spec['MaxAllocatedStorage']}",
        "328 rows",  # test_instance_database_load.py measures these
        "30 rows",
    ):
        assert figure in section, figure


def test_reading_the_app_database_adds_writes_to_appdb_and_its_password_only(
    deployment: Deployment, policies: dict[str, dict[str, Any]]
) -> None:
    bucket = f"arn:aws:s3:::{deployment.values['LAKE_BUCKET']}"
    writes = policies["appdb-extract-run-role"]
    work = "lake/appdb/_extract/subscriptions/dt=2026-11-20/changes-00001.parquet"
    for key in ("lake/appdb/subscriptions/dt=2026-11-20/part-00000.parquet", work):
        for action in ("s3:PutObject", "s3:DeleteObject"):
            assert allows(writes, action, f"{bucket}/{key}")
    # Its cursors and batches: only this policy reads and lists them.
    assert allows(writes, "s3:GetObject", f"{bucket}/{work}")
    assert allows(writes, "s3:ListBucket", bucket, {"s3:prefix": work.rsplit("/", 1)[0] + "/"})
    for name in ("run-task-role", "code-server-task-role"):
        assert not allows(policies[name], "s3:GetObject", f"{bucket}/{work}")
    for key in (
        "lake/ses-events/2026/11/20/00/x.gz",
        "lake/serving/v1/manifest.json",
        "appdb/x",
        "lake/appdb/other/x",
    ):
        assert not allows(writes, "s3:PutObject", f"{bucket}/{key}")
    password = policies["appdb-extract-execution-role"]
    secret = deployment.values["APPDB_PASSWORD_SECRET_ARN"]
    assert allows(password, "secretsmanager:GetSecretValue", secret)
    assert not allows(
        password, "secretsmanager:GetSecretValue", deployment.values["PG_PASSWORD_SECRET_ARN"]
    )


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
