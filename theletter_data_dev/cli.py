"""The development tools' commands of `theletter-data`: `demo`, `generate` and `benchmark`.

The runtime CLI (theletter_data/cli.py) adds them from here when this package is installed (a
checkout), so that it names none of their options; the tools themselves are imported only when
their command runs, so that the platform's own commands start as fast without them.
"""

from __future__ import annotations

import argparse
import os
import sys
from datetime import date
from typing import TYPE_CHECKING, TypeAlias

import dagster as dg

from theletter_data.settings import load_settings

if TYPE_CHECKING:
    Subcommands: TypeAlias = argparse._SubParsersAction[argparse.ArgumentParser]


def add_commands(commands: Subcommands) -> None:
    add_demo(commands)
    add_generate(commands)
    add_benchmark(commands)


# -- demo -----------------------------------------------------------------------------------


def add_demo(commands: Subcommands) -> None:
    demo = commands.add_parser(
        "demo",
        help="Generate a demo lake if there is none, materialize the whole graph for its days "
        "on the embedded default, print a per-newsletter summary.",
    )
    _world_options(demo)
    demo.set_defaults(run=demo_command)


def demo_command(args: argparse.Namespace) -> int:
    from theletter_data_dev.demo import DemoRange, run_demo

    if (args.start is None) != (args.end is None):
        raise SystemExit("theletter-data demo: --start and --end go together")
    if args.start and args.end < args.start:
        raise SystemExit(f"theletter-data demo: --end {args.end} is before --start {args.start}")
    settings = load_settings()
    requested = DemoRange(args.start, args.end) if args.start and args.end else None
    run_demo(
        settings, _instance(), sys.stdout, requested=requested,
        newsletters=args.newsletters, readers=args.readers, seed=args.seed, workers=args.workers,
    )  # fmt: skip
    return 0


def _instance() -> dg.DagsterInstance:
    """The Dagster instance of DAGSTER_HOME, so runs show in `dagster dev`; else a temporary one
    on disk (not in memory: the code location's server that creates the runs must reach it).
    `DagsterInstance.get()` fails exactly when DAGSTER_HOME is unset or empty."""
    if not os.environ.get("DAGSTER_HOME"):
        instance = dg.DagsterInstance.local_temp()
        print(
            "DAGSTER_HOME is not set: runs are recorded in a temporary instance "
            f"({instance.root_directory})."
        )
        return instance
    return dg.DagsterInstance.get()


# -- generate -------------------------------------------------------------------------------


def add_generate(commands: Subcommands) -> None:
    generate = commands.add_parser(
        "generate", help="Write a realistic demo lake (deterministic by seed)."
    )
    _world_options(generate)
    generate.add_argument("--lake", help="Lake URL or folder (default: the environment's lake).")
    generate.set_defaults(run=generate_command)


def generate_command(args: argparse.Namespace) -> int:
    from theletter_data.resources import resources_for
    from theletter_data.resources.lake import Lake
    from theletter_data_dev.demo import default_range
    from theletter_data_dev.generate import generate_lake

    settings = load_settings()
    lake = Lake(url=args.lake) if args.lake else resources_for(settings)["lake"]
    fallback = default_range()
    report = generate_lake(
        lake, args.start or fallback.start, args.end or fallback.end,
        newsletters=args.newsletters, readers=args.readers, seed=args.seed, workers=args.workers,
    )  # fmt: skip
    print(report.summary())
    return 0


def _world_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--start", type=date.fromisoformat, help="First day (YYYY-MM-DD, JST).")
    parser.add_argument("--end", type=date.fromisoformat, help="Last day (inclusive).")
    parser.add_argument("--newsletters", type=int, default=40)
    parser.add_argument("--readers", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--workers", type=int, default=2, help="Generator processes.")


# -- benchmark ------------------------------------------------------------------------------


def add_benchmark(commands: Subcommands) -> None:
    benchmark = commands.add_parser(
        "benchmark",
        help="Measure ingestion speed and memory against baselines, the cost of a daily refresh "
        "as history grows and the fixed cost of a run; print the tables (takes 20-30 minutes).",
    )
    benchmark.add_argument(
        "--sizes", default="1000000,10000000", help="Events per day of the ingestion lakes."
    )
    benchmark.add_argument(
        "--root", help="Where lakes and scratch data go (default: <data dir>/benchmark)."
    )
    benchmark.add_argument(
        "--year-scale", type=float, default=1.0,
        help="Size of the year's backfill part: 1 is the README's 37.5M-event year, 0.05 a "
        "quick run, 0 leaves it out.",
    )  # fmt: skip
    benchmark.add_argument(
        "--no-demo", action="store_true", help="Leave out the demo's four weeks (a few minutes)."
    )
    benchmark.set_defaults(run=benchmark_command)


def benchmark_command(args: argparse.Namespace) -> int:
    from pathlib import Path

    from theletter_data_dev.benchmark.run import run_benchmark

    settings = load_settings()
    root = Path(args.root) if args.root else settings.data_dir / "benchmark"
    sizes = [int(size) for size in args.sizes.split(",")]
    run_benchmark(
        root.resolve(), sys.stdout, sizes=sizes, year_scale=args.year_scale, demo=not args.no_demo
    )
    return 0
