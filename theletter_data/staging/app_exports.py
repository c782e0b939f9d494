"""Staged snapshots of the app database: stg_newsletters, stg_posts, stg_subscriptions.

Each day's export is a full snapshot taken after the Japan-time day closed, staged as that day's
partition (`snapshot_date`): re-running a day rebuilds exactly that snapshot. stg_subscriptions
stages only each day's changes from the previous snapshot instead (`valid_from`, an SCD2 table:
staging/snapshot_changes.py says why that stays idempotent and order-independent). The export is
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

from datetime import date, timedelta

import dagster as dg

from theletter_data.checks import run_table_checks
from theletter_data.partitions import days_in
from theletter_data.raw.assets import raw_appdb_exports
from theletter_data.raw.sources import appdb_export_days
from theletter_data.resources.ingest_engine import IngestEngine
from theletter_data.resources.lake import Lake
from theletter_data.resources.pseudonymizer import Pseudonymizer
from theletter_data.resources.warehouse import Warehouse
from theletter_data.retries import ENGINE_PERMANENT_ERRORS, fail_fast_on
from theletter_data.sizing import SNAPSHOT
from theletter_data.staging.reconciliation import (
    partition_metadata,
    reconciliation_check,
    run_metadata,
)
from theletter_data.staging.referrers import SOURCE_CATEGORIES
from theletter_data.staging.snapshot_changes import CHANGES
from theletter_data.staging.snapshot_staging import (
    AppExport,
    StagedSnapshot,
    stage_snapshot,
    stage_snapshots,
)
from theletter_data.staging.staged_asset import staged_table_asset
from theletter_data.tables import Column, Table

__all__ = ["APP_EXPORTS", "NEWSLETTERS", "POSTS", "SUBSCRIPTIONS", "AppExport", "stage_snapshot"]


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
    description="stg_subscriptions: the subscriptions' changes, one row per subscription per "
    "day it was created, changed or deleted in the app's daily snapshot (an SCD2 table: a "
    "version is valid from its `valid_from` to the subscription's next change). Owner: platform "
    "team. Read as of day D with staging/subscriptions_as_of.sql's pattern. A reader who leaves "
    "and returns has two subscriptions. The address is replaced by "
    "`reader_hash`, the same keyed pseudonym as stg_email_events.recipient_hash, so email "
    "activity can be joined to subscribers without any address in the warehouse. Where the "
    "reader signed up (the app's attribution, docs/lake-layout.md) keeps the referrer's domain "
    "only (a URL can carry personal data) and its traffic source, categorised as page views' "
    "are (staging/referrers.py); an export from before the app recorded it stages NULL.",
    changes_only=True,
    table=Table(
        layer="staging",
        name="stg_subscriptions",
        grain="one row per subscription per snapshot day on which it was created, changed or "
        "deleted",
        partition_by="valid_from",
        key=("valid_from", "subscription_id"),
        cluster_by=("newsletter_id",),
        columns=(
            Column(
                "valid_from",
                "DATE",
                "Japan-time day whose end-of-day snapshot first shows this version (or, for a "
                "deletion, first lacks the subscription). The version is valid until the "
                "subscription's next row (exclusive), or still is.",
            ),
            Column("subscription_id", "STRING", "Subscription id."),
            Column("newsletter_id", "STRING", "Newsletter subscribed to."),
            Column("reader_id", "STRING", "The reader's account id.", required=False),
            Column("reader_hash", "STRING", "HMAC-SHA256 pseudonym of the reader's address."),
            Column("plan", "STRING", "free or paid.", accepted_values=("free", "paid")),
            Column("subscribed_at", "TIMESTAMP", "When the subscription started (UTC)."),
            Column("unsubscribed_at", "TIMESTAMP", "When it ended (UTC).", required=False),
            Column(
                "is_active",
                "BOOL",
                "Still subscribed at the end of the day (a version opens when it turns false).",
            ),
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
            Column(
                "change",
                "STRING",
                "new: first snapshot with the subscription; changed: a staged value differs "
                "from the previous snapshot's; deleted: absent from the snapshot (the row "
                "repeats the last version's values and ends it).",
                accepted_values=CHANGES,
            ),
        ),
    ),
)

APP_EXPORTS = (NEWSLETTERS, POSTS, SUBSCRIPTIONS)


def app_export_asset(export: AppExport) -> dg.AssetsDefinition:
    table = export.table

    @staged_table_asset(
        table,
        upstream=raw_appdb_exports[export.source_table],
        description=export.description,
        reconciliation="Per snapshot: exported rows = staged + duplicates + quarantined, and "
        "the warehouse holds exactly the staged rows (staged as changes: staged = unchanged + "
        "new + changed, and the warehouse holds exactly the new, changed and deleted rows).",
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
            staged = dict(lake=lake, engine=ingest_engine, pseudonymizer=pseudonymizer)
            snapshots = stage_snapshots(
                export, days_in(context.partition_time_window), warehouse=warehouse, **staged
            )
            first, last = snapshots[0].day, snapshots[-1].day
            rederived = []
            if export.changes_only and (after := next_staged_day(context, lake, export, last)):
                # Its changes are relative to `last`, whose export may have been re-delivered.
                rederived = stage_snapshots(export, [after], warehouse=warehouse, **staged)
                context.log.info(f"{table.name} {after}: changes re-derived from {last}'s")
            # A day of changes depends on the day before it: the first staged day (every
            # subscription `new`) is no peer of the row-count comparison.
            lookback = 1 if export.changes_only else 0
            checks = run_table_checks(
                warehouse, table, first, last + timedelta(days=1), lookback_days=lookback
            )
        for s in snapshots:
            context.log.info(f"{table.name} {s.day}: {describe(s)}")
            context.add_asset_metadata(snapshot_metadata(s), partition_key=s.day.isoformat())
        snapshots += rederived
        checks.append(reconciliation_check(snapshots))
        cost = warehouse.take_costs()
        return dg.MaterializeResult(
            metadata={
                **(cost.metadata() if cost is not None else {}),
                **run_metadata(snapshots, unit="snapshots"),
            },
            check_results=checks,
        )

    return _asset


def next_staged_day(
    context: dg.AssetExecutionContext, lake: Lake, export: AppExport, last: date
) -> date | None:
    """The next export day after `last`, if its partition is staged already."""
    later = [d for d in appdb_export_days(lake, export.source_table) if d > last]
    if not later:
        return None
    staged = context.instance.get_materialized_partitions(context.asset_key)
    return later[0] if later[0].isoformat() in staged else None


def describe(s: StagedSnapshot) -> str:
    text = (
        f"{s.rows_read} rows read, {s.staged} staged, {s.duplicates} duplicates "
        f"({s.conflicting_duplicates} keys with differing copies), {s.quarantined} quarantined"
    )
    if s.changes is not None:
        c = s.changes
        text += (
            f"; {c['unchanged']} unchanged, {c['new'] + c['changed']} versions opened "
            f"({c['new']} new), {c['changed'] + c['deleted']} closed ({c['deleted']} deleted)"
        )
    return text


def snapshot_metadata(s: StagedSnapshot) -> dict[str, object]:
    """One snapshot's own figures, on its partition's materialization (not the run's sums)."""
    changes = {}
    if s.changes is not None:
        c = s.changes
        changes = {
            "unchanged": c["unchanged"],
            "opened": c["new"] + c["changed"],
            "closed": c["changed"] + c["deleted"],
            "new": c["new"],
            "deleted": c["deleted"],
        }
    return {
        **partition_metadata(s),
        "conflicting_duplicates": s.conflicting_duplicates,
        "extra_columns": dg.MetadataValue.json(s.extra_columns),
        "missing_optional_columns": dg.MetadataValue.json(s.missing_optional_columns),
        **changes,
    }


stg_newsletters, stg_posts, stg_subscriptions = (app_export_asset(e) for e in APP_EXPORTS)
