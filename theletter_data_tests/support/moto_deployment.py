"""deploy/ created on a moto server, for the deploy tests (test_deploy_*.py): every template
rendered with deploy/render.py from the values of resources created on moto (VPC, subnets,
security groups, secrets, ECR repository, log group, Cloud Map service, ALB, certificate), the
services' task definitions registered on ECS, and the policies rendered.

The fixtures are session-scoped: the templates fix the names of account-wide resources (the
target group, the roles, the OIDC provider, the instance database), so one moto server holds one
deployment; a second would fail at its target group. Tests add to it (roles, services, runs,
database instances) but none reads what a test of another module wrote: the ECS services, which
one test creates and the continuous-delivery tests roll, are tested in one module
(test_deploy_services.py), in that order.
"""

from __future__ import annotations

import importlib.util
import json
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import pytest
import yaml

from theletter_data_tests.support.iam_policy import ACCOUNT, allows
from theletter_data_tests.support.production_instance import IMAGE, REGION

ROOT = Path(__file__).parents[2]
DEPLOY = ROOT / "deploy"
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


def load_script(name: str) -> Any:
    """A script of deploy/ (not a package) as a module."""
    spec = importlib.util.spec_from_file_location(f"deploy_{Path(name).stem}", DEPLOY / name)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


render = load_script("render.py")


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


@pytest.fixture(scope="session")
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


@pytest.fixture(scope="session")
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


@pytest.fixture(scope="session")
def policies(deployment: Deployment) -> dict[str, dict[str, Any]]:
    return {name: deployment.render(f"iam/{name}.json") for name in ROLE_OF_POLICY}


def container(task_definition: Mapping[str, Any]) -> dict[str, Any]:
    (only,) = task_definition["containerDefinitions"]
    return only


def environment(task_definition: Mapping[str, Any]) -> dict[str, str]:
    return {e["name"]: e["value"] for e in container(task_definition).get("environment", [])}


def secrets(task_definition: Mapping[str, Any]) -> dict[str, str]:
    return {s["name"]: s["valueFrom"] for s in container(task_definition).get("secrets", [])}


# --- the policies attached to a role, as the evaluator reads them --------------------------

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
