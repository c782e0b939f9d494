"""A private PostgreSQL server for the test session, from the Debian packages (`postgresql`).

initdb refuses to run as root, so as root (CI) the server runs as the `postgres` user in a
temporary data directory; otherwise as the current user. Nothing touches the system's own
cluster.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from theletter_data_tests.support.ports import free_port

USER = "dagster"
DATABASE = "dagster"


@dataclass(frozen=True)
class PostgresServer:
    host: str
    port: int
    user: str
    database: str


def _bindir() -> Path:
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), reverse=True)
    found = shutil.which("initdb") or (candidates[0] if candidates else None)
    if not found:
        raise RuntimeError(
            "PostgreSQL server binaries not found: install Debian's `postgresql` package "
            "(scripts/test.sh does so when it can)."
        )
    return Path(found).resolve().parent


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    bindir = _bindir()
    as_root = os.geteuid() == 0
    prefix = ["runuser", "-u", "postgres", "--"] if as_root else []
    data = Path(tempfile.mkdtemp(prefix="theletter-pg-"))
    if as_root:
        shutil.chown(data, "postgres", "postgres")
    port = free_port()

    def run(*args: str) -> None:
        subprocess.run([*prefix, *args], check=True, capture_output=True, text=True)

    try:
        run(str(bindir / "initdb"), "-D", str(data), "-A", "trust", "-U", USER, "--no-sync")
        run(
            str(bindir / "pg_ctl"), "-D", str(data), "-l", str(data / "server.log"), "-w",
            "-o", f"-p {port} -k {data} -c listen_addresses=127.0.0.1 -c fsync=off", "start",
        )  # fmt: skip
        run(str(bindir / "createdb"), "-h", "127.0.0.1", "-p", str(port), "-U", USER, DATABASE)
        yield PostgresServer("127.0.0.1", port, USER, DATABASE)
    except subprocess.CalledProcessError as error:
        log = data / "server.log"
        tail = log.read_text()[-2000:] if log.exists() else ""
        raise RuntimeError(f"PostgreSQL failed: {error.stderr}\n{tail}") from error
    finally:
        subprocess.run(
            [*prefix, str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"],
            capture_output=True,
        )
        shutil.rmtree(data, ignore_errors=True)
