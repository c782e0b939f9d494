"""appdb_extract: the app database's three tables read straight from MySQL into the lake, in the
nightly export's layout, so that the `raw_appdb_*` assets become materializable and everything
downstream (the raw-arrivals sensor, staging) works unchanged. Used when the deployment
configures `THELETTER_APPDB_HOST`; otherwise the export job fills the lake and these assets are
external. Owner: platform team.

A partition is the Japan-time day whose end the snapshot stands for; its schedule runs just
after midnight JST. The database holds only its present state, so a partition cannot be rebuilt
for a past day's state: re-running an old partition writes the present state under that day.
"""

from datetime import timedelta

import dagster as dg

from theletter_data.automation.selection import Cadence
from theletter_data.extract.app_database import AppDatabase
from theletter_data.extract.snapshots import SOURCE_TABLES, extract_snapshot
from theletter_data.partitions import TIMEZONE, daily_partitions, date_bounds
from theletter_data.raw.assets import raw_appdb_exports
from theletter_data.resources.lake import Lake
from theletter_data.retries import IO_RETRY_POLICY
from theletter_data.sizing import SNAPSHOT, max_runtime


class ExtractConfig(dg.Config):
    full_refresh: bool = False
    """Read every row and ignore earlier snapshots (after a schema change or a restore)."""


def _spec(table: str) -> dg.AssetSpec:
    external = raw_appdb_exports[table]
    return dg.AssetSpec(
        key=external.key,
        group_name="raw",
        description=f"The app's `{table}` table read from MySQL (appdb_extract), written as "
        f"`appdb/{table}/dt=YYYY-MM-DD/part-00000.parquet` like the nightly export. "
        "Owner: platform team.",
        kinds={"mysql", "parquet", "s3"},
        owners=["team:platform"],
        tags=Cadence.DAILY.tags,
        metadata=dict(external.metadata),
    )


@dg.multi_asset(
    name="appdb_extract",
    specs=[_spec(table) for table in SOURCE_TABLES],
    partitions_def=daily_partitions,
    can_subset=True,
    op_tags=SNAPSHOT.op_tags,
    retry_policy=IO_RETRY_POLICY,
    description=__doc__,
)
def appdb_extract(
    context: dg.AssetExecutionContext, config: ExtractConfig, app_database: AppDatabase, lake: Lake
):
    first, _ = date_bounds(context.partition_time_window)
    for key in sorted(context.selected_asset_keys, key=lambda k: k.to_user_string()):
        table = SOURCE_TABLES[key.path[-1].removeprefix("raw_appdb_")]
        done = extract_snapshot(app_database, lake, table, first, full_refresh=config.full_refresh)
        context.log.info(
            f"{table.name} {first}: {done.snapshot_rows} rows ({done.changed_rows} read as "
            f"changed, {done.deleted_rows} deleted, from {done.base_day or 'nothing'})"
        )
        yield dg.MaterializeResult(
            asset_key=key,
            metadata={
                "dagster/row_count": done.snapshot_rows,
                "changed_rows_read": done.changed_rows,
                "deleted_rows": done.deleted_rows,
                "base_snapshot": str(done.base_day or "none (full read)"),
                "batches": done.batches,
                "resumed_after_batches": done.resumed_after_batches,
            },
        )


appdb_extract_job = dg.define_asset_job(
    "appdb_extract_job",
    selection=dg.AssetSelection.assets(appdb_extract),
    description="Read the app's tables from MySQL into the lake as one day's snapshot.",
    # Nightly at 00:20 JST, incremental and resumable: a hung read fails by 01:20, then retries.
    tags=max_runtime(timedelta(hours=1)),
)


def appdb_extract_schedule(status: dg.DefaultScheduleStatus) -> dg.ScheduleDefinition:
    """Yesterday's snapshot, 20 minutes after midnight JST (the nightly export's slot)."""
    return dg.build_schedule_from_partitioned_job(
        appdb_extract_job,
        minute_of_hour=20,
        name="appdb_extract_schedule",
        default_status=status,
        description=f"The app tables' snapshot of the day that just ended ({TIMEZONE}).",
    )
