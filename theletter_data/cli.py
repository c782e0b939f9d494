"""`theletter-data`: the platform's commands (`demo`, `generate`, `preview`, `trace`,
`restore-archived`, `benchmark`, `bigquery-setup`)."""

from __future__ import annotations

import argparse
import sys
from datetime import date, datetime

import dagster as dg
from dagster._core.errors import DagsterHomeNotSetError

from theletter_data.partitions import TOKYO
from theletter_data.settings import Settings, load_settings

TRACE_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
"""The app logs' levels (staging/app_logs.py's LEVELS; kept here so that parsing the command
line imports no staging code; a test holds them equal)."""


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

    preview = commands.add_parser(
        "preview",
        help="Render one newsletter's published dashboard document as a self-contained HTML "
        "page (what its author sees).",
    )
    preview.add_argument("newsletter_id")
    preview.add_argument("--out", help="HTML file to write (default: <data dir>/previews/).")
    preview.add_argument("--lake", help="Lake URL or folder (default: the environment's lake).")

    trace = commands.add_parser(
        "trace",
        help="Follow one request id, or one newsletter, across every service's logs in a time "
        "window and print the events in order.",
    )
    subject = trace.add_mutually_exclusive_group(required=True)
    subject.add_argument("--request-id")
    subject.add_argument("--newsletter", help="Newsletter id.")
    trace.add_argument("--day", type=date.fromisoformat, help="A Japan-time day (YYYY-MM-DD).")
    trace.add_argument("--from", dest="start", type=_moment, help="Start, ISO time (JST if naive).")
    trace.add_argument("--to", dest="end", type=_moment, help="End (exclusive).")
    trace.add_argument(
        "--level", default="DEBUG", type=str.upper, choices=TRACE_LEVELS,
        help="Lowest level shown (default DEBUG; any case).",
    )  # fmt: skip

    restore = commands.add_parser(
        "restore-archived",
        help="Ask S3 to restore the raw objects of a range of days that lifecycle rules moved to "
        "Glacier Deep Archive, so that a backfill can read them.",
    )
    restore.add_argument("--from", dest="first", type=date.fromisoformat, required=True)
    restore.add_argument("--to", dest="last", type=date.fromisoformat, required=True)
    restore.add_argument("--days", type=int, default=7, help="How long the copies stay.")
    restore.add_argument("--tier", default="Bulk", choices=("Bulk", "Standard"))

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

    commands.add_parser(
        "bigquery-setup",
        help="Create the production BigQuery datasets (one per layer) if missing. Run once per "
        "deployment by an administrator with their own credentials: runs cannot create "
        "datasets (deploy/README.md, BigQuery side).",
    )

    args = parser.parse_args(argv)
    settings = load_settings()
    if args.command == "bigquery-setup":
        return _bigquery_setup(settings)
    if args.command == "benchmark":
        from pathlib import Path

        from theletter_data_dev.benchmark.run import run_benchmark

        root = Path(args.root) if args.root else settings.data_dir / "benchmark"
        sizes = [int(size) for size in args.sizes.split(",")]
        run_benchmark(root.resolve(), sys.stdout, sizes=sizes, year_scale=args.year_scale)
        return 0
    if args.command == "preview":
        return _preview(args, settings)
    if args.command == "trace":
        return _trace(args, settings)
    if args.command == "restore-archived":
        return _restore_archived(args, settings)
    if args.command == "demo":
        from theletter_data_dev.demo import DemoRange, run_demo

        requested = DemoRange(args.start, args.end) if args.start and args.end else None
        run_demo(
            settings, _instance(), sys.stdout, requested=requested,
            newsletters=args.newsletters, readers=args.readers, seed=args.seed,
            workers=args.workers,
        )  # fmt: skip
        return 0

    from theletter_data.resources import resources_for
    from theletter_data.resources.lake import Lake
    from theletter_data_dev.demo import default_range
    from theletter_data_dev.generate import generate_lake

    lake = Lake(url=args.lake) if args.lake else resources_for(settings)["lake"]
    fallback = default_range()
    report = generate_lake(
        lake, args.start or fallback.start, args.end or fallback.end,
        newsletters=args.newsletters, readers=args.readers, seed=args.seed, workers=args.workers,
    )  # fmt: skip
    print(report.summary())
    return 0


