"""The services stop within ECS's stopTimeout, sent a real SIGTERM: the code server started
exactly as the image runs it (the Dockerfile's ENTRYPOINT + CMD and ENV, the production
settings), the webserver and the daemon by their task definitions' commands.

One module just over 300 lines: the S3 that hangs and the service launcher it defines serve
only these stop tests.

ECS stops a task with SIGTERM, waits the container's `stopTimeout`, then SIGKILLs it. Two
things kept the code server alive far longer than that:
- Dagster's CLI maps SIGTERM to whatever handles SIGINT; a process that inherits an ignored
  SIGINT (started in the background by a non-interactive shell) therefore ignores SIGTERM.
- On SIGTERM the server waits for calls in flight up to DAGSTER_GRPC_SHUTDOWN_GRACE_PERIOD
  (60 s by default), then waits 30 s for its `dagster api grpc` child, which cannot exit while a
  thread of user code is blocked (a sensor listing a slow S3): 49 s measured here, exit code 1.
Only the port differs from the image's command line (a free one instead of 4000).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from theletter_data_tests.support.dockerfile import ROOT, image_command, image_environment
from theletter_data_tests.support.ports import free_port

pytestmark = pytest.mark.slow  # real code servers, webservers and daemons, stopped by signals

BIN = Path(sys.executable).parent  # the venv's dagster CLI stands for the image's
STOP_TIMEOUT = json.loads((ROOT / "deploy/ecs/code-server.json").read_text())[
    "containerDefinitions"
][0]["stopTimeout"]
IDLE_STOP_BOUND = 10.0  # seconds: measured 1-3 s
STUCK_STOP_BOUND = STOP_TIMEOUT - 5.0  # the call's thread is killed at --kill-after (20 s)


class Blackhole:
    """A TCP endpoint that accepts connections and never answers: an S3 that hangs."""

    def __init__(self) -> None:
        self._server = socket.create_server(("127.0.0.1", 0))
        self.port = self._server.getsockname()[1]
        self.connected = threading.Event()
        self._held: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                connection, _ = self._server.accept()
            except OSError:
                return
            self._held.append(connection)
            self.connected.set()

    def close(self) -> None:
        self._server.close()
        for connection in self._held:
            connection.close()


@pytest.fixture
def s3_that_hangs() -> Iterator[Blackhole]:
    blackhole = Blackhole()
    yield blackhole
    blackhole.close()


@dataclass
class Service:
    process: subprocess.Popen[bytes]
    port: int
    environment: dict[str, str]
    log: Path

    def stop(self) -> float:
        """SIGTERM, as ECS sends it; seconds until the process exited (or inf)."""
        started = time.monotonic()
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=STOP_TIMEOUT + 30)
        except subprocess.TimeoutExpired:
            return float("inf")
        return time.monotonic() - started

    def group(self) -> list[str]:
        """The processes left in the server's group: state and command line, from /proc."""
        left = []
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rsplit(")", 1)[1].split()
                command = (stat.parent / "cmdline").read_bytes().replace(b"\0", b" ")
            except OSError:
                continue
            if int(fields[2]) == self.process.pid:  # pgrp
                left.append(f"{stat.parent.name} {fields[0]} {command.decode()[:120]}")
        return left

    def group_alive(self, wait: float = 5.0) -> bool:
        """Whether a process of the group (the code server's `dagster api grpc` child) still lives
        after `wait` seconds (killed children are reaped by init a moment after the leader)."""
        deadline = time.monotonic() + wait
        while True:
            try:
                os.killpg(self.process.pid, 0)
            except ProcessLookupError:
                return False
            if time.monotonic() > deadline:
                return True
            time.sleep(0.2)


def _environment(tmp_path: Path, lake_port: int) -> dict[str, str]:
    home = tmp_path / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    inherited = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("THELETTER_", "DAGSTER_", "AWS_", "PYTEST_"))
    }
    return {
        **inherited,
        **image_environment(),
        "DAGSTER_HOME": str(home),  # the image's is /opt/dagster/home
        "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}",
        "THELETTER_ENV": "production",
        "THELETTER_LAKE_URL": "s3://theletter-lake/lake/",
        "THELETTER_LAKE_ENDPOINT_URL": f"http://127.0.0.1:{lake_port}",
        "THELETTER_BIGQUERY_PROJECT": "theletter-data",
        "THELETTER_BIGQUERY_LOCATION": "asia-northeast1",
        "THELETTER_BIGQUERY_DATASET_PREFIX": "theletter_",
        "THELETTER_BIGQUERY_MAXIMUM_BYTES_BILLED": str(2**30),
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "ap-northeast-1",
    }


def _with_port(command: list[str], port: int) -> list[str]:
    at = command.index("--port")
    return [*command[: at + 1], str(port), *command[at + 2 :]]


@pytest.fixture
def start_code_server(
    tmp_path: Path, s3_that_hangs: Blackhole
) -> Iterator[Callable[[bool], Service]]:
    started: list[Service] = []

    def start(sigint_ignored: bool) -> Service:
        port = free_port()
        environment = _environment(tmp_path, s3_that_hangs.port)
        log = tmp_path / "code-server.log"

        def inherit() -> None:  # what a non-interactive shell gives a background job
            signal.signal(signal.SIGINT, signal.SIG_IGN if sigint_ignored else signal.SIG_DFL)

        process = subprocess.Popen(
            _with_port(image_command(), port),
            cwd=ROOT,  # the image's WORKDIR holds the repository's files
            env=environment,
            stdout=log.open("wb"),
            stderr=subprocess.STDOUT,
            preexec_fn=inherit,
            start_new_session=True,
        )
        server = Service(process, port, environment, log)
        started.append(server)
        deadline = time.monotonic() + 180
        while not _serving(port):  # the container's health check command
            assert process.poll() is None, log.read_text()[-3000:]
            assert time.monotonic() < deadline, "the code server never served"
            time.sleep(1)
        return server

    yield start
    for server in started:
        if server.group_alive(wait=0):
            os.killpg(server.process.pid, signal.SIGKILL)
        server.process.wait()


