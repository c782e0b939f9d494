"""Staged snapshots of the app database: stg_newsletters, stg_posts, stg_subscriptions.

Each day's export is a full snapshot taken after the Japan-time day closed, staged as that day's
partition (`snapshot_date`): re-running a day rebuilds exactly that snapshot. The export is
judged before its rows are read (staging/export_snapshot.py): a missing required column, an
optional column that the previous snapshot had, or a snapshot shrunk beyond
`IngestEngine.min_snapshot_share` of the previous one fails the staging at once, naming the
export. An optional column absent from every snapshot so far is staged as NULL; extra columns
are ignored and reported, so a schema change in the app is visible.

Rows without their key, with an id that is not a valid id (`theletter_data.ids`:
`invalid_id:<column>`), and posts or subscriptions of a newsletter the day's newsletters export
does not have, are quarantined. Several copies of one key keep exactly one, whatever the files'
order: the copy with the newest `updated_at` (a copy without one loses), then, among copies
updated at the same instant, the one whose staged values, compared column by column in the
table's order, are greatest (NULL least). Copies that differ are counted as
`conflicting_duplicates`.
"""

from dataclasses import dataclass, field
from datetime import date, timedelta

import dagster as dg
import duckdb
import pyarrow as pa

from theletter_data.checks import run_table_checks
from theletter_data.ids import ID_PATTERN
from theletter_data.partitions import day_bounds_utc, days_in
from theletter_data.raw.assets import raw_appdb_exports
from theletter_data.raw.sources import appdb_export_prefix
from theletter_data.resources.ingest_engine import IngestEngine
from theletter_data.resources.lake import Lake
from theletter_data.resources.pseudonymizer import Pseudonymizer
from theletter_data.resources.warehouse import PartitionWrite, Warehouse
from theletter_data.retries import ENGINE_PERMANENT_ERRORS, fail_fast_on
from theletter_data.sizing import SNAPSHOT
from theletter_data.sql import duckdb_params, duckdb_string, read_sql
from theletter_data.staging.export_snapshot import (
    check_size,
    dropped_optional_columns,
    previous_snapshot,
    read_snapshot,
)
from theletter_data.staging.known_newsletters import known_newsletters
from theletter_data.staging.quarantine import QUARANTINE, masked_excerpt_sql
from theletter_data.staging.referrers import SOURCE_CATEGORIES
from theletter_data.staging.referrers import sql_params as referrer_params
from theletter_data.staging.staged_asset import RECONCILIATION, staged_table_asset
from theletter_data.tables import Column, Table


@dataclass(frozen=True)
class AppExport:
    """How one exported app table becomes one staged snapshot table."""

    source_table: str
    table: Table
    required: tuple[str, ...]
    """Export columns without which the snapshot cannot be staged."""
    optional: tuple[str, ...]
    description: str

    @property
    def stream(self) -> str:
        return f"appdb_{self.source_table}"

    @property
    def projection_sql(self) -> str:
        return read_sql(__file__, self.stream)


@dataclass
class StagedSnapshot:
    day: date
    objects: int = 0
    rows_read: int = 0
    staged: int = 0
    duplicates: int = 0
    conflicting_duplicates: int = 0
    """Keys whose copies differ in a staged value (one is kept by the documented rule)."""
    quarantined: int = 0
    extra_columns: list[str] = field(default_factory=list)
    missing_optional_columns: list[str] = field(default_factory=list)
    rows_in_table: int = 0


SIGNUP_COLUMNS = ("signup_post_id", "signup_referrer", "signup_source")
"""Where the reader signed up, as the app records it (docs/lake-layout.md)."""
SIGNUP_SOURCES = ("post", "home", "page", "import")
"""The app's `signup_source`: the site's page the reader signed up on, or an import."""


def _snapshot_column(description: str) -> Column:
    return Column("snapshot_date", "DATE", description)


