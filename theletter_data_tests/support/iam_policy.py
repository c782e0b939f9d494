"""IAM as the deployment's policies meet it: a small evaluator of the policy grammar deploy/'s
files use (Allow statements, wildcards, the condition operators they name), and the AWS calls
Dagster makes, recorded on boto3 clients and turned into the IAM requests AWS authorizes
(the Service Authorization Reference)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from theletter_data_tests.support.production_instance import REGION

ACCOUNT = "123456789012"  # moto's account


# --- a small evaluator of the IAM policy grammar these files use ---------------------------


def _wildcard(pattern: str, ignore_case: bool = False) -> re.Pattern[str]:
    regex = re.escape(pattern).replace(r"\*", ".*").replace(r"\?", ".")
    return re.compile(regex, re.IGNORECASE if ignore_case else 0)


def as_list(value: str | list[str]) -> list[str]:
    return [value] if isinstance(value, str) else value


def _condition_holds(operator: str, expected: list[str], actual: str | None) -> bool:
    if operator == "Null":
        return (actual is None) == (expected == ["true"])
    if actual is None:
        return False
    if operator == "StringEquals":
        return actual in expected
    if operator in {"StringLike", "ArnEquals", "ArnLike"}:  # ARN operators take wildcards too
        return any(_wildcard(e).fullmatch(actual) for e in expected)
    raise AssertionError(f"condition operator {operator} is not modelled by this test")


def allows(
    policy: Mapping[str, Any], action: str, resource: str, context: Mapping[str, str] = {}
) -> bool:
    """Whether an Allow statement matches (these policies have no Deny): action, resource and
    every condition (keys compared case-insensitively, a missing key fails all but Null)."""
    lowered = {k.lower(): v for k, v in context.items()}
    for statement in policy["Statement"]:
        assert statement["Effect"] == "Allow"
        if not any(_wildcard(a, True).fullmatch(action) for a in as_list(statement["Action"])):
            continue
        if not any(_wildcard(r).fullmatch(resource) for r in as_list(statement["Resource"])):
            continue
        if all(
            _condition_holds(operator, as_list(value), lowered.get(key.lower()))
            for operator, keys in statement.get("Condition", {}).items()
            for key, value in keys.items()
        ):
            return True
    return False


# --- AWS calls made by Dagster, recorded and turned into IAM requests ----------------------


@dataclass
class Recorder:
    calls: list[tuple[str, str, dict[str, Any], dict[str, Any]]] = field(default_factory=list)

    def attach(self, client: Any) -> Any:
        service = client.meta.service_model.endpoint_prefix
        client.meta.events.register(f"provide-client-params.{service}", self._params)
        client.meta.events.register(f"after-call.{service}", self._response)
        return client

    def _params(self, params: dict[str, Any], model: Any, **_: Any) -> None:
        self.calls.append((model.service_model.endpoint_prefix, model.name, dict(params), {}))

    def _response(self, parsed: dict[str, Any], model: Any, **_: Any) -> None:
        self.calls[-1][3].update(parsed)

    def operations(self) -> list[str]:
        return [operation for _, operation, _, _ in self.calls]


Request = tuple[str, str, dict[str, str]]


def iam_requests(recorder: Recorder, ecs: Any) -> list[Request]:
    """What IAM authorizes for each recorded call (the Service Authorization Reference)."""
    requests: list[Request] = []
    ecs_arn = f"arn:aws:ecs:{REGION}:{ACCOUNT}"
    for service, operation, params, response in recorder.calls:
        if service == "ecs":
            name = params.get("cluster", "default")
            cluster = {
                "ecs:cluster": name if name.startswith("arn:") else f"{ecs_arn}:cluster/{name}"
            }
            if operation == "RegisterTaskDefinition":
                family = f"{ecs_arn}:task-definition/{params['family']}"
                requests.append(("ecs:RegisterTaskDefinition", family, {}))
                assert "tags" not in params  # else ecs:TagResource with CreateAction too
                for key in ("taskRoleArn", "executionRoleArn"):
                    if key in params:
                        context = {"iam:PassedToService": "ecs-tasks.amazonaws.com"}
                        requests.append(("iam:PassRole", params[key], context))
            elif operation in {"DescribeServices", "UpdateService"}:
                names = params.get("services", [params.get("service")])
                for service_name in names:
                    service_arn = f"{ecs_arn}:service/{name}/{service_name}"
                    requests.append((f"ecs:{operation}", service_arn, cluster))
            elif operation == "DescribeTaskDefinition":
                requests.append(("ecs:DescribeTaskDefinition", "*", {}))
            elif operation == "RunTask":
                definition = ecs.describe_task_definition(taskDefinition=params["taskDefinition"])[
                    "taskDefinition"
                ]
                for resource in (
                    f"{ecs_arn}:task-definition/{params['taskDefinition']}",
                    definition["taskDefinitionArn"],
                ):
                    requests.append(("ecs:RunTask", resource, cluster))
                for role in (definition["taskRoleArn"], definition["executionRoleArn"]):
                    context = {"iam:PassedToService": "ecs-tasks.amazonaws.com"}
                    requests.append(("iam:PassRole", role, context))
                if params.get("tags"):
                    for task in response["tasks"]:
                        create = {"ecs:CreateAction": "RunTask"}
                        requests.append(("ecs:TagResource", task["taskArn"], create))
            elif operation in {"DescribeTasks", "StopTask"}:
                for task in params.get("tasks", [params.get("task")]):
                    tags = ecs.list_tags_for_resource(resourceArn=task)["tags"]
                    context = {
                        **cluster,
                        **{f"aws:ResourceTag/{t['key']}": t["value"] for t in tags},
                    }
                    requests.append((f"ecs:{operation}", task, context))
            else:
                raise AssertionError(f"ecs:{operation} is not mapped by this test")
        elif service == "s3":
            bucket = f"arn:aws:s3:::{params['Bucket']}"
            if operation in {"ListObjects", "ListObjectsV2"}:
                requests.append(("s3:ListBucket", bucket, {"s3:prefix": params.get("Prefix", "")}))
            elif operation in {"HeadObject", "GetObject"}:
                requests.append(("s3:GetObject", f"{bucket}/{params['Key']}", {}))
            elif operation in {
                "PutObject",
                "CreateMultipartUpload",
                "UploadPart",
                "CompleteMultipartUpload",
            }:
                requests.append(("s3:PutObject", f"{bucket}/{params['Key']}", {}))
            else:
                raise AssertionError(f"s3:{operation} is not mapped by this test")
        elif (service, operation) == ("logs", "GetLogEvents"):
            group = f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:{params['logGroupName']}"
            requests.append(
                ("logs:GetLogEvents", f"{group}:log-stream:{params['logStreamName']}", {})
            )
        else:
            raise AssertionError(f"{service}:{operation} is not mapped by this test")
    return requests


def refused(policy: Mapping[str, Any], requests: list[Request]) -> list[Request]:
    return [r for r in requests if not allows(policy, *r)]
