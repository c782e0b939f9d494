"""The asset every app export's staged table is: stage each snapshot of the run's window (and,
for a table staged as changes, re-derive the next staged day's), check what was written, report
where every exported row went. The exports are declared in staging/app_exports.py.
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
from theletter_data.staging.snapshot_staging import AppExport, StagedSnapshot, stage_snapshots
from theletter_data.staging.staged_asset import staged_table_asset


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
    if figures := change_figures(s):
        text += (
            f"; {figures['unchanged']} unchanged, {figures['opened']} versions opened "
            f"({figures['new']} new), {figures['closed']} closed ({figures['deleted']} deleted)"
        )
    return text


def snapshot_metadata(s: StagedSnapshot) -> dict[str, object]:
    """One snapshot's own figures, on its partition's materialization (not the run's sums)."""
    return {
        **partition_metadata(s),
        "conflicting_duplicates": s.conflicting_duplicates,
        "extra_columns": dg.MetadataValue.json(s.extra_columns),
        "missing_optional_columns": dg.MetadataValue.json(s.missing_optional_columns),
        **change_figures(s),
    }


def change_figures(s: StagedSnapshot) -> dict[str, int]:
    """Staged as changes: the keys unchanged, the versions opened and closed, and of those the new
    and the deleted ones; empty for a table staged whole."""
    if s.changes is None:
        return {}
    c = s.changes
    return {
        "unchanged": c["unchanged"],
        "opened": c["new"] + c["changed"],
        "closed": c["changed"] + c["deleted"],
        "new": c["new"],
        "deleted": c["deleted"],
    }