def _preview(args: argparse.Namespace, settings: Settings) -> int:
    """Render one document; the id is checked before any path is built from it, so the page is
    written only inside the previews folder (or exactly at `--out`)."""
    from pathlib import Path

    from theletter_data.resources import resources_for
    from theletter_data.resources.lake import Lake
    from theletter_data.serving.preview import render_dashboard
    from theletter_data.serving.publish import document_key, read_document

    try:
        key = document_key(args.newsletter_id)
    except ValueError as error:
        print(f"theletter-data preview: {error}", file=sys.stderr)
        return 2
    lake = Lake(url=args.lake) if args.lake else resources_for(settings)["lake"]
    if not lake.exists(key):
        print(f"No document at {key} in {lake.url}: run the demo (or the publish_dashboards "
              "job) first.", file=sys.stderr)  # fmt: skip
        return 1
    html = render_dashboard(read_document(lake, args.newsletter_id))
    out = Path(args.out or settings.data_dir / "previews" / f"{args.newsletter_id}.html")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(html)
    print(out.resolve())
    return 0


def _trace(args: argparse.Namespace, settings: Settings) -> int:
    from theletter_data.partitions import day_bounds_utc
    from theletter_data.resources import resources_for
    from theletter_data.resources.duckdb_warehouse import DuckDBWarehouse
    from theletter_data.tracing import format_trace, trace

    if args.day and not (args.start or args.end):
        start, end = day_bounds_utc(args.day)
    elif args.start and args.end and not args.day:
        start, end = args.start, args.end
    else:
        print("Give the window as --day, or as --from and --to.", file=sys.stderr)
        return 2
    warehouse = resources_for(settings)["warehouse"]
    if isinstance(warehouse, DuckDBWarehouse):  # a reader: never creates the file, nor writes it
        warehouse = DuckDBWarehouse(path=warehouse.path, read_only=True)
    try:
        events = trace(
            warehouse, start, end, request_id=args.request_id, newsletter_id=args.newsletter,
            min_level=args.level,
        )  # fmt: skip
    except (dg.Failure, TimeoutError, *warehouse.permanent_errors()) as error:
        print(f"Cannot trace: {error}", file=sys.stderr)
        return 1
    subject = f"request {args.request_id}" if args.request_id else f"newsletter {args.newsletter}"
    window = " to ".join(f"{m.astimezone(TOKYO):%Y-%m-%d %H:%M}" for m in (start, end))
    print(f"{len(events):,} log events of {subject}, {window} JST" + (":" if events else "."))
    if events:
        print(format_trace(events))
    return 0


def _restore_archived(args: argparse.Namespace, settings: Settings) -> int:
    from theletter_data.archive import raw_prefixes, restore
    from theletter_data.resources import resources_for

    lake = resources_for(settings)["lake"]
    if lake.is_local:
        print("The lake is a local folder: nothing is ever archived.", file=sys.stderr)
        return 2
    result = restore(
        lake.s3_client(), lake.bucket, lake.root_in_bucket, raw_prefixes(args.first, args.last),
        days=args.days, tier=args.tier,
    )  # fmt: skip
    print(
        f"{args.first} to {args.last}: restore requested for {len(result.requested):,} objects, "
        f"{len(result.in_progress):,} already being restored, {result.already_readable:,} "
        f"readable as they are. Stage the days once S3 reports the restores done ({args.tier}: "
        f"{'up to 48 h' if args.tier == 'Bulk' else 'up to 12 h'}); copies stay {args.days} days."
    )
    return 0


def _bigquery_setup(settings: Settings) -> int:
    from theletter_data.definitions import build_definitions
    from theletter_data.resources import resources_for
    from theletter_data.resources.bigquery_warehouse import BigQueryWarehouse

    configured = resources_for(settings)["warehouse"]
    if not isinstance(configured, BigQueryWarehouse):
        print(
            "bigquery-setup creates the production datasets: run it with "
            "THELETTER_ENV=production and the THELETTER_BIGQUERY_* settings.",
            file=sys.stderr,
        )
        return 2
    # Every table asset names its `layer.table`; each layer is a dataset.
    layers = sorted(
        {
            str(node.metadata["dagster/table_name"]).split(".")[0]
            for node in build_definitions(settings).resolve_asset_graph().asset_nodes
            if "dagster/table_name" in node.metadata
        }
    )
    warehouse = configured.process_config_and_initialize()  # resolves the EnvVar settings
    for dataset, created in warehouse.create_datasets(layers).items():
        print(f"{dataset}: {'created' if created else 'exists'} ({warehouse.location})")
    print("Grant the run identity roles/bigquery.dataEditor on each dataset (deploy/README.md).")
    return 0


def _moment(text: str) -> datetime:
    """An ISO date-time; without a zone it is Japan time, as the platform's days are."""
    moment = datetime.fromisoformat(text)
    return moment if moment.tzinfo else moment.replace(tzinfo=TOKYO)


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
