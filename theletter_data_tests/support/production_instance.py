"""A production environment on the tests' local servers (PostgreSQL, moto's S3, ECS, EC2 and
Secrets Manager), and runs of the daily job created as the webserver or daemon creates them: the
production instance's, deploy's, backfill's and service-stop tests share them."""

from __future__ import annotations

import uuid
from pathlib import Path

import boto3
import dagster as dg
import pytest
from dagster._core.code_pointer import ModuleCodePointer
from dagster._core.launcher import LaunchRunContext
from dagster._core.origin import JobPythonOrigin, RepositoryPythonOrigin
from dagster._core.remote_origin import (
    GrpcServerCodeLocationOrigin,
    RemoteJobOrigin,
    RemoteRepositoryOrigin,
)

from theletter_data.definitions import build_definitions
from theletter_data.settings import Environment, Settings

REPOSITORY_ROOT = Path(__file__).parents[2]
IMAGE = "123456789012.dkr.ecr.ap-northeast-1.amazonaws.com/theletter-data:3f2a9c1"
IMAGE_PYTHON = "/usr/local/bin/python"  # the interpreter of the python:3.11-slim image
REGION = "ap-northeast-1"


@pytest.fixture
def production_environment(
    postgres, moto_endpoint: str, monkeypatch: pytest.MonkeyPatch
) -> dict[str, str]:
    """The variables a production task would have, pointing at the local servers."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_endpoint)
    name = f"theletter-{uuid.uuid4().hex[:8]}"
    ec2 = boto3.client("ec2")
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    ec2.modify_vpc_attribute(VpcId=vpc, EnableDnsHostnames={"Value": True})
    subnets = [
        ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.0.{i}.0/24")["Subnet"]["SubnetId"]
        for i in (1, 2)
    ]
    group = ec2.create_security_group(GroupName=name, Description="runs", VpcId=vpc)["GroupId"]
    boto3.client("ecs").create_cluster(clusterName=name)
    secrets = boto3.client("secretsmanager")
    arns = {
        key: secrets.create_secret(Name=f"{name}/{key}", SecretString="s3cr3t")["ARN"]
        for key in ("pg", "pseudonym", "gcp")
    }
    boto3.client("s3").create_bucket(
        Bucket=name, CreateBucketConfiguration={"LocationConstraint": REGION}
    )
    env = {
        "DAGSTER_PG_HOST": postgres.host,
        "DAGSTER_PG_PORT": str(postgres.port),
        "DAGSTER_PG_DB": postgres.database,
        "DAGSTER_PG_USERNAME": postgres.user,
        "DAGSTER_PG_PASSWORD": "",
        "DAGSTER_PG_PASSWORD_SECRET_ARN": arns["pg"],
        "THELETTER_PSEUDONYM_KEY_SECRET_ARN": arns["pseudonym"],
        "THELETTER_GCP_CREDENTIALS_SECRET_ARN": arns["gcp"],
        "THELETTER_ECS_CLUSTER": name,
        "THELETTER_ECS_SUBNETS": ",".join(subnets),
        "THELETTER_ECS_SECURITY_GROUPS": group,
        "THELETTER_ECS_LOG_GROUP": f"/ecs/{name}",
        "THELETTER_ECS_EXECUTION_ROLE_ARN": "arn:aws:iam::123456789012:role/theletter-execution",
        "THELETTER_ECS_TASK_ROLE_ARN": "arn:aws:iam::123456789012:role/theletter-run",
        "THELETTER_COMPUTE_LOG_BUCKET": name,
        "THELETTER_ENV": "production",
        "THELETTER_LAKE_URL": "s3://theletter-lake",
        "THELETTER_BIGQUERY_PROJECT": "theletter-data",
        "THELETTER_BIGQUERY_LOCATION": "asia-northeast1",
        "THELETTER_BIGQUERY_DATASET_PREFIX": "theletter_",
        "THELETTER_BIGQUERY_MAXIMUM_BYTES_BILLED": str(50 * 2**30),
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return env


def create_run(
    instance: dg.DagsterInstance, assets: list[str], tags: dict[str, str] | None = None
) -> dg.DagsterRun:
    """A run of the daily job for some of its assets, as the webserver or daemon creates it
    from the code server (a gRPC code location whose image is DAGSTER_CURRENT_IMAGE)."""
    defs = build_definitions(
        Settings(environment=Environment.LOCAL, data_dir=Path("unused"), pseudonym_key_set=False)
    )
    origin = JobPythonOrigin(
        "daily_refresh",
        RepositoryPythonOrigin(
            executable_path=IMAGE_PYTHON,
            code_pointer=ModuleCodePointer("theletter_data.definitions", "defs", None),
            container_image=IMAGE,
        ),
    )
    code_server = GrpcServerCodeLocationOrigin(
        host="code-server.theletter.internal", port=4000, location_name="theletter_data"
    )
    return instance.create_run_for_job(
        job_def=defs.resolve_job_def("daily_refresh"),
        asset_selection={dg.AssetKey(a) for a in assets},
        tags={"dagster/partition": "2026-11-20", **(tags or {})},
        job_code_origin=origin,
        remote_job_origin=RemoteJobOrigin(
            RemoteRepositoryOrigin(code_server, "__repository__"), "daily_refresh"
        ),
    )


def launched_task(instance: dg.DagsterInstance, run: dg.DagsterRun) -> dict:
    instance.run_launcher.launch_run(LaunchRunContext(dagster_run=run, workspace=None))
    tags = instance.get_run_by_id(run.run_id).tags
    ecs = boto3.client("ecs")
    (task,) = ecs.describe_tasks(cluster=tags["ecs/cluster"], tasks=[tags["ecs/task_arn"]])["tasks"]
    return task
