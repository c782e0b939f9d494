"""Parts 1-2: one day of SES events staged, against baselines on the same files.

The DuckDB contenders run in turn, A B C A B C ..., `repeats` times at a size (3 up to a
million events, once beyond), and each figure is the median of its runs: on a shared machine
the load drifts between runs, and taking the contenders in turn spreads the drift over all.
Each is given as a ratio to staging's, in wall time and in CPU time (all threads): when other
work holds the cores, a 2-thread engine loses wall time that a 1-thread one does not, while
CPU time stays close to the work done.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from theletter_data_dev.benchmark.contenders import CONTENDERS
from theletter_data_dev.benchmark.lakes import scaled_day
from theletter_data_dev.benchmark.measure import Measured, run_contender

PANDAS_MAX_EVENTS = 1_000_000
"""pandas holds the whole day in memory (3 GB at a million events); it is not run beyond, and
it runs once (its 2 minutes dwarf the others' noise)."""
GIB = 2**30

GOALS = {"bare_read_json": 1.0, "typed_projection": 0.7, "pandas": 20.0}
"""Issue 17: staging at least this many times as fast as the contender."""


@dataclass(frozen=True)
class Contender:
    name: str
    runs: list[Measured]

    @property
    def rows(self) -> int:
        return self.runs[0].rows

    @property
    def seconds(self) -> float:
        return statistics.median(m.seconds for m in self.runs)

    @property
    def cpu_seconds(self) -> float:
        return statistics.median(m.cpu_seconds for m in self.runs)

    @property
    def peak_rss_bytes(self) -> int:
        return max(m.peak_rss_bytes for m in self.runs)

    @property
    def peak_temp_bytes(self) -> int:
        return max(m.peak_temp_bytes for m in self.runs)


def measure_day(root: Path, events: int) -> tuple[list[Contender], int]:
    """The contenders on a day of `events` SES records, and its gzip input bytes."""
    lake = Path(scaled_day(root / f"ses-{events}", events).url)
    input_bytes = sum(p.stat().st_size for p in lake.rglob("*.gz"))
    repeats = 3 if events <= 1_000_000 else 1
    names = [n for n in CONTENDERS if n != "pandas"]
    runs: dict[str, list[Measured]] = {name: [] for name in names}
    for _ in range(repeats):
        for name in names:
            runs[name].append(run_contender(name, lake, root / "work"))
    if events <= PANDAS_MAX_EVENTS:
        runs["pandas"] = [run_contender("pandas", lake, root / "work")]
    return [Contender(name, measured) for name, measured in runs.items()], input_bytes


HEADER = (
    f"{'events':>11} {'contender':<17} {'runs':>4} {'rows':>11} {'s':>7} {'cpu s':>7} "
    f"{'rows/s':>9} {'staging is':>11} {'(cpu)':>7} {'peak RSS':>9} {'temp disk':>10} "
    f"{'input':>8}\n"
)


def write_day(events: int, contenders: list[Contender], input_bytes: int, out: TextIO) -> None:
    staging = next(c for c in contenders if c.name == "staging")
    for c in contenders:
        ratio = cpu_ratio = ""
        if c is not staging:
            ratio = f"{c.seconds / staging.seconds:.2f}x"
            cpu_ratio = f"{c.cpu_seconds / staging.cpu_seconds:.2f}x"
        out.write(
            f"{events:>11,} {c.name:<17} {len(c.runs):>4} {c.rows:>11,} {c.seconds:>7.1f} "
            f"{c.cpu_seconds:>7.1f} {c.rows / c.seconds:>9,.0f} {ratio:>11} {cpu_ratio:>7} "
            f"{c.peak_rss_bytes / GIB:>7.2f} G {c.peak_temp_bytes / 2**20:>7,.0f} M "
            f"{input_bytes / 2**20:>6,.0f} M\n"
        )
    verdicts = []
    for name, goal in GOALS.items():
        contender = next((c for c in contenders if c.name == name), None)
        if contender is not None:
            ratio = contender.seconds / staging.seconds
            met = "met" if ratio >= goal else "not met"
            verdicts.append(f"{ratio:.2f}x {name} (goal {goal:g}x: {met})")
    temp_share = staging.peak_temp_bytes / input_bytes
    out.write(
        f"{'':>11} staging is {', '.join(verdicts)}; peak RSS "
        f"{staging.peak_rss_bytes / GIB:.2f} GiB (goal < 1.5), temp disk {temp_share:.2f}x "
        "its input (goal <= 0.5)\n"
    )
    out.flush()
