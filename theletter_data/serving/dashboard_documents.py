"""newsletter_dashboard_documents: the JSON document behind each author's in-app dashboard,
published to the lake's `serving/v1/` prefix. Owner: creator-experience team.

The web app reads `serving/v1/newsletters/<newsletter_id>.json` (S3 in production) instead of
querying the warehouse on every page view: last 30 and 90 days of traffic, traffic sources,
the email funnel of recent posts, subscriber growth and cohort retention: the sections the
metrics declare (serving/sections.py), whose inputs are this asset's. The JSON Schema is
published beside them (`serving/v1/schema.json`); only documents whose numbers changed are
rewritten. A partition publishes the numbers as of its last day. A newsletter whose
id is not a valid id (`theletter_data.ids`; staging quarantines those) gets no document: it is
named by the `every_document_published` check, and the others are published.
"""

from datetime import timedelta

import dagster as dg

from theletter_data.automation.policies import DAILY_FRESHNESS, after_inputs
from theletter_data.automation.selection import Cadence
from theletter_data.metrics.metric_asset import AUTHOR_DASHBOARD
from theletter_data.partitions import daily_partitions, date_bounds
from theletter_data.resources.lake import Lake
from theletter_data.resources.warehouse import Warehouse
from theletter_data.retries import IO_RETRY_POLICY, fail_fast_on
from theletter_data.serving.documents import build_documents
from theletter_data.serving.publish import MANIFEST_KEY, PREFIX, SCHEMA_KEY, publish
from theletter_data.serving.registry import published_sections
from theletter_data.sizing import WAREHOUSE_POOL, WAREHOUSE_SQL
from theletter_data.staging.app_exports import stg_newsletters

PUBLISHED_CHECK = "every_document_published"


def _inputs() -> list[dg.AssetDep]:
    """The newsletters, and what the declared sections read: each metric (a metric of weeks at
    its newest measured week, whatever the day) and their other inputs, once each."""
    deps: dict[dg.AssetKey, dg.AssetDep] = {}
    sections = [dep for published in published_sections() for dep in published.deps()]
    for dep in [dg.AssetDep(stg_newsletters), *sections]:
        known = deps.setdefault(dep.asset_key, dep)
        if known.partition_mapping != dep.partition_mapping:
            raise ValueError(f"two sections read {dep.asset_key.to_user_string()} differently")
    return list(deps.values())


@dg.asset(
    partitions_def=daily_partitions,
    group_name="serving",
    description=__doc__,
    kinds={"python", "json", "s3"},
    owners=[AUTHOR_DASHBOARD],
    tags=Cadence.DAILY.tags,
    deps=_inputs(),
    backfill_policy=dg.BackfillPolicy.single_run(),
    automation_condition=after_inputs(timedelta(days=1)),
    freshness_policy=DAILY_FRESHNESS,
    retry_policy=IO_RETRY_POLICY,
    op_tags=WAREHOUSE_SQL.op_tags,
    pool=WAREHOUSE_POOL,  # it only reads, but locally that takes the DuckDB file's lock too
    metadata={
        "lake_prefix": f"{PREFIX}/newsletters/<newsletter_id>.json",
        "manifest": MANIFEST_KEY,
        "schema": SCHEMA_KEY,
        "sections": dg.MetadataValue.json([p.section.name for p in published_sections()]),
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
