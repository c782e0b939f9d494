"""The asset shape shared by every staged Firehose stream: stage each day of the run's window,
check what was written, report where every raw line went."""

from datetime import UTC, datetime, timedelta

import dagster as dg

from theletter_data.checks import log_failed_checks, run_table_checks
from theletter_data.partitions import days_in
from theletter_data.resources.ingest_engine import IngestEngine
from theletter_data.resources.lake import Lake
from theletter_data.resources.pseudonymizer import Pseudonymizer
from theletter_data.resources.warehouse import Warehouse
from theletter_data.retries import ENGINE_PERMANENT_ERRORS, fail_fast_on
from theletter_data.sizing import INGESTION
from theletter_data.staging.arrival_windows import LATE_RECORDS_REPLAY, replay_until
from theletter_data.staging.firehose_loader import (
    FirehoseStaging,
    StagedDay,
    replay_of_late_records,
    stage_days,
)
from theletter_data.staging.staged_asset import RECONCILIATION, staged_table_asset


def firehose_staging_asset(
    staging: FirehoseStaging, *, upstream: dg.AssetSpec, description: str
) -> dg.AssetsDefinition:
    table = staging.table

    @staged_table_asset(
        table,
        upstream=upstream,
        description=description,
        reconciliation="Per day: raw records read = staged + duplicates dropped + quarantined, "
        "and the warehouse holds exactly the staged rows.",
        size=INGESTION,
    )
    def _asset(
        context: dg.AssetExecutionContext,
        lake: Lake,
        warehouse: Warehouse,
        ingest_engine: IngestEngine,
        pseudonymizer: Pseudonymizer,
    ) -> dg.MaterializeResult:
        days: list[StagedDay] = []
        until = replay_until(context.run.tags, datetime.now(UTC))
        with fail_fast_on(warehouse.permanent_errors() + ENGINE_PERMANENT_ERRORS):
            for staged in stage_days(
                staging,
                days_in(context.partition_time_window),
                lake=lake,
                engine=ingest_engine,
                pseudonymizer=pseudonymizer,
                warehouse=warehouse,
                replay_until=until,
            ):
                context.log.info(
                    f"{table.name} {staged.day}: {staged.objects} objects, {staged.records_read} "
                    f"records read, {staged.staged} staged, {staged.duplicates} duplicates, "
                    f"{staged.quarantined} quarantined {staged.quarantine_reasons or ''}"
                    + (" (declared empty)" if staged.declared_empty else "")
                )
                if staged.outside_layout:
                    context.log.warning(
                        f"{table.name} {staged.day}: {len(staged.outside_layout)} keys outside "
                        f"the lake layout were not read: {', '.join(staged.outside_layout[:20])}"
                    )
                days.append(staged)
            first, last = days[0].day, days[-1].day
            checks = run_table_checks(warehouse, table, first, last + timedelta(days=1))
        checks.append(reconciliation_result(days))
        log_failed_checks(context, table, checks)
        metadata = _metadata(days)
        if (replay := replay_of_late_records(days, ingest_engine)) is not None:
            context.log.warning(
                f"{replay['records']} records arrived after their day's window; the "
                f"raw-arrivals sensor will replay {replay['first_day']}..{replay['last_day']} "
                f"reading objects delivered until {replay['arrivals_until']}"
            )
            metadata[LATE_RECORDS_REPLAY] = dg.MetadataValue.json(replay)
        if (cost := warehouse.take_costs()) is not None:
            metadata.update(cost.metadata())
        return dg.MaterializeResult(metadata=metadata, check_results=checks)

    return _asset


def reconciliation_result(days: list[StagedDay]) -> dg.AssetCheckResult:
    unbalanced = [str(d.day) for d in days if not d.reconciles]
    not_written = [str(d.day) for d in days if d.rows_in_table != d.staged]
    return dg.AssetCheckResult(
        check_name=RECONCILIATION,
        passed=not unbalanced and not not_written,
        metadata={
            "days": len(days),
            "records_read": sum(d.records_read for d in days),
            "staged": sum(d.staged for d in days),
            "duplicates": sum(d.duplicates for d in days),
            "quarantined": sum(d.quarantined for d in days),
            "days_not_balanced": dg.MetadataValue.json(unbalanced),
            "days_table_differs": dg.MetadataValue.json(not_written),
        },
    )


_MAX_NAMED_KEYS = 100


def _metadata(days: list[StagedDay]) -> dict[str, object]:
    reasons: dict[str, int] = {}
    for d in days:
        for reason, n in d.quarantine_reasons.items():
            reasons[reason] = reasons.get(reason, 0) + n
    metadata: dict[str, object] = {
        "dagster/row_count": sum(d.rows_in_table for d in days),
        "days": len(days),
        "raw_objects": sum(d.objects for d in days),
        "raw_bytes": sum(d.bytes for d in days),
        "records_read": sum(d.records_read for d in days),
        "duplicates_dropped": sum(d.duplicates for d in days),
        "quarantined": sum(d.quarantined for d in days),
        "quarantine_reasons": dg.MetadataValue.json(reasons),
        "late_records_accepted": sum(d.late_accepted for d in days),
        "newsletters_checked_against": dg.MetadataValue.json(
            sorted({str(d.newsletters_checked_against) for d in days})
        ),
        "blank_lines": sum(d.blank_lines for d in days),
        "unreadable_objects": dg.MetadataValue.json(
            [{"key": k, "bytes": n, "cause": c} for d in days for k, n, c in d.unreadable]
        ),
        "keys_outside_layout": dg.MetadataValue.json(
            sorted({k for d in days for k in d.outside_layout})[:_MAX_NAMED_KEYS]
        ),
        "days_declared_empty": dg.MetadataValue.json(
            [str(d.day) for d in days if d.declared_empty]
        ),
        "arrival_windows_widened": dg.MetadataValue.json(
            {str(d.day): d.window_end.isoformat() for d in days if d.window_end is not None}
        ),
    }
    if len(days) > 1:
        metadata["per_day"] = dg.MetadataValue.md(_per_day_table(days))
    return metadata


def _per_day_table(days: list[StagedDay]) -> str:
    rows = [
        "| day | objects | read | staged | duplicates | quarantined |",
        "|---|---|---|---|---|---|",
    ]
    rows += [
        f"| {d.day} | {d.objects} | {d.records_read} | {d.staged} | {d.duplicates} | "
        f"{d.quarantined} |"
        for d in days
    ]
    return "\n".join(rows)
