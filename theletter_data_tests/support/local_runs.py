"""Real local runs in their own processes: `dagster asset materialize` on a DAGSTER_HOME set up
from the repository's local instance (dagster_home/dagster.yaml) and a data folder of its own,
as a user starts them from a shell."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import dagster as dg

REPO = Path(__file__).resolve().parents[2]
DAGSTER = Path(sys.executable).with_name("dagster")
_RUN_ID = re.compile(r" - ([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}) - ")


@dataclass
class LocalRun:
    process: subprocess.Popen
    log: Path

    @property
    def pid(self) -> int:
        return self.process.pid

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    @property
    def run_id(self) -> str:
        found = _RUN_ID.search(self.output())
        assert found, f"no run id in the output of pid {self.pid}"
        return found.group(1)

    def wait_for(self, text: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while text not in self.output():
            if self.process.poll() is not None:
                raise AssertionError(f"exited ({self.process.returncode}) before {text!r}")
            if time.monotonic() > deadline:
                raise AssertionError(f"no {text!r} after {timeout:.0f} s:\n{self.output()[-3000:]}")
            time.sleep(0.2)

    def cpu_seconds(self) -> float:
        fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def signal(self, signum: int) -> None:
        os.kill(self.pid, signum)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
        self.process.wait()


@dataclass
class LocalDeployment:
    root: Path
    runs: list[LocalRun] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.home.mkdir(parents=True, exist_ok=True)
        shutil.copy(REPO / "dagster_home" / "dagster.yaml", self.home / "dagster.yaml")
        self.data.mkdir(parents=True, exist_ok=True)

    @property
    def home(self) -> Path:
        return self.root / "dagster_home"

    @property
    def data(self) -> Path:
        return self.root / "data"

    @property
    def env(self) -> dict[str, str]:
        return {
            **os.environ,
            "DAGSTER_HOME": str(self.home),
            "THELETTER_ENV": "local",
            "THELETTER_DATA_DIR": str(self.data),
        }

    def materialize(self, select: str, partition: str) -> LocalRun:
        log = self.root / f"run-{len(self.runs) + 1}.log"
        with log.open("wb") as out:
            process = subprocess.Popen(
                [str(DAGSTER), "asset", "materialize", "-m", "theletter_data.definitions",
                 "--select", select, "--partition", partition],
                cwd=REPO, env=self.env, stdout=out, stderr=subprocess.STDOUT,
                start_new_session=True,
            )  # fmt: skip
        run = LocalRun(process, log)
        self.runs.append(run)
        return run

    @contextmanager
    def instance(self) -> Iterator[dg.DagsterInstance]:
        """This deployment's Dagster instance (its storage is configured by DAGSTER_HOME)."""
        before = os.environ.get("DAGSTER_HOME")
        os.environ["DAGSTER_HOME"] = str(self.home)
        try:
            with dg.DagsterInstance.get() as instance:
                yield instance
        finally:
            if before is None:
                del os.environ["DAGSTER_HOME"]
            else:
                os.environ["DAGSTER_HOME"] = before

    def run_status(self, run_id: str) -> tuple[dg.DagsterRunStatus, str]:
        """The run's status in the instance, and the message of its failure if it failed."""
        with self.instance() as instance:
            run = instance.get_run_by_id(run_id)
            assert run is not None
            failures = instance.all_logs(run_id, of_type=dg.DagsterEventType.RUN_FAILURE)
            message = failures[-1].message if failures else ""
            return run.status, message or ""

    def stop(self) -> None:
        for run in self.runs:
            run.stop()