NEWSLETTERS = AppExport(
    source_table="newsletters",
    required=("newsletter_id", "slug", "created_at"),
    optional=("name", "category", "author_id", "updated_at"),
    description="stg_newsletters: one row per newsletter per snapshot day. Owner: platform team. "
    "The app's newsletters as they were at the end of the Japan-time day.",
    table=Table(
        layer="staging",
        name="stg_newsletters",
        grain="one row per newsletter per snapshot day",
        partition_by="snapshot_date",
        key=("snapshot_date", "newsletter_id"),
        columns=(
            _snapshot_column("Japan-time day at whose end the snapshot was taken."),
            Column("newsletter_id", "STRING", "Newsletter id."),
            Column("slug", "STRING", "Subdomain of the newsletter's site on theletter.jp."),
            Column("name", "STRING", "Display name.", required=False),
            Column("category", "STRING", "Category chosen by the author.", required=False),
            Column("author_id", "STRING", "The author's account id.", required=False),
            Column("created_at", "TIMESTAMP", "When the newsletter was created (UTC)."),
        ),
    ),
)

POSTS = AppExport(
    source_table="posts",
    required=("post_id", "newsletter_id", "status"),
    optional=("title", "published_at", "emailed", "created_at", "updated_at"),
    description="stg_posts: one row per post per snapshot day. Owner: platform team. "
    "Drafts and published posts as they were at the end of the Japan-time day.",
    table=Table(
        layer="staging",
        name="stg_posts",
        grain="one row per post per snapshot day",
        partition_by="snapshot_date",
        key=("snapshot_date", "post_id"),
        cluster_by=("newsletter_id",),
        columns=(
            _snapshot_column("Japan-time day at whose end the snapshot was taken."),
            Column("post_id", "STRING", "Post id."),
            Column("newsletter_id", "STRING", "Newsletter the post belongs to."),
            Column("title", "STRING", "Title.", required=False),
            Column(
                "status", "STRING", "draft or published.", accepted_values=("draft", "published")
            ),
            Column("published_at", "TIMESTAMP", "When it was published (UTC).", required=False),
            Column("emailed", "BOOL", "Sent to the subscribers by email."),
            Column("created_at", "TIMESTAMP", "When the draft was created.", required=False),
        ),
    ),
)

SUBSCRIPTIONS = AppExport(
    source_table="subscriptions",
    required=("subscription_id", "newsletter_id", "email", "subscribed_at"),
    optional=("reader_id", "plan", "unsubscribed_at", "updated_at", *SIGNUP_COLUMNS),
    description="stg_subscriptions: one row per subscription per snapshot day. Owner: platform "
    "team. A reader who leaves and returns has two subscriptions. The address is replaced by "
    "`reader_hash`, the same keyed pseudonym as stg_email_events.recipient_hash, so email "
    "activity can be joined to subscribers without any address in the warehouse. Where the "
    "reader signed up (the app's attribution, docs/lake-layout.md) keeps the referrer's domain "
    "only (a URL can carry personal data) and its traffic source, categorised as page views' "
    "are (staging/referrers.py); an export from before the app recorded it stages NULL.",
    table=Table(
        layer="staging",
        name="stg_subscriptions",
        grain="one row per subscription per snapshot day",
        partition_by="snapshot_date",
        key=("snapshot_date", "subscription_id"),
        cluster_by=("newsletter_id",),
        columns=(
            _snapshot_column("Japan-time day at whose end the snapshot was taken."),
            Column("subscription_id", "STRING", "Subscription id."),
            Column("newsletter_id", "STRING", "Newsletter subscribed to."),
            Column("reader_id", "STRING", "The reader's account id.", required=False),
            Column("reader_hash", "STRING", "HMAC-SHA256 pseudonym of the reader's address."),
            Column("plan", "STRING", "free or paid.", accepted_values=("free", "paid")),
            Column("subscribed_at", "TIMESTAMP", "When the subscription started (UTC)."),
            Column("unsubscribed_at", "TIMESTAMP", "When it ended (UTC).", required=False),
            Column("is_active", "BOOL", "Still subscribed at the end of the snapshot day."),
            Column(
                "signup_source",
                "STRING",
                "Where the reader signed up: post, home, page (another page of the site), "
                "import (added by the author); NULL: not recorded.",
                required=False,
                accepted_values=SIGNUP_SOURCES,
            ),
            Column(
                "signup_post_id",
                "STRING",
                "The post whose page the reader signed up on.",
                required=False,
            ),
            Column(
                "signup_referrer_domain",
                "STRING",
                "Domain (no www) that referred the visit the reader signed up in.",
                required=False,
            ),
            Column(
                "signup_source_category",
                "STRING",
                "That visit's traffic source, as page views are categorised; NULL when the "
                "reader did not sign up on the site.",
                required=False,
                accepted_values=SOURCE_CATEGORIES,
            ),
        ),
    ),
)

