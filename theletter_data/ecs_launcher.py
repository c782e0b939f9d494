"""The production run launcher: Dagster's EcsRunLauncher, one Fargate task per run, with three
additions the deployment needs, each through a hook dagster-aws offers to subclasses.

1. Every run is sized from its steps (`get_cpu_and_memory_overrides`, the hook EcsRunLauncher
   asks for a run's task CPU and memory): the largest `ecs/cpu` / `ecs/memory` op tags its
   assets declare (sizing.py), also written on the run as its tags so that the UI shows the size
   it got. A run launched with explicit `ecs/cpu` and `ecs/memory` tags keeps them. The stock
   launcher alone would not do: it reads only run tags (or one `run_resources` size for every
   run), and runs from the UI's Materialize, from asset backfills and from automation carry no
   job tags; only the launcher sees every run's plan, whoever created it.
2. The network placement (subnets, security groups) comes from `env:`-sourced config, since
   `run_task_kwargs` is passed through verbatim.
3. Optional settings reach runs only where the daemon has them (`optional_env_vars`,
   `optional_secrets`): EcsRunLauncher's own lists fail on a variable that is not set, and the
   app database (extract/) is configured only where it is read.

It is configured in the top-level dagster.yaml, so every process that loads the instance
imports it: the daemon (launches), the webserver (stops a run's task) and each run task (which
gets the launcher's settings for that: dagster.yaml's `env_vars`). Continuous delivery rolls
all of them onto each new image (deploy/roll_services.py).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

import dagster as dg
from dagster import Array, Field, Shape, StringSource
from dagster_aws.ecs import EcsRunLauncher
from dagster_aws.ecs.container_context import EcsContainerContext

from theletter_data.sizing import CPU_TAG, MEMORY_TAG, TaskSize, size_for


class SizedEcsRunLauncher(EcsRunLauncher):
    def __init__(
        self,
        inst_data: Any = None,
        network: Mapping[str, Any] | None = None,
        optional_env_vars: Sequence[str] = (),
        optional_secrets: Sequence[Mapping[str, str]] = (),
        **kwargs: Any,
    ):
        kwargs["env_vars"] = [
            *(kwargs.get("env_vars") or []),
            *(name for name in optional_env_vars if os.environ.get(name)),
        ]
        kwargs["secrets"] = [
            *(kwargs.get("secrets") or []),
            *(
                {"name": s["name"], "valueFrom": os.environ[s["value_from_env"]]}
                for s in optional_secrets
                if os.environ.get(s["value_from_env"])
            ),
        ]
        if network:
            kwargs["run_task_kwargs"] = {
                **(kwargs.get("run_task_kwargs") or {}),
                "networkConfiguration": {
                    "awsvpcConfiguration": {
                        "subnets": _split(network["subnets"]),
                        "securityGroups": _split(network["security_groups"]),
                        "assignPublicIp": "ENABLED" if network["assign_public_ip"] else "DISABLED",
                    }
                },
            }
        super().__init__(inst_data=inst_data, **kwargs)

    @classmethod
    def config_type(cls) -> dict[str, Any]:
        return {
            **super().config_type(),
            "network": Field(
                Shape(
                    {
                        "subnets": Field(StringSource, description="Comma-separated subnet ids."),
                        "security_groups": Field(
                            StringSource, description="Comma-separated security group ids."
                        ),
                        "assign_public_ip": Field(bool, default_value=False),
                    }
                ),
                is_required=False,
                description="awsvpc placement of run tasks (Fargate).",
            ),
            "optional_env_vars": Field(
                Array(str),
                is_required=False,
                default_value=[],
                description="Passed to runs when set in the launcher's environment.",
            ),
            "optional_secrets": Field(
                Array(Shape({"name": str, "value_from_env": str})),
                is_required=False,
                default_value=[],
                description="A secret for runs by the ARN in `value_from_env`, when set.",
            ),
        }

    def get_cpu_and_memory_overrides(
        self, container_context: EcsContainerContext, run: dg.DagsterRun
    ) -> Mapping[str, str]:
        if CPU_TAG in run.tags and MEMORY_TAG in run.tags:
            return super().get_cpu_and_memory_overrides(container_context, run)
        size = self._size_of(run)
        if size is None:
            return super().get_cpu_and_memory_overrides(container_context, run)
        self._instance.add_run_tags(run.run_id, size.op_tags)
        return size.task_overrides

    def _size_of(self, run: dg.DagsterRun) -> TaskSize | None:
        """The largest size the run's steps declare. Op tags reach the launcher only in the run's
        execution plan snapshot (the daemon loads no code), read through the instance."""
        if run.execution_plan_snapshot_id is None:
            return None
        plan = self._instance.get_execution_plan_snapshot(run.execution_plan_snapshot_id)
        return size_for(step.tags for step in plan.steps)


def _split(values: str) -> list[str]:
    return [v.strip() for v in values.split(",") if v.strip()]
