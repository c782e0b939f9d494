"""newsletter_dashboard_documents: the JSON document behind each author's in-app dashboard,
published to the lake's `serving/v1/` prefix. Owner: creator-experience team.

The web app reads `serving/v1/newsletters/<newsletter_id>.json` (S3 in production) instead of
querying the warehouse on every page view: last 30 and 90 days of traffic, traffic sources,
the email funnel of recent posts, subscriber growth and cohort retention. The schema is
`theletter_data/serving/newsletter_dashboard.v1.schema.json`; only documents whose numbers
changed are rewritten. A partition publishes the numbers as of its last day. A newsletter whose
id is not a valid id (`theletter_data.ids`; staging quarantines those) gets no document: it is
named by the `every_document_published` check, and the others are published.
"""

from datetime import timedelta

import dagster as dg

from theletter_data.automation.policies import DAILY_FRESHNESS, after_inputs
from theletter_data.automation.selection import Cadence
from theletter_data.metrics.metric_asset import AUTHOR_DASHBOARD, Upstream
from theletter_data.metrics.newsletter_daily_traffic import newsletter_daily_traffic
from theletter_data.metrics.newsletter_subscriber_cohorts import newsletter_subscriber_cohorts
from theletter_data.metrics.newsletter_subscriber_growth import newsletter_subscriber_growth
from theletter_data.metrics.newsletter_traffic_sources import newsletter_traffic_sources
from theletter_data.metrics.post_email_funnel import post_email_funnel
from theletter_data.partitions import daily_partitions, date_bounds
from theletter_data.resources.lake import Lake
from theletter_data.resources.warehouse import Warehouse
from theletter_data.retries import IO_RETRY_POLICY, fail_fast_on
from theletter_data.serving.documents import SERIES_DAYS, build_documents
from theletter_data.serving.publish import MANIFEST_KEY, PREFIX, publish
from theletter_data.sizing import WAREHOUSE_POOL, WAREHOUSE_SQL
from theletter_data.staging.app_exports import stg_newsletters, stg_posts
from theletter_data.staging.page_views import stg_page_views

PUBLISHED_CHECK = "every_document_published"
_SAME_DAY = (newsletter_daily_traffic, newsletter_traffic_sources, newsletter_subscriber_growth)


@dg.asset(
    partitions_def=daily_partitions,
    group_name="serving",
    description=__doc__,
    kinds={"python", "json", "s3"},
    owners=[AUTHOR_DASHBOARD],
    tags=Cadence.DAILY.tags,
    deps=[
        *_SAME_DAY,
        post_email_funnel,
        # The distinct visitors of the last 90 days are counted from the staged page views.
        Upstream(stg_page_views, days_before=SERIES_DAYS - 1).dep(),
        stg_newsletters,
        stg_posts,
        # The newest measured week, whatever the day.
        dg.AssetDep(newsletter_subscriber_cohorts, partition_mapping=dg.LastPartitionMapping()),
    ],
    backfill_policy=dg.BackfillPolicy.single_run(),
    automation_condition=after_inputs(timedelta(days=1)),
    freshness_policy=DAILY_FRESHNESS,
    retry_policy=IO_RETRY_POLICY,
    op_tags=WAREHOUSE_SQL.op_tags,
    pool=WAREHOUSE_POOL,  # it only reads, but locally that takes the DuckDB file's lock too
    metadata={
        "lake_prefix": f"{PREFIX}/newsletters/<newsletter_id>.json",
        "manifest": MANIFEST_KEY,
    },
    check_specs=[
        dg.AssetCheckSpec(
            PUBLISHED_CHECK,
            asset="newsletter_dashboard_documents",
            description="Every newsletter's document was published (none refused for its id).",
        )
    ],
)
def newsletter_dashboard_documents(
    context: dg.AssetExecutionContext, warehouse: Warehouse, lake: Lake
) -> dg.MaterializeResult:
    _, end = date_bounds(context.partition_time_window)
    as_of = end - timedelta(days=1)
    with fail_fast_on(warehouse.permanent_errors()):
        documents = build_documents(warehouse, as_of)
    published = publish(lake, documents, as_of)
    context.log.info(
        f"Dashboards as of {as_of}: {len(published.rewritten)} rewritten, "
        f"{published.unchanged} unchanged, {len(published.newer_kept)} kept (newer numbers), "
        f"{len(published.repaired)} manifest entries repaired"
    )
    if published.refused:
        context.log.error(
            f"{len(published.refused)} document(s) not published, invalid newsletter id: "
            + ", ".join(published.refused[:10])
        )
    metadata: dict[str, object] = {
        "as_of": str(as_of),
        "newsletters": len(documents),
        "rewritten": len(published.rewritten),
        "unchanged": published.unchanged,
        "kept_newer": len(published.newer_kept),
        "rewritten_newsletters": dg.MetadataValue.json(published.rewritten[:100]),
        "refused": len(published.refused),
        "manifest_entries_repaired": dg.MetadataValue.json(published.repaired[:100]),
    }
    if (cost := warehouse.take_costs()) is not None:
        metadata.update(cost.metadata())
    refused = dg.AssetCheckResult(
        check_name=PUBLISHED_CHECK,
        passed=not published.refused,
        metadata={"refused_ids": dg.MetadataValue.json(published.refused[:100])},
    )
    return dg.MaterializeResult(metadata=metadata, check_results=[refused])