APP_EXPORTS = (NEWSLETTERS, POSTS, SUBSCRIPTIONS)


def stage_snapshot(
    export: AppExport,
    day: date,
    *,
    lake: Lake,
    engine: IngestEngine,
    pseudonymizer: Pseudonymizer,
    warehouse: Warehouse,
) -> StagedSnapshot:
    """Replace `day`'s snapshot partition of the staged table from the lake's export."""
    prefix = appdb_export_prefix(export.source_table, day)
    snapshot = read_snapshot(lake, export.source_table, day)
    if snapshot is None:
        raise dg.Failure(
            f"No export of `{export.source_table}` for {day} under `{prefix}` in the lake: "
            "the app's nightly export has not delivered it (yet).",
            allow_retries=True,
        )
    snapshot.require_columns(export.required)
    previous = previous_snapshot(lake, export.source_table, day)
    check_size(snapshot, previous, engine)
    result = StagedSnapshot(day=day, objects=len(snapshot.files))
    result.missing_optional_columns = dropped_optional_columns(
        snapshot, previous, export.optional, engine
    )
    present = snapshot.columns_anywhere
    result.extra_columns = sorted(present - set(export.required) - set(export.optional))
    table = export.table
    carried = [c for c in table.column_names if c != table.partition_by]
    _, snapshot_end = day_bounds_utc(day)
    keys = snapshot.keys
    with engine.session() as con, lake.local_files(keys) as paths:
        con.register(
            "export_files",
            pa.table({"source_object": keys, "path": [str(p) for p in paths]}),
        )
        files = "[" + ", ".join(duckdb_string(str(p)) for p in paths) + "]"
        con.execute(
            f"CREATE TEMP VIEW export_file_rows AS SELECT * FROM read_parquet({files}, "
            "union_by_name = true, filename = true, hive_partitioning = false)"
        )
        columns = [*export.required, *export.optional]
        select = ", ".join(c if c in present else f"NULL AS {c}" for c in columns)
        con.execute(
            f"CREATE TEMP VIEW export_rows AS SELECT f.source_object, {select} "
            "FROM export_file_rows AS r JOIN export_files AS f ON r.filename = f.path"
        )
        known = known_newsletters(lake, day, engine)
        con.register("known_newsletters", known.ids)
        params = {
            **pseudonymizer.sql_params(),
            **referrer_params(),
            "id_pattern": ID_PATTERN,
            "snapshot_end": snapshot_end,
            "check_newsletters": known.checked,
        }
        sql = export.projection_sql
        con.execute(f"CREATE TEMP TABLE projected AS {sql}", duckdb_params(sql, params))
        key = export.table.key[1]
        counts = con.execute(
            "SELECT COUNT(*), COUNT(*) FILTER (reject_reason IS NOT NULL), "
            f"COUNT(DISTINCT {key}) FILTER (reject_reason IS NULL) FROM projected"
        ).fetchall()[0]
        result.rows_read, result.quarantined, result.staged = (int(n) for n in counts)
        result.duplicates = result.rows_read - result.quarantined - result.staged
        (conflicts,) = con.execute(
            f"SELECT COUNT(*) FROM (SELECT {key} FROM projected WHERE reject_reason IS NULL "
            f"GROUP BY {key} HAVING COUNT(DISTINCT row({', '.join(carried)})) > 1)"
        ).fetchall()[0]
        result.conflicting_duplicates = int(conflicts)
        by_object = con.execute(
            "SELECT source_object, string_agg(DISTINCT reject_reason, ', ' ORDER BY "
            "reject_reason), COUNT(*) AS n FROM projected WHERE reject_reason IS NOT NULL "
            "GROUP BY source_object ORDER BY n DESC, source_object"
        ).fetchall()
        engine.check_quarantine_share(
            f"{table.name} {day}", result.rows_read, result.quarantined, by_object
        )
        quarantine = _quarantine_rows(con, export, day)
        staged = con.sql(
            f"SELECT CAST($day AS DATE) AS {table.partition_by}, {', '.join(carried)} "
            f"FROM projected WHERE reject_reason IS NULL "
            f"QUALIFY row_number() OVER (PARTITION BY {key} ORDER BY {_newest_copy_first(carried)})"
            " = 1",
            params={"day": day},
        ).to_arrow_reader()
        next_day = day + timedelta(days=1)
        written = warehouse.replace(
            [
                PartitionWrite(table, day, next_day, rows=staged),
                PartitionWrite(
                    QUARANTINE, day, next_day, rows=quarantine, scope={"stream": export.stream}
                ),
            ]
        )
    result.rows_in_table = written[table.qualified_name]
    return result


