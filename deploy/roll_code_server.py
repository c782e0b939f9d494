#!/usr/bin/env python3
"""Roll the code server onto a new image: the last step of continuous delivery
(.github/workflows/cd.yml), after the image is pushed to ECR.

    python3 deploy/roll_code_server.py --cluster theletter-data \\
        --image 123456789012.dkr.ecr.ap-northeast-1.amazonaws.com/theletter-data:<git sha>

It registers a new revision of the code server's task definition that differs from the running
one only in its image and in `DAGSTER_CURRENT_IMAGE` (the image every run task then starts
from), points the service at it and waits until the service is stable; ECS replaces the task
with a rolling deployment and its circuit breaker rolls back a revision that does not start.
The webserver and the daemon do not load the code and keep their image. Needs boto3.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

SERVICE = "theletter-data-code-server"
CURRENT_IMAGE = "DAGSTER_CURRENT_IMAGE"
# What register_task_definition takes back from describe_task_definition.
_REGISTERED = (
    "family", "taskRoleArn", "executionRoleArn", "networkMode", "containerDefinitions",
    "volumes", "placementConstraints", "requiresCompatibilities", "cpu", "memory",
    "runtimePlatform", "ephemeralStorage", "pidMode", "ipcMode", "proxyConfiguration",
)  # fmt: skip


def roll(ecs: Any, cluster: str, image: str, *, wait: bool = True) -> str:
    """The new task definition's ARN, once the service runs it (or at once without `wait`)."""
    (service,) = ecs.describe_services(cluster=cluster, services=[SERVICE])["services"]
    current = ecs.describe_task_definition(taskDefinition=service["taskDefinition"])
    definition = current["taskDefinition"]
    (container,) = definition["containerDefinitions"]
    container["image"] = image
    variables = container.setdefault("environment", [])
    if not any(v["name"] == CURRENT_IMAGE for v in variables):
        raise SystemExit(
            f"{SERVICE}'s task definition has no {CURRENT_IMAGE}: runs would not follow the "
            "new image. Register it from deploy/ecs/code-server.json."
        )
    for variable in variables:
        if variable["name"] == CURRENT_IMAGE:
            variable["value"] = image
    revision = ecs.register_task_definition(
        **{key: definition[key] for key in _REGISTERED if key in definition}
    )["taskDefinition"]["taskDefinitionArn"]
    ecs.update_service(cluster=cluster, service=SERVICE, taskDefinition=revision)
    if wait:
        ecs.get_waiter("services_stable").wait(
            cluster=cluster, services=[SERVICE], WaiterConfig={"Delay": 15, "MaxAttempts": 60}
        )
    return revision


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cluster", required=True)
    parser.add_argument("--image", required=True, help="Image URI, pinned by tag or digest.")
    args = parser.parse_args(argv)
    import boto3

    revision = roll(boto3.client("ecs"), args.cluster, args.image)
    print(f"{SERVICE} runs {revision}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
