"""Running one contender in its own process: its time, its peak RSS, its peak temporary disk."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Measured:
    name: str
    rows: int
    seconds: float
    cpu_seconds: float
    """CPU time of all the contender's threads: on a shared machine a steadier figure than
    the wall time."""
    peak_rss_bytes: int
    peak_temp_bytes: int


def run_contender(name: str, lake_dir: Path, work: Path) -> Measured:
    """Run `name` on the lake into a fresh database under `work`; the temporary folder it is
    given (DuckDB's spill) is watched for its largest size."""
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    temp = work / "temp"
    temp.mkdir()
    command = [
        sys.executable, "-m", "theletter_data_dev.benchmark.contenders",
        name, str(lake_dir), str(work / "out.duckdb"), str(temp),
    ]  # fmt: skip
    watcher = _FolderWatcher(temp)
    with tempfile.TemporaryFile() as out:
        process = subprocess.Popen(command, stdout=out)
        _, status, usage = os.wait4(process.pid, 0)
        process.returncode = os.waitstatus_to_exitcode(status)
        watcher.stop()
        out.seek(0)
        output = out.read().decode()
    if process.returncode:
        raise RuntimeError(f"{name} failed (exit {process.returncode}): {output[-2000:]}")
    report = json.loads(output.strip().splitlines()[-1])
    shutil.rmtree(work, ignore_errors=True)
    return Measured(
        name=name,
        rows=int(report["rows"]),
        seconds=float(report["seconds"]),
        cpu_seconds=float(report["cpu_seconds"]),
        peak_rss_bytes=usage.ru_maxrss * 1024,  # Linux reports KiB
        peak_temp_bytes=watcher.peak,
    )


class _FolderWatcher:
    """The largest total size a folder reached, sampled every 50 ms."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.peak = 0
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._thread.start()

    def _watch(self) -> None:
        while not self._stopping.wait(0.05):
            self.peak = max(self.peak, _size(self.folder))

    def stop(self) -> None:
        self._stopping.set()
        self._thread.join()


def _size(folder: Path) -> int:
    total = 0
    for root, _, files in os.walk(folder):
        for name in files:
            with contextlib.suppress(FileNotFoundError):
                total += os.stat(os.path.join(root, name)).st_size
    return total