def _newest_copy_first(carried: list[str]) -> str:
    """The order in which copies of one key are kept (the first): documented in the module's
    docstring; it names no file or line, so the files' order cannot change the choice."""
    return ", ".join(f"{c} DESC NULLS LAST" for c in ["updated_at", *carried])


def _quarantine_rows(con: duckdb.DuckDBPyConnection, export: AppExport, day: date) -> pa.Table:
    return con.sql(
        f"""
        SELECT CAST($day AS DATE) AS event_date, $stream AS stream, source_object,
            sha256(raw_line) AS line_sha256, reject_reason AS reason,
            COUNT(*) AS occurrences, CAST(NULL AS BIGINT) AS line_number,
            {masked_excerpt_sql("MIN(raw_line)")} AS excerpt
        FROM projected WHERE reject_reason IS NOT NULL
        GROUP BY source_object, line_sha256, reason
        """,
        params={"day": day, "stream": export.stream},
    ).to_arrow_table()


def app_export_asset(export: AppExport) -> dg.AssetsDefinition:
    table = export.table

    @staged_table_asset(
        table,
        upstream=raw_appdb_exports[export.source_table],
        description=export.description,
        reconciliation="Per snapshot: exported rows = staged + duplicates + quarantined, and "
        "the warehouse holds exactly the staged rows.",
        size=SNAPSHOT,
    )
    def _asset(
        context: dg.AssetExecutionContext,
        lake: Lake,
        warehouse: Warehouse,
        ingest_engine: IngestEngine,
        pseudonymizer: Pseudonymizer,
    ) -> dg.MaterializeResult:
        with fail_fast_on(warehouse.permanent_errors() + ENGINE_PERMANENT_ERRORS):
            snapshots = [
                stage_snapshot(
                    export,
                    day,
                    lake=lake,
                    engine=ingest_engine,
                    pseudonymizer=pseudonymizer,
                    warehouse=warehouse,
                )
                for day in days_in(context.partition_time_window)
            ]
            first, last = snapshots[0].day, snapshots[-1].day
            checks = run_table_checks(warehouse, table, first, last + timedelta(days=1))
        for s in snapshots:
            context.log.info(
                f"{table.name} {s.day}: {s.rows_read} rows read, {s.staged} staged, "
                f"{s.duplicates} duplicates ({s.conflicting_duplicates} keys with differing "
                f"copies), {s.quarantined} quarantined"
            )
            context.add_asset_metadata(snapshot_metadata(s), partition_key=s.day.isoformat())
        unbalanced = [str(s.day) for s in snapshots if not _reconciles(s)]
        checks.append(
            dg.AssetCheckResult(
                check_name=RECONCILIATION,
                passed=not unbalanced,
                metadata={"days_not_balanced": dg.MetadataValue.json(unbalanced)},
            )
        )
        cost = warehouse.take_costs()
        return dg.MaterializeResult(
            metadata={
                **(cost.metadata() if cost is not None else {}),
                # The run's, as text (not plotted): each snapshot's figures are its own.
                "run_window": f"[{first}, {last + timedelta(days=1)}): {len(snapshots)} snapshots",
            },
            check_results=checks,
        )

    return _asset


def _reconciles(s: StagedSnapshot) -> bool:
    return s.rows_read == s.staged + s.duplicates + s.quarantined and s.rows_in_table == s.staged


def snapshot_metadata(s: StagedSnapshot) -> dict[str, object]:
    """One snapshot's own figures, on its partition's materialization (not the run's sums)."""
    return {
        "dagster/row_count": s.rows_in_table,
        "rows_read": s.rows_read,
        "duplicates_dropped": s.duplicates,
        "conflicting_duplicates": s.conflicting_duplicates,
        "quarantined": s.quarantined,
        "reconciled": _reconciles(s),
        "extra_columns": dg.MetadataValue.json(s.extra_columns),
        "missing_optional_columns": dg.MetadataValue.json(s.missing_optional_columns),
    }


stg_newsletters, stg_posts, stg_subscriptions = (app_export_asset(e) for e in APP_EXPORTS)
