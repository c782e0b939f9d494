"""`theletter-data benchmark`: build the lakes, measure everything in one run, print the tables.

Every speed figure is also given as a ratio to another measured in the same run, on the same
files: the machines are noisy, ratios much less so.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

from theletter_data_dev.benchmark.contenders import CONTENDERS
from theletter_data_dev.benchmark.incremental import incremental_cost, orchestration_overhead
from theletter_data_dev.benchmark.lakes import DAY, scaled_day, small_day, template_day
from theletter_data_dev.benchmark.measure import Measured, run_contender

PANDAS_MAX_EVENTS = 1_000_000
"""pandas holds the whole day in memory (3 GB at a million events); it is not run beyond."""
GIB = 2**30


def run_benchmark(
    root: Path,
    out: TextIO,
    sizes: Sequence[int] = (1_000_000, 10_000_000),
    histories: Sequence[int] = (7, 30, 90, 365),
) -> None:
    root.mkdir(parents=True, exist_ok=True)
    out.write(f"Benchmark lakes and scratch space under {root}\n\n")
    out.write("1-2. Ingestion of one day of SES events (gzip JSON lines -> DuckDB table)\n")
    out.write(
        f"{'events':>11} {'contender':<17} {'rows':>11} {'s':>7} {'rows/s':>9} "
        f"{'staging is':>11} {'peak RSS':>9} {'temp disk':>10} {'input':>8}\n"
    )
    for events in sizes:
        lake = scaled_day(root / f"ses-{events}", events)
        input_bytes = sum(p.stat().st_size for p in (root / f"ses-{events}").rglob("*.gz"))
        results: dict[str, Measured] = {}
        for name in CONTENDERS:
            if name == "pandas" and events > PANDAS_MAX_EVENTS:
                continue
            results[name] = run_contender(name, Path(lake.url), root / "work")
        staging = results["staging"]
        for name, m in results.items():
            ratio = "" if name == "staging" else f"{m.seconds / staging.seconds:.2f}x"
            out.write(
                f"{events:>11,} {name:<17} {m.rows:>11,} {m.seconds:>7.1f} "
                f"{m.rows / m.seconds:>9,.0f} {ratio:>11} {m.peak_rss_bytes / GIB:>7.2f} G "
                f"{m.peak_temp_bytes / 2**20:>7,.0f} M {input_bytes / 2**20:>6,.0f} M\n"
            )
        out.flush()
    out.write(
        "'staging is': how many times faster staging is than the contender (its time / "
        "staging's).\n\n"
    )

    out.write("3. Refreshing one day's metrics with history already loaded\n")
    out.write(f"{'history':>8} {'staged rows':>12} {'s':>7} {'MB read':>8} {'vs 7 days':>10}\n")
    refreshes = incremental_cost(template_day(root), root / "incremental", DAY, tuple(histories))
    first = refreshes[0]
    for r in refreshes:
        out.write(
            f"{r.history_days:>7}d {r.staged_rows:>12,} {r.seconds:>7.2f} "
            f"{r.bytes_read / 2**20:>8.0f} {r.seconds / first.seconds:>9.2f}x\n"
        )
    out.write("\n4. One whole daily run for one partition of a small lake\n")
    overhead = orchestration_overhead(small_day(root / "small"), root / "overhead", DAY)
    out.write(f"  in process (execute_in_process):  {overhead.in_process_seconds:6.1f} s\n")
    out.write(f"  from the CLI (dagster job execute): {overhead.cli_seconds:6.1f} s\n")
    out.flush()
