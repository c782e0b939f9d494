"""Runs created the way the UI and the daemon create them, and executed in this process.

The demo's runs must show in `dagster dev` as the runs of their jobs (Timeline, the job's Runs,
Re-execute), so they are created from the code location that `workspace.yaml` loads, with that
location's job snapshot, execution plan and origin, exactly as `dagster job launch` does. The
run is then executed here, as the run worker that a launcher would start (`dagster api
execute_run`) executes it, which saves a Python start-up and a code load per run.

Dagster 1.13.27 has no public API for this, hence the `dagster._core` imports below (checked):
- `dagster job launch` (and `DagsterInstance.submit_run`) hand the run to the instance's run
  coordinator, by default a QueuedRunCoordinator that only queues it for a daemon, which the
  demo does not run; with one, each run is a new process that loads the code again.
- `dg.materialize`, `execute_in_process`, `dg.execute_job` and `dagster job execute` execute
  here, but create runs without the code location's origin: the run gets no
  `.dagster/repository` tag (Dagster derives it from that origin), so the UI does not list it
  under its job, and cannot re-execute it.
- `DagsterGraphQLClient` needs a webserver running, and runs through it as the first path does.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from types import TracebackType

import dagster as dg
from dagster._core.definitions.selector import JobSubsetSelector
from dagster._core.execution.api import execute_run
from dagster._core.execution.job_execution_result import JobExecutionResult
from dagster._core.origin import JobPythonOrigin
from dagster._core.workspace.context import WorkspaceProcessContext
from dagster._core.workspace.load_target import WorkspaceFileTarget
from dagster._utils.hosted_user_process import recon_job_from_origin

LOCATION_NAME = "theletter_data"
"""The code location's name in workspace.yaml (and in pyproject's [tool.dagster])."""


def default_workspace_file() -> Path:
    """workspace.yaml of the working directory, else of the checkout this package runs from."""
    here = Path("workspace.yaml")
    return here if here.exists() else Path(__file__).resolve().parents[1] / "workspace.yaml"


class WorkspaceRuns:
    """`with WorkspaceRuns(instance) as runs: runs.execute("daily_refresh", tags=...)`: loads
    the code location (a code server, as `dagster dev` starts one) once for every run."""

    def __init__(self, instance: dg.DagsterInstance, workspace_file: Path | None = None):
        self.instance = instance
        self.workspace_file = (workspace_file or default_workspace_file()).resolve()
        if not self.workspace_file.exists():
            raise FileNotFoundError(
                f"No workspace file at {self.workspace_file}: run the demo from a checkout of "
                "theletter-data (its workspace.yaml names the code location)."
            )
        self._context: WorkspaceProcessContext | None = None

    def __enter__(self) -> WorkspaceRuns:
        self._context = WorkspaceProcessContext(
            self.instance,
            WorkspaceFileTarget(paths=[str(self.workspace_file)]),
            code_server_log_level="WARNING",
        )
        self._context.__enter__()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self._context is not None:
            self._context.__exit__(kind, error, traceback)
            self._context = None

    def create(
        self,
        job_name: str,
        tags: Mapping[str, str],
        run_config: Mapping[str, object] | None = None,
    ) -> dg.DagsterRun:
        """A new run of the code location's job, as `dagster job launch` creates it."""
        if self._context is None:
            raise RuntimeError("WorkspaceRuns is used as a context manager")
        location = self._context.create_request_context().get_code_location(LOCATION_NAME)
        (repository,) = location.get_repositories().values()
        selector = JobSubsetSelector(
            location_name=location.name,
            repository_name=repository.name,
            job_name=job_name,
            op_selection=None,
        )
        remote_job = location.get_job(selector)
        config = dict(run_config or {})
        plan = location.get_execution_plan(
            remote_job, config, step_keys_to_execute=None, known_state=None, instance=self.instance
        ).execution_plan_snapshot
        return self.instance.create_run(
            job_name=job_name,
            run_id=None,
            run_config=config,
            resolved_op_selection=None,
            step_keys_to_execute=plan.step_keys_to_execute,
            op_selection=None,
            status=None,
            root_run_id=None,
            parent_run_id=None,
            tags={**remote_job.tags, **tags},
            job_snapshot=remote_job.job_snapshot,
            execution_plan_snapshot=plan,
            parent_job_snapshot=remote_job.parent_job_snapshot,
            remote_job_origin=remote_job.get_remote_origin(),
            job_code_origin=remote_job.get_python_origin(),
            asset_selection=None,
            asset_check_selection=None,
            asset_graph=repository.asset_graph,
        )

    def execute(
        self,
        job_name: str,
        tags: Mapping[str, str],
        run_config: Mapping[str, object] | None = None,
    ) -> JobExecutionResult:
        """Create the run and execute it in this process, as its run worker would."""
        run = self.create(job_name, tags, run_config)
        if not isinstance(run.job_code_origin, JobPythonOrigin):
            raise TypeError(f"run {run.run_id} has no Python origin to execute")
        return execute_run(recon_job_from_origin(run.job_code_origin), run, self.instance)
