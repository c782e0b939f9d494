"""What each role of deploy/iam/ may reach, decided by a small evaluator of the policy grammar
(support/iam_policy.py): each execution role reads exactly its own task's secrets and pulls and
logs only where its task does; runs read the lake and write only serving; reading the app
database adds writes to appdb/ and its password only. Least privilege is checked three ways:
statically (here and test_deploy_iam.py), by the calls Dagster makes (test_deploy_dagster_calls.py),
and by requests that must be refused; what moto and the evaluator cannot prove is listed in
deploy/README.md.
The deployment on moto, its fixtures and helpers: support/moto_deployment.py.
"""

from __future__ import annotations

from typing import Any

from theletter_data_tests.support.iam_policy import allows, as_list, refused
from theletter_data_tests.support.moto_deployment import (
    EXECUTION_POLICIES,
    Deployment,
    environment,
    readable_secrets,
    role_policy,
    run_task_secrets,
    secrets,
)


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
