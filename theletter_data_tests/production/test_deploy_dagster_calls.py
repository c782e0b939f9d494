"""The AWS calls Dagster itself makes, recorded on moto and evaluated against the policy of the
process that makes them: the real ECS run launcher, configured by dagster.yaml, launching a run
from the daemon and stopping it from the webserver, and the S3 compute-log manager writing from
runs, daemon and code server and reading from the webserver; and what neither may do.
The deployment on moto, its fixtures and helpers: support/moto_deployment.py.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import dagster as dg
import pytest
import yaml
from dagster._core.launcher import LaunchRunContext
from dagster._core.storage.compute_log_manager import ComputeIOType
from dagster._serdes import ConfigurableClassData
from dagster_aws.ecs.utils import get_task_logs
from dagster_aws.s3.compute_log_manager import S3ComputeLogManager

from theletter_data_tests.support.iam_policy import ACCOUNT, Recorder, allows, iam_requests, refused
from theletter_data_tests.support.moto_deployment import (
    ROOT,
    Deployment,
    container,
    environment,
    readable_secrets,
    role_policy,
)
from theletter_data_tests.support.production_instance import REGION, create_run


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
