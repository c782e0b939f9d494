"""stg_page_views_today: one row per page view of the current Japan-time day, so far. Owner:
platform team.

The intraday twin of stg_page_views, staged the same way from the same lake every three hours
(the intraday refresh), so that authors see today's traffic before the day's final staging at
03:00 JST the next morning. It holds only the current day; bad lines are quarantined by the
day's own staging, not here.
"""

from dataclasses import replace
from datetime import timedelta

import dagster as dg

from theletter_data.automation.policies import INTRADAY_FRESHNESS
from theletter_data.automation.selection import Cadence
from theletter_data.checks import run_table_checks, table_check_specs
from theletter_data.partitions import CurrentDay, current_day
from theletter_data.raw.assets import raw_page_views
from theletter_data.resources.ingest_engine import IngestEngine
from theletter_data.resources.lake import Lake
from theletter_data.resources.pseudonymizer import Pseudonymizer
from theletter_data.resources.warehouse import Warehouse
from theletter_data.retries import ENGINE_PERMANENT_ERRORS, IO_RETRY_POLICY, fail_fast_on
from theletter_data.sizing import INGESTION, WAREHOUSE_POOL
from theletter_data.staging.lines.stage import stage_day
from theletter_data.staging.page_views import PAGE_VIEW_EVENTS, STG_PAGE_VIEWS
from theletter_data.staging.reconciliation import partition_metadata, reconciliation_check
from theletter_data.staging.staged_asset import OWNER, RECONCILIATION

STG_PAGE_VIEWS_TODAY = replace(
    STG_PAGE_VIEWS,
    name="stg_page_views_today",
    grain="one row per page view of the current Japan-time day, so far",
)
PAGE_VIEWS_TODAY = replace(PAGE_VIEW_EVENTS, table=STG_PAGE_VIEWS_TODAY)


@dg.asset(
    name=STG_PAGE_VIEWS_TODAY.name,
    group_name="staging",
    description=__doc__,
    deps=[raw_page_views],
    kinds={"python", "duckdb", "table"},
    owners=[OWNER],
    tags=Cadence.INTRADAY.tags,
    metadata=STG_PAGE_VIEWS_TODAY.definition_metadata(),
    retry_policy=IO_RETRY_POLICY,
    op_tags=INGESTION.op_tags,
    pool=WAREHOUSE_POOL,
    freshness_policy=INTRADAY_FRESHNESS,
    check_specs=[
        *table_check_specs(STG_PAGE_VIEWS_TODAY, STG_PAGE_VIEWS_TODAY.name),
        dg.AssetCheckSpec(
            RECONCILIATION,
            asset=STG_PAGE_VIEWS_TODAY.name,
            blocking=True,
            description="Page views read so far = staged + duplicates + bad lines seen, and the "
            "warehouse holds exactly the staged rows.",
        ),
    ],
)
def stg_page_views_today(
    context: dg.AssetExecutionContext,
    config: CurrentDay,
    lake: Lake,
    warehouse: Warehouse,
    ingest_engine: IngestEngine,
    pseudonymizer: Pseudonymizer,
) -> dg.MaterializeResult:
    day = current_day(config.day)
    with fail_fast_on(warehouse.permanent_errors() + ENGINE_PERMANENT_ERRORS):
        staged = stage_day(
            PAGE_VIEWS_TODAY, day, lake=lake, engine=ingest_engine,
            pseudonymizer=pseudonymizer, warehouse=warehouse, only_this_day=True,
        )  # fmt: skip
        checks = run_table_checks(warehouse, STG_PAGE_VIEWS_TODAY, day, day + timedelta(days=1))
        checks.append(reconciliation_check([staged]))
    context.log.info(f"{day} so far: {staged.objects} objects, {staged.staged} page views")
    return dg.MaterializeResult(
        # `quarantined`: bad lines seen so far, which the day's own staging quarantines.
        metadata={**partition_metadata(staged), "day": str(day), "raw_objects": staged.objects},
        check_results=checks,
    )
