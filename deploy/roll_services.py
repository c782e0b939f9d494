#!/usr/bin/env python3
"""Roll the three services onto a new image: the last step of continuous delivery
(.github/workflows/cd.yml), after the image is pushed to ECR.

    python3 deploy/roll_services.py --cluster theletter-data \\
        --image 123456789012.dkr.ecr.ap-northeast-1.amazonaws.com/theletter-data:<git sha>

All three run project code from the image: the code server the code location, and the daemon
and the webserver the run launcher (`theletter_data.ecs_launcher`, named by dagster.yaml), so
all three follow every build. For each service in turn it registers a revision of the running
task definition that differs only in its image (and, on the code server, `DAGSTER_CURRENT_IMAGE`,
the image every run task then starts from), points the service at it, waits until the service
is stable and checks that it stayed there (ECS's circuit breaker rolls back a revision that does
not start); the first service that does not stops the roll. The order is safe at every step:

1. the webserver: two tasks behind the load balancer, replaced one by one, so a broken image
   stops the roll here with nothing down;
2. the daemon (stopped, then started: never two, queued runs wait a minute), which runs the
   launcher of the new image from then on;
3. the code server last: Dagster expects the host processes (webserver, daemon) to be at the
   code location's Dagster version or newer, never older.

A service already on the image is only checked, so running the roll again is harmless. Every
definition is read and checked before the first change. Needs boto3.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import Any

CODE_SERVER = "theletter-data-code-server"
SERVICES = ("theletter-data-webserver", "theletter-data-daemon", CODE_SERVER)
"""In the order they are rolled (above)."""
CURRENT_IMAGE = "DAGSTER_CURRENT_IMAGE"
# What register_task_definition takes back from describe_task_definition.
_REGISTERED = (
    "family", "taskRoleArn", "executionRoleArn", "networkMode", "containerDefinitions",
    "volumes", "placementConstraints", "requiresCompatibilities", "cpu", "memory",
    "runtimePlatform", "ephemeralStorage", "pidMode", "ipcMode", "proxyConfiguration",
)  # fmt: skip


class RolledBack(RuntimeError):
    """A service did not end on its new revision (the circuit breaker rolled it back)."""


def roll(
    ecs: Any, cluster: str, image: str, *, wait: Callable[[str], None] | None = None
) -> dict[str, str]:
    """Each service's task definition ARN once it runs `image`, in rolling order. `wait(service)`
    returns once the service is stable (by default ECS's `services_stable` waiter)."""
    wait = wait or (lambda service: _wait_until_stable(ecs, cluster, service))
    planned = {service: _planned(ecs, cluster, service, image) for service in SERVICES}
    rolled: dict[str, str] = {}
    for service, (current, revised) in planned.items():
        target = current
        if revised is not None:
            target = ecs.register_task_definition(**revised)["taskDefinition"]["taskDefinitionArn"]
            ecs.update_service(cluster=cluster, service=service, taskDefinition=target)
        wait(service)
        (now,) = ecs.describe_services(cluster=cluster, services=[service])["services"]
        if now["taskDefinition"] != target:
            left = SERVICES[SERVICES.index(service) + 1 :]
            raise RolledBack(
                f"{service} did not stay on {target}: it runs {now['taskDefinition']} (ECS "
                f"rolled the deployment back). Not rolled: {', '.join(left) or 'none'}."
            )
        rolled[service] = target
    return rolled


def _planned(ecs: Any, cluster: str, service: str, image: str) -> tuple[str, dict[str, Any] | None]:
    """The service's current task definition ARN, and the revision to register (None when it
    already runs the image)."""
    (running,) = ecs.describe_services(cluster=cluster, services=[service])["services"]
    current = running["taskDefinition"]
    definition = ecs.describe_task_definition(taskDefinition=current)["taskDefinition"]
    (container,) = definition["containerDefinitions"]
    variables = container.get("environment", [])
    pinned = [v for v in variables if v["name"] == CURRENT_IMAGE]
    if service == CODE_SERVER and not pinned:
        raise SystemExit(
            f"{service}'s task definition has no {CURRENT_IMAGE}: runs would not follow the "
            "new image. Register it from deploy/ecs/code-server.json. Nothing was changed."
        )
    if container["image"] == image and all(v["value"] == image for v in pinned):
        return current, None
    container["image"] = image
    for variable in pinned:
        variable["value"] = image
    return current, {key: definition[key] for key in _REGISTERED if key in definition}


def _wait_until_stable(ecs: Any, cluster: str, service: str) -> None:
    ecs.get_waiter("services_stable").wait(
        cluster=cluster, services=[service], WaiterConfig={"Delay": 15, "MaxAttempts": 40}
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cluster", required=True)
    parser.add_argument("--image", required=True, help="Image URI, pinned by tag or digest.")
    args = parser.parse_args(argv)
    import boto3

    try:
        rolled = roll(boto3.client("ecs"), args.cluster, args.image)
    except RolledBack as e:
        print(e, file=sys.stderr)
        return 1
    for service, revision in rolled.items():
        print(f"{service} runs {revision}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