def _serving(port: int) -> bool:
    check = [str(BIN / "dagster"), "api", "grpc-health-check", "-p", str(port)]
    return subprocess.run(check, capture_output=True).returncode == 0


def test_the_image_runs_the_code_server_under_a_stop_guard() -> None:
    """`timeout --kill-after=K 0` forwards SIGTERM and kills whatever is left K seconds later;
    K, and the grace period for calls in flight, must end before ECS's SIGKILL."""
    command = image_command()
    assert command[:3] == ["timeout", "--kill-after=20", "0"]
    assert command[3:6] == ["dagster", "code-server", "start"]
    grace = int(image_environment()["DAGSTER_GRPC_SHUTDOWN_GRACE_PERIOD"])
    assert grace < 20 < STOP_TIMEOUT - 5


@pytest.mark.parametrize("sigint_ignored", [False, True], ids=["sigint-default", "sigint-ignored"])
def test_an_idle_code_server_stops_on_sigterm(
    start_code_server: Callable[[bool], Service], sigint_ignored: bool
) -> None:
    server = start_code_server(sigint_ignored)
    elapsed = server.stop()
    assert elapsed < IDLE_STOP_BOUND, server.log.read_text()[-3000:]
    assert server.process.returncode == 0
    assert not server.group_alive(), server.group()  # its `dagster api grpc` child is gone too


def test_a_code_server_with_a_sensor_stuck_on_s3_stops_within_the_stop_timeout(
    start_code_server: Callable[[bool], Service], s3_that_hangs: Blackhole, tmp_path: Path
) -> None:
    """The daemon's call (a sensor tick, here `dagster sensor preview`, the same RPC) is in the
    server, blocked on an S3 that never answers, when ECS sends SIGTERM (a deploy)."""
    server = start_code_server(False)
    workspace = tmp_path / "workspace.yaml"
    workspace.write_text(
        "load_from:\n  - grpc_server:\n      host: 127.0.0.1\n"
        f"      port: {server.port}\n      location_name: theletter_data\n"
    )
    tick = subprocess.Popen(
        [str(BIN / "dagster"), "sensor", "preview", "raw_arrivals_sensor", "-w", str(workspace)],
        env=server.environment,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        assert s3_that_hangs.connected.wait(180), "the sensor never reached the lake"
        elapsed = server.stop()
    finally:
        tick.kill()
        tick.wait()
    assert elapsed < STUCK_STOP_BOUND, server.log.read_text()[-3000:]
    # The server's main process has exited, which ends the container: its `dagster api grpc`
    # child, if its thread is still blocked, dies with the task's PID namespace (here the
    # fixture kills it). Either the server gave up on it (exit 0 after the grace period) or
    # `timeout` killed the whole group at --kill-after (-9).
    assert server.process.returncode in (0, -signal.SIGKILL), server.log.read_text()[-3000:]


def _task_container(service: str) -> dict[str, object]:
    definition = json.loads((ROOT / f"deploy/ecs/{service}.json").read_text())
    (container,) = definition["containerDefinitions"]
    return container


@pytest.mark.parametrize("service", ["webserver", "daemon"])
@pytest.mark.usefixtures("production_environment")  # PostgreSQL, moto, the launcher's settings
def test_the_webserver_and_the_daemon_stop_well_within_their_stop_timeouts(
    service: str, tmp_path: Path
) -> None:
    """Their task definitions' commands, with the production dagster.yaml (PostgreSQL, the ECS
    launcher on moto) in DAGSTER_HOME as the image installs it, serving, then SIGTERM."""
    container = _task_container(service)
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(ROOT / "dagster.yaml", home / "dagster.yaml")
    command = [str(a).replace("/opt/theletter", str(ROOT)) for a in container["command"]]
    port = free_port()
    if service == "webserver":
        command[command.index("-p") + 1] = str(port)
    environment = {
        **{k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")},
        **image_environment(),
        "DAGSTER_HOME": str(home),
        "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}",
    }
    log = tmp_path / f"{service}.log"
    process = subprocess.Popen(
        command,
        cwd=ROOT,
        env=environment,
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    server = Service(process, port, environment, log)
    try:
        deadline = time.monotonic() + 180
        while not _ready(service, port, environment):  # the health check of its task definition
            assert process.poll() is None, log.read_text()[-3000:]
            assert time.monotonic() < deadline, f"the {service} never became healthy"
            time.sleep(1)
        elapsed = server.stop()
    finally:
        if server.group_alive(wait=0):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    assert elapsed < container["stopTimeout"] / 3, log.read_text()[-3000:]  # type: ignore[operator]
    assert process.returncode == 0, log.read_text()[-3000:]
    assert not server.group_alive(), server.group()


def _ready(service: str, port: int, environment: dict[str, str]) -> bool:
    if service == "webserver":
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/server_info", timeout=5):
                return True
        except OSError:
            return False
    check = [str(BIN / "dagster-daemon"), "liveness-check"]
    return subprocess.run(check, env=environment, capture_output=True).returncode == 0
