"""A local BigQuery emulator (bqemulator) for offline tests of the BigQuery code paths.

`scripts/bqemulator.sh` installs the emulator into its own virtual environment (never this
project's .venv) and runs it; this module starts it once per pytest session on free loopback ports
with a fresh data directory, waits until it answers, and kills its process group at the end.

conftest.py imports its fixtures (pytest collects fixtures imported into it);
then in a test:

    def test_x(bigquery_emulator: BigQueryEmulator, bq_dataset: str) -> None:
        client = bigquery_emulator.client()
        client.query(f"CREATE TABLE `{bigquery_emulator.project}.{bq_dataset}.t` (x INT64)")

What the emulator does and does not do like BigQuery is pinned, one behaviour a test, in
production/test_bigquery_emulator_*.py. Two things every test must know: temporary tables
(`CREATE TEMP TABLE`) are global to the emulator and outlive their script (name them uniquely or
use CREATE OR REPLACE TEMP TABLE), and a query job's `destination` is ignored.

Environment:
    BQEMULATOR_START_TIMEOUT  seconds to wait for the emulator to answer (default 120)
    BQEMULATOR_HOME           where the script keeps the emulator's venv (see the script)
    BQEMU_LOG_LEVEL           the emulator's log level (default warning)
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from theletter_data_tests.support.ports import free_port

if TYPE_CHECKING:
    from google.cloud import bigquery

REPO_ROOT = Path(__file__).resolve().parents[2]
SCRIPT = REPO_ROOT / "scripts" / "bqemulator.sh"
DEFAULT_PROJECT = "test-project"
INSTALL_TIMEOUT_S = 1200.0
LOG_TAIL_LINES = 60


class EmulatorError(RuntimeError):
    """The emulator could not be installed or did not come up."""


def _tail(path: Path, lines: int = LOG_TAIL_LINES) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return "(no log)"
    # The emulator logs its whole SQL rule table in one line at import: keep lines readable.
    kept = [line if len(line) <= 500 else line[:500] + " ..." for line in text.splitlines()]
    return "\n".join(kept[-lines:]) or "(empty log)"


def install_emulator() -> None:
    """Create or verify the emulator's own venv (fast when already installed)."""
    try:
        proc = subprocess.run(
            ["bash", str(SCRIPT), "install"],
            capture_output=True,
            text=True,
            timeout=INSTALL_TIMEOUT_S,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise EmulatorError(f"{SCRIPT} install timed out after {INSTALL_TIMEOUT_S:.0f}s") from exc
    if proc.returncode != 0:
        output = (proc.stdout + proc.stderr).strip().splitlines()[-LOG_TAIL_LINES:]
        raise EmulatorError(
            f"{SCRIPT} install failed (exit {proc.returncode}):\n" + "\n".join(output)
        )


@dataclass
class BigQueryEmulator:
    """A running emulator: where it listens and how to talk to it."""

    project: str
    api_endpoint: str
    grpc_endpoint: str
    data_dir: Path
    log_path: Path
    startup_seconds: float = 0.0
    _process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def gcs_root(self) -> Path:
        """gs://bucket/path in a load job's source URIs reads gcs_root/bucket/path."""
        return self.data_dir / "gcs"

    def client(self, project: str | None = None, via: str | None = None) -> bigquery.Client:
        """A google-cloud-bigquery client for the emulator (anonymous credentials), or for a
        proxy in front of it (`via`, e.g. an IAM proxy's URL)."""
        from google.api_core.client_options import ClientOptions
        from google.auth.credentials import AnonymousCredentials
        from google.cloud import bigquery

        return bigquery.Client(
            project=project or self.project,
            credentials=AnonymousCredentials(),
            client_options=ClientOptions(api_endpoint=via or self.api_endpoint),
        )

    def new_dataset_name(self, hint: str = "") -> str:
        """A dataset id that no other test uses: `t_<hint>_<random>`, valid for BigQuery."""
        slug = re.sub(r"[^0-9a-zA-Z_]+", "_", hint).strip("_").lower()[:60]
        return f"t_{slug}_{uuid.uuid4().hex[:8]}" if slug else f"t_{uuid.uuid4().hex[:12]}"

    def create_dataset(self, hint: str = "", location: str | None = None) -> str:
        """Create a fresh dataset in the emulator's project and return its id."""
        from google.cloud import bigquery

        dataset = bigquery.Dataset(f"{self.project}.{self.new_dataset_name(hint)}")
        if location:
            dataset.location = location
        return self.client().create_dataset(dataset).dataset_id

    def log_tail(self, lines: int = LOG_TAIL_LINES) -> str:
        return _tail(self.log_path, lines)

    def alive(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def stop(self) -> None:
        """Kill the emulator's whole process group: SIGTERM, then SIGKILL after 10 s."""
        proc, self._process = self._process, None
        if proc is None or proc.poll() is not None:
            return
        for sig, wait_s in ((signal.SIGTERM, 10.0), (signal.SIGKILL, 5.0)):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, sig)
            try:
                proc.wait(timeout=wait_s)
                return
            except subprocess.TimeoutExpired:
                continue


def _die_with_parent() -> None:
    """In the child, before exec: get SIGTERM when the process that started us dies (Linux), so a
    killed pytest does not leave the emulator running. Survives bash's exec into the emulator."""
    if sys.platform == "linux":
        pr_set_pdeathsig = 1
        ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM)


