"""deploy/iam/'s policies as IAM takes them: every policy accepted by IAM on its role (moto);
real AWS actions only (the action and resource data cfn-lint ships), each scoped to the ARN
formats AWS defines wherever AWS allows; iam:PassRole only to ECS tasks and only for the roles
each passer launches; no whole service, no "*" resource beyond the two AWS cannot scope. What
each role may then reach: test_deploy_iam_access.py.
The deployment on moto, its fixtures and helpers: support/moto_deployment.py.
"""

from __future__ import annotations

import json
import re
from functools import cache
from pathlib import Path
from typing import Any

import cfnlint

from theletter_data_tests.support.iam_policy import ACCOUNT, as_list
from theletter_data_tests.support.moto_deployment import (
    EXECUTION_POLICIES,
    ROLE_OF_POLICY,
    SERVICES,
    Deployment,
    environment,
)
from theletter_data_tests.support.production_instance import REGION

TRUST_OF_POLICY = {
    **{p: "execution-role-trust.json" for p in EXECUTION_POLICIES},
    "github-deploy-role": "github-oidc-trust.json",
}
UNSCOPABLE_ACTIONS = {
    # AWS defines no resource type for these two: a statement must say "Resource": "*".
    "ecr:GetAuthorizationToken",
    "ecs:DescribeTaskDefinition",
}


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


def test_no_policy_grants_a_whole_service_or_every_resource_beyond_the_unscopable(
    policies: dict[str, dict[str, Any]],
) -> None:
    for name, policy in policies.items():
        for statement in policy["Statement"]:
            assert statement["Action"] != "*" and "*" not in as_list(statement["Action"]), name
            if statement["Resource"] == "*" or "*" in as_list(statement["Resource"]):
                assert set(as_list(statement["Action"])) <= UNSCOPABLE_ACTIONS, name
