"""`theletter-data`: the platform's commands (`demo`, `generate`, `benchmark`)."""

from __future__ import annotations

import argparse
import sys
from datetime import date

import dagster as dg
from dagster._core.errors import DagsterHomeNotSetError

from theletter_data.settings import load_settings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="theletter-data", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    demo = commands.add_parser(
        "demo",
        help="Generate a demo lake if there is none, materialize the whole graph for its days "
        "on the embedded default, print a per-newsletter summary.",
    )
    _world_options(demo)

    generate = commands.add_parser(
        "generate", help="Write a realistic demo lake (deterministic by seed)."
    )
    _world_options(generate)
    generate.add_argument("--lake", help="Lake URL or folder (default: the environment's lake).")

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

    args = parser.parse_args(argv)
    settings = load_settings()
    if args.command == "benchmark":
        from pathlib import Path

        from theletter_data.benchmark.run import run_benchmark

        root = Path(args.root) if args.root else settings.data_dir / "benchmark"
        sizes = [int(size) for size in args.sizes.split(",")]
        run_benchmark(root.resolve(), sys.stdout, sizes=sizes)
        return 0
    if args.command == "demo":
        from theletter_data.demo import DemoRange, run_demo

        requested = DemoRange(args.start, args.end) if args.start and args.end else None
        run_demo(
            settings, _instance(), sys.stdout, requested=requested,
            newsletters=args.newsletters, readers=args.readers, seed=args.seed,
            workers=args.workers,
        )  # fmt: skip
        return 0

    from theletter_data.demo import default_range
    from theletter_data.generate import generate_lake
    from theletter_data.resources import resources_for
    from theletter_data.resources.lake import Lake

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


def _instance() -> dg.DagsterInstance:
    """The Dagster instance of DAGSTER_HOME, so runs show in `dagster dev`; else a temporary one."""
    try:
        return dg.DagsterInstance.get()
    except DagsterHomeNotSetError:
        print("DAGSTER_HOME is not set: runs are recorded in a temporary instance.")
        return dg.DagsterInstance.ephemeral()


if __name__ == "__main__":
    raise SystemExit(main())
