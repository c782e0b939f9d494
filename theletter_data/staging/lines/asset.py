"""The asset every line stream's staged table is: stage each day of the run's window, check
what was written, report where every raw line went."""

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
from theletter_data.staging.lines.accounting import StagedDay, replay_of_late_records
from theletter_data.staging.lines.declaration import LineStaging
from theletter_data.staging.lines.stage import stage_days
from theletter_data.staging.reconciliation import (
    partition_metadata,
    reconciliation_check,
    run_metadata,
)
from theletter_data.staging.staged_asset import staged_table_asset


def line_stream_asset(
    staging: LineStaging, *, upstream: dg.AssetSpec, description: str
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
                context.add_asset_metadata(
                    day_metadata(staged), partition_key=staged.day.isoformat()
                )
                days.append(staged)
            first, last = days[0].day, days[-1].day
            checks = run_table_checks(warehouse, table, first, last + timedelta(days=1))
        checks.append(reconciliation_check(days))
        log_failed_checks(context, table, checks)
        metadata = run_metadata(days)
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


_MAX_NAMED_KEYS = 100


def day_metadata(d: StagedDay) -> dict[str, object]:
    """One day's own figures, on that partition's materialization."""
    metadata: dict[str, object] = {
        **partition_metadata(d),
        "raw_objects": d.objects,
        "raw_bytes": d.bytes,
        "quarantine_reasons": dg.MetadataValue.json(dict(sorted(d.quarantine_reasons.items()))),
        "late_records_accepted": d.late_accepted,
        "blank_lines": d.blank_lines,
        "newsletters_checked_against": str(d.newsletters_checked_against),
        "declared_empty": d.declared_empty,
    }
    if d.unreadable:
        metadata["unreadable_objects"] = dg.MetadataValue.json(
            [{"key": k, "bytes": n, "cause": c} for k, n, c in d.unreadable]
        )
    if d.outside_layout:
        metadata["keys_outside_layout"] = dg.MetadataValue.json(
            sorted(d.outside_layout)[:_MAX_NAMED_KEYS]
        )
    if d.window_end is not None:
        metadata["arrival_window_widened_until"] = d.window_end.isoformat()
    return metadata
