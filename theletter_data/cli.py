"""`theletter-data`: the platform's commands (`preview`, `trace`, `restore-archived`,
`bigquery-setup`) and, in a checkout, the development tools (`demo`, `generate`, `benchmark`)."""

from __future__ import annotations

import argparse
import sys
from datetime import date, datetime
from typing import TYPE_CHECKING, TypeAlias

import dagster as dg

from theletter_data.partitions import TOKYO
from theletter_data.settings import load_settings

TRACE_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
"""The app logs' levels (staging/app_logs.py's LEVELS; kept here so that parsing the command
line imports no staging code; a test holds them equal)."""

DEVELOPMENT_COMMANDS = ("demo", "generate", "benchmark")
"""Commands of the development tools (theletter_data_dev/cli.py adds them, with their options,
where that package is installed: a checkout). The production image does not carry them."""

DEVELOPMENT_PACKAGE = "theletter_data_dev"

if TYPE_CHECKING:
    Subcommands: TypeAlias = argparse._SubParsersAction[argparse.ArgumentParser]


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args, unknown = parser.parse_known_args(argv)
    # As parse_args, except that a development tool missing here takes any arguments it had.
    if unknown and args.run is not development_tool_missing:
        parser.error(f"unrecognized arguments: {' '.join(unknown)}")
    return args.run(args)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="theletter-data", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    add_development_commands(commands)
    add_preview(commands)
    add_trace(commands)
    add_restore_archived(commands)
    add_bigquery_setup(commands)
    return parser


# -- the development tools ------------------------------------------------------------------


def add_development_commands(commands: Subcommands) -> None:
    """The development tools' commands from their own package; where it is not installed (the
    production image), commands of the same names that say where the tools are."""
    try:
        from theletter_data_dev.cli import add_commands
    except ModuleNotFoundError as missing:
        if (missing.name or "").split(".")[0] != DEVELOPMENT_PACKAGE:
            raise  # the package is there but something it imports is not: a real error
        for name in DEVELOPMENT_COMMANDS:
            command = commands.add_parser(
                name, help="A development tool: available in a checkout, not installed here."
            )
            command.set_defaults(run=development_tool_missing)
        return
    add_commands(commands)


def development_tool_missing(args: argparse.Namespace) -> int:
    print(
        f"theletter-data {args.command} is a development tool: it is available in a checkout "
        f"of theletter-data (`./scripts/setup.sh` installs the package {DEVELOPMENT_PACKAGE}), "
        "not in the production image, which installs the platform alone.",
        file=sys.stderr,
    )
    return 2


# -- preview --------------------------------------------------------------------------------


def add_preview(commands: Subcommands) -> None:
    preview = commands.add_parser(
        "preview",
        help="Render one newsletter's published dashboard document as a self-contained HTML "
        "page (what its author sees).",
    )
    preview.add_argument("newsletter_id")
    preview.add_argument("--out", help="HTML file to write (default: <data dir>/previews/).")
    preview.add_argument("--lake", help="Lake URL or folder (default: the environment's lake).")
    preview.set_defaults(run=preview_command)


def preview_command(args: argparse.Namespace) -> int:
    """Render one document; the id is checked before any path is built from it, so the page is
    written only inside the previews folder (or exactly at `--out`)."""
    from pathlib import Path

    from theletter_data.resources import resources_for
    from theletter_data.resources.lake import Lake
    from theletter_data.serving.preview import render_dashboard
    from theletter_data.serving.publish import document_key, read_document

    settings = load_settings()
    try:
        key = document_key(args.newsletter_id)
    except ValueError as error:
        print(f"theletter-data preview: {error}", file=sys.stderr)
        return 2
    # The environment's lake with its EnvVar settings resolved (production: THELETTER_LAKE_URL).
    lake = (
        Lake(url=args.lake)
        if args.lake
        else resources_for(settings)["lake"].process_config_and_initialize()
    )
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


# -- trace ----------------------------------------------------------------------------------


def add_trace(commands: Subcommands) -> None:
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
    trace.set_defaults(run=trace_command)


def trace_command(args: argparse.Namespace) -> int:
    from theletter_data.partitions import day_bounds_utc
    from theletter_data.resources import resources_for
    from theletter_data.resources.duckdb_warehouse import DuckDBWarehouse
    from theletter_data.tracing import format_trace, trace

    settings = load_settings()
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
    else:  # production: resolve its EnvVar settings (the project, the dataset prefix)
        warehouse = warehouse.process_config_and_initialize()
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


def _moment(text: str) -> datetime:
    """An ISO date-time; without a zone it is Japan time, as the platform's days are."""
    moment = datetime.fromisoformat(text)
    return moment if moment.tzinfo else moment.replace(tzinfo=TOKYO)


# -- restore-archived -----------------------------------------------------------------------


def add_restore_archived(commands: Subcommands) -> None:
    restore = commands.add_parser(
        "restore-archived",
        help="Ask S3 to restore the raw objects of a range of days that lifecycle rules moved to "
        "Glacier Deep Archive, so that a backfill can read them.",
    )
    restore.add_argument("--from", dest="first", type=date.fromisoformat, required=True)
    restore.add_argument("--to", dest="last", type=date.fromisoformat, required=True)
    restore.add_argument("--days", type=int, default=7, help="How long the copies stay.")
    restore.add_argument("--tier", default="Bulk", choices=("Bulk", "Standard"))
    restore.set_defaults(run=restore_archived_command)


def restore_archived_command(args: argparse.Namespace) -> int:
    from theletter_data.archive import raw_prefixes, restore
    from theletter_data.resources import resources_for

    resources = resources_for(load_settings())
    lake = resources["lake"].process_config_and_initialize()  # resolves THELETTER_LAKE_URL
    if lake.is_local:
        print("The lake is a local folder: nothing is ever archived.", file=sys.stderr)
        return 2
    result = restore(
        lake.s3_client(), lake.bucket, lake.root_in_bucket,
        raw_prefixes(args.first, args.last, resources["ingest_engine"].allowed_lateness),
        days=args.days, tier=args.tier,
    )  # fmt: skip
    print(
        f"{args.first} to {args.last}: restore requested for {len(result.requested):,} objects, "
        f"{len(result.in_progress):,} already being restored, {result.already_readable:,} "
        f"readable as they are. Stage the days once S3 reports the restores done ({args.tier}: "
        f"{'up to 48 h' if args.tier == 'Bulk' else 'up to 12 h'}); copies stay {args.days} days."
    )
    return 0


# -- bigquery-setup -------------------------------------------------------------------------


def add_bigquery_setup(commands: Subcommands) -> None:
    setup = commands.add_parser(
        "bigquery-setup",
        help="Create the production BigQuery datasets (one per layer) if missing. Run once per "
        "deployment by an administrator with their own credentials: runs cannot create "
        "datasets (deploy/README.md, BigQuery side).",
    )
    setup.set_defaults(run=bigquery_setup_command)


def bigquery_setup_command(args: argparse.Namespace) -> int:
    from theletter_data.definitions import build_definitions
    from theletter_data.resources import resources_for
    from theletter_data.resources.bigquery_warehouse import BigQueryWarehouse

    settings = load_settings()
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


if __name__ == "__main__":
    raise SystemExit(main())
