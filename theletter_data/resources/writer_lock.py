"""One local run at a time writes the DuckDB warehouse, and a dead run never holds it.

A run takes the warehouse's writer lock at its first warehouse statement and keeps it until it
ends, so that two local runs (the demo, `dagster asset materialize`, runs of `dagster dev`) do not
interleave their writes. The lock is the kernel's (`flock` on the warehouse's folder, so nothing
is written beside the file): the kernel releases it the moment the process holding it exits, even
by SIGKILL. Dagster's concurrency pools are not used for this locally: a local run waits for a
pool slot in a loop that spins the CPU and ignores SIGINT and SIGTERM, and the default run
launcher cannot tell that the run holding the slot is dead, so a killed run blocked every later
run for ever.

The holder tags its run (`theletter/warehouse_writer`, with its pid), which the UI shows, so that
a waiting run says whom it waits for; and the next holder marks failed any run still tagged as
the writer whose process is gone, since it died holding the lock.
"""

from __future__ import annotations

import fcntl
import os
import time
from dataclasses import dataclass
from pathlib import Path

import dagster as dg

WRITER_TAG = "theletter/warehouse_writer"
WRITER_PID_TAG = "theletter/warehouse_writer_pid"
POLL_SECONDS = 0.5
REPORT_EVERY_SECONDS = 60.0
_IN_PROGRESS = [
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
    dg.DagsterRunStatus.CANCELING,
]


@dataclass(frozen=True)
class RunIdentity:
    run_id: str
    job_name: str
    instance: dg.DagsterInstance


class WriterLock:
    """The writer lock of the DuckDB file at `path`, taken for the run `run`."""

    def __init__(self, path: Path, run: RunIdentity) -> None:
        self.path = path.absolute()
        self.run = run
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def acquire(self) -> None:
        """Wait (interruptibly, without spinning) until no other run writes the warehouse,
        saying whom this run waits for; then name this run the writer."""
        if self._fd is not None:
            return
        folder = self.path.parent
        folder.mkdir(parents=True, exist_ok=True)
        fd = os.open(folder, os.O_RDONLY)
        try:
            started = time.monotonic()
            reported = -REPORT_EVERY_SECONDS
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    waited = time.monotonic() - started
                    if waited - reported >= REPORT_EVERY_SECONDS:
                        reported = waited
                        dg.get_dagster_logger().info(self._waiting_message(waited))
                    time.sleep(POLL_SECONDS)
        except BaseException:
            os.close(fd)
            raise
        self._fd = fd
        self._fail_dead_writers()
        self.run.instance.add_run_tags(
            self.run.run_id, {WRITER_TAG: str(self.path), WRITER_PID_TAG: str(os.getpid())}
        )

    def release(self) -> None:
        if self._fd is None:
            return
        self.run.instance.add_run_tags(self.run.run_id, {WRITER_TAG: ""})
        fcntl.flock(self._fd, fcntl.LOCK_UN)
        os.close(self._fd)
        self._fd = None

    def _writers(self) -> list[dg.DagsterRun]:
        """Runs of this instance that say they write this file, other than this one."""
        runs = self.run.instance.get_runs(
            filters=dg.RunsFilter(statuses=_IN_PROGRESS, tags={WRITER_TAG: str(self.path)})
        )
        return [run for run in runs if run.run_id != self.run.run_id]

    def _waiting_message(self, waited: float) -> str:
        writers = self._writers()
        who = (
            ", ".join(
                f"run {run.run_id} ({run.job_name}, pid {run.tags.get(WRITER_PID_TAG)})"
                for run in writers
            )
            + " is writing it"
            if writers
            else "another run is writing it"
        )
        return (
            f"Waiting for the warehouse {self.path}: {who}; this run goes on when that one "
            f"ends (waited {waited:.0f} s so far; Ctrl-C or terminating the run stops waiting)."
        )

    def _fail_dead_writers(self) -> None:
        """A run still named the writer while this one holds the lock died holding it."""
        for run in self._writers():
            tag = run.tags.get(WRITER_PID_TAG, "")
            pid = int(tag) if tag.isdigit() else 0
            if not pid or pid == os.getpid() or _alive(pid):
                continue  # not provably dead (a reused pid looks alive): leave it alone
            message = (
                f"The run's process (pid {pid}) ended without finishing (killed?) while it was "
                f"writing the warehouse {self.path}; run {self.run.run_id} found it and took "
                "over the warehouse."
            )
            dg.get_dagster_logger().warning(f"Run {run.run_id}: {message}")
            self.run.instance.report_run_failed(run, message)
            storage = self.run.instance.event_log_storage
            if storage.supports_global_concurrency_limits:
                storage.free_concurrency_slots_for_run(run.run_id)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a killed process its parent has not reaped yet is a zombie: dead too
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True