def _healthy(api_endpoint: str) -> bool:
    try:
        with urllib.request.urlopen(f"{api_endpoint}/healthz", timeout=2) as response:
            return response.status == 200
    except (urllib.error.URLError, OSError):
        return False


def _start_once(project: str, data_dir: Path, log_path: Path, timeout_s: float) -> BigQueryEmulator:
    rest_port, grpc_port = free_port(), free_port()
    while grpc_port == rest_port:
        grpc_port = free_port()
    env = dict(os.environ)
    env.setdefault("BQEMU_LOG_LEVEL", "warning")
    started = time.monotonic()
    with log_path.open("ab") as log:
        process = subprocess.Popen(
            ["bash", str(SCRIPT), "start", str(rest_port), str(grpc_port), project, str(data_dir)],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,  # own process group: stop() kills it and only it
            preexec_fn=_die_with_parent,
        )
    emulator = BigQueryEmulator(
        project=project,
        api_endpoint=f"http://127.0.0.1:{rest_port}",
        grpc_endpoint=f"127.0.0.1:{grpc_port}",
        data_dir=data_dir,
        log_path=log_path,
        _process=process,
    )
    atexit.register(emulator.stop)  # a crashed pytest must not leave it running
    deadline = started + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise EmulatorError(
                f"bqemulator exited with code {process.returncode} before answering "
                f"(log {log_path}):\n{_tail(log_path)}"
            )
        if _healthy(emulator.api_endpoint):
            emulator.startup_seconds = time.monotonic() - started
            return emulator
        time.sleep(0.1)
    emulator.stop()
    raise EmulatorError(
        f"bqemulator did not answer on {emulator.api_endpoint}/healthz within {timeout_s:g}s "
        f"(log {log_path}):\n{_tail(log_path)}"
    )


@contextlib.contextmanager
def running_emulator(
    project: str = DEFAULT_PROJECT, base_dir: Path | None = None
) -> Iterator[BigQueryEmulator]:
    """Install if needed, start the emulator on free ports, yield it, and always stop it."""
    install_emulator()
    timeout_s = float(os.environ.get("BQEMULATOR_START_TIMEOUT", "120"))
    with contextlib.ExitStack() as stack:
        if base_dir is None:
            base_dir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bqemu-")))
        log_path = base_dir / "bqemulator.log"
        attempts = 3  # a free port can be taken between picking it and binding it
        for attempt in range(1, attempts + 1):
            data_dir = base_dir / f"data-{attempt}"
            try:
                emulator = _start_once(project, data_dir, log_path, timeout_s)
            except EmulatorError as exc:
                in_use = "address already in use" in str(exc).lower()
                if attempt < attempts and in_use:
                    continue
                raise
            try:
                yield emulator
            finally:
                emulator.stop()
            return


@pytest.fixture(scope="session")
def bigquery_emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BigQueryEmulator]:
    """One emulator for the whole test session (in-process DuckDB state, fresh data dir)."""
    with running_emulator(base_dir=tmp_path_factory.mktemp("bqemulator")) as emulator:
        yield emulator


@pytest.fixture
def bq_dataset(bigquery_emulator: BigQueryEmulator, request: pytest.FixtureRequest) -> str:
    """A fresh, empty dataset (in the emulator's project) for this test; returns its id."""
    return bigquery_emulator.create_dataset(hint=request.node.name)
