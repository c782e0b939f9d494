"""The ECS services and the load balancer's authenticated listener, created on moto; then
continuous delivery: deploy/roll_services.py rolls them onto a new image in a safe order within
the GitHub deploy role, and stops where ECS rolled a service back; the OIDC trust admits only
main's production environment. One module, because the roll needs the services the first test
creates (support/moto_deployment.py says why the deployment is shared).
The deployment on moto, its fixtures and helpers: support/moto_deployment.py.
"""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from theletter_data_tests.support.iam_policy import ACCOUNT, Recorder, iam_requests, refused
from theletter_data_tests.support.moto_deployment import (
    ROOT,
    SERVICES,
    Deployment,
    container,
    environment,
    load_script,
)
from theletter_data_tests.support.production_instance import IMAGE, REGION

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


# --- continuous delivery ---------------------------------------------------------------------


roll = load_script("roll_services.py")


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
