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

from theletter_data.staging.referrers import SOURCE_CATEGORIES
from theletter_data.staging.snapshot_asset import app_export_asset
from theletter_data.staging.snapshot_changes import CHANGES
from theletter_data.staging.snapshot_staging import AppExport, stage_snapshot
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


stg_newsletters, stg_posts, stg_subscriptions = (app_export_asset(e) for e in APP_EXPORTS)
