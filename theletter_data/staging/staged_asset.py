"""The decorator every staged table's asset shares: group, partitions, single-run backfills,
retries, owner, container size, table metadata, and the spec's checks plus a blocking
reconciliation check."""

from collections.abc import Callable

import dagster as dg

from theletter_data.automation.policies import DAILY_FRESHNESS
from theletter_data.automation.selection import Cadence
from theletter_data.checks import table_check_specs
from theletter_data.partitions import daily_partitions
from theletter_data.retries import IO_RETRY_POLICY
from theletter_data.sizing import WAREHOUSE_POOL, TaskSize
from theletter_data.tables import Table

RECONCILIATION = "reconciliation"
OWNER = "team:platform"


def staged_table_asset(
    table: Table,
    *,
    upstream: dg.AssetSpec,
    description: str,
    reconciliation: str,
    size: TaskSize,
) -> Callable[..., dg.AssetsDefinition]:
    """`@staged_table_asset(...)`: the asset writing `table` from `upstream` in a task of
    `size`; `reconciliation` says what the asset's reconciliation check compares."""
    return dg.asset(
        name=table.name,
        group_name="staging",
        description=description,
        partitions_def=daily_partitions,
        deps=[upstream],
        kinds={"python", "duckdb", "table"},
        owners=[OWNER],
        tags=Cadence.DAILY.tags,
        metadata=table.definition_metadata(),
        backfill_policy=dg.BackfillPolicy.single_run(),
        retry_policy=IO_RETRY_POLICY,
        op_tags=size.op_tags,
        pool=WAREHOUSE_POOL,
        freshness_policy=DAILY_FRESHNESS,
        check_specs=[
            *table_check_specs(table, table.name),
            dg.AssetCheckSpec(
                RECONCILIATION, asset=table.name, blocking=True, description=reconciliation
            ),
        ],
    )
