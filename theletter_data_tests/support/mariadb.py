"""A private MariaDB server for the test session, from Debian's `mariadb-server` package, in a
temporary data directory on a free port: the system's own service is never touched. As root
(CI) the server runs as the `mysql` user."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from theletter_data_tests.support.ports import free_port

DATABASE = "app"


@dataclass(frozen=True)
class MariaDBServer:
    host: str
    port: int
    socket: str
    database: str

    def admin(self):  # type: ignore[no-untyped-def]
        """A connection as root over the server's socket (the tests' writer)."""
        import pymysql

        return pymysql.connect(
            unix_socket=self.socket, user="root", database=self.database, autocommit=True
        )


@pytest.fixture(scope="session")
def mariadb() -> Iterator[MariaDBServer]:
    server = shutil.which("mariadbd") or "/usr/sbin/mariadbd"
    install = shutil.which("mariadb-install-db")
    if not Path(server).exists() or not install:
        raise RuntimeError(
            "MariaDB server binaries not found: install Debian's `mariadb-server` package "
            "(scripts/test.sh does so when it can)."
        )
    as_root = os.geteuid() == 0
    user = "mysql" if as_root else os.environ.get("USER", "nobody")
    data = Path(tempfile.mkdtemp(prefix="theletter-mariadb-"))
    if as_root:
        shutil.chown(data, "mysql", "mysql")
    port, sock = free_port(), str(data / "server.sock")
    subprocess.run(
        [install, "--no-defaults", f"--datadir={data}/db", f"--user={user}",
         "--auth-root-authentication-method=socket", "--skip-test-db"],
        check=True, capture_output=True, text=True,
    )  # fmt: skip
    process = subprocess.Popen(
        [server, "--no-defaults", f"--datadir={data}/db", f"--user={user}", f"--port={port}",
         "--bind-address=127.0.0.1", f"--socket={sock}", f"--pid-file={data}/server.pid",
         f"--log-error={data}/server.log", "--innodb-flush-log-at-trx-commit=0",
         "--skip-log-bin"],
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while not Path(sock).exists():
            if process.poll() is not None or time.monotonic() > deadline:
                log = (data / "server.log").read_text()[-2000:]
                raise RuntimeError(f"MariaDB did not start:\n{log}")
            time.sleep(0.2)
        import pymysql

        for _ in range(50):
            try:
                pymysql.connect(unix_socket=sock, user="root").close()
                break
            except pymysql.err.OperationalError:
                time.sleep(0.2)
        with pymysql.connect(unix_socket=sock, user="root", autocommit=True) as con:
            con.cursor().execute(f"CREATE DATABASE {DATABASE} CHARACTER SET utf8mb4")
        yield MariaDBServer("127.0.0.1", port, sock, DATABASE)
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
        shutil.rmtree(data, ignore_errors=True)
