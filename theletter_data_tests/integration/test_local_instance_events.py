"""The local instance's event log written a batch at a time (local_instance.py): what a run of
partitions leaves in it, which the UI reads, must be what Dagster's one-event-at-a-time writes
leave, and a batch that fails half-way must leave nothing twice."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import dagster as dg
import pytest
from dagster._core.storage.tags import (
    ASSET_PARTITION_RANGE_END_TAG,
    ASSET_PARTITION_RANGE_START_TAG,
)

from theletter_data.local_instance import BATCH_SIZE_VARIABLE, EventLogWrittenInBatches
from theletter_data_tests.support.local_runs import LocalDeployment

DAYS = dg.DailyPartitionsDefinition(start_date="2026-11-01", end_date="2026-11-13")
RANGE = {ASSET_PARTITION_RANGE_START_TAG: "2026-11-01", ASSET_PARTITION_RANGE_END_TAG: "2026-11-12"}
ONE_RUN = dg.BackfillPolicy.single_run()


@dg.asset(partitions_def=DAYS, backfill_policy=ONE_RUN)
def staged() -> None:
    pass


@dg.asset(
    partitions_def=DAYS,
    backfill_policy=ONE_RUN,
    deps=[staged],
    check_specs=[dg.AssetCheckSpec("rows", asset="metric", blocking=True)],
)
def metric() -> dg.MaterializeResult:
    return dg.MaterializeResult(check_results=[dg.AssetCheckResult(passed=True)])


def _run(local: LocalDeployment) -> dict[str, object]:
    """Materialize 12 partitions of both assets in one run; what the instance then holds."""
    with local.instance() as instance:
        assert isinstance(instance.event_log_storage, EventLogWrittenInBatches)
        result = dg.materialize([staged, metric], instance=instance, tags=RANGE)
        assert result.success
        run_id = result.run_id
        keys = (dg.AssetKey("staged"), dg.AssetKey("metric"))
        index = Counter(
            (kind, r.asset_key.to_user_string(), r.partition_key)
            for key in keys
            for kind, fetch in (
                ("materialized", instance.fetch_materializations),
                ("planned", instance.fetch_planned_materializations),
            )
            for r in fetch(key, limit=100).records
        )
        check = instance.event_log_storage.get_asset_check_execution_history(
            dg.AssetCheckKey(dg.AssetKey("metric"), "rows"), limit=100
        )
        return {
            "run log": Counter(e.dagster_event_type for e in instance.all_logs(run_id)),
            "index": index,
            "materialized": {
                key: instance.get_materialized_partitions(dg.AssetKey(key))
                for key in ("staged", "metric")
            },
            "check": Counter((c.status.value, c.partition) for c in check),
        }


def _batch_sizes(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    sizes: list[int] = []
    store = EventLogWrittenInBatches.store_event_batch

    def counted(self: EventLogWrittenInBatches, events: list[dg.EventLogEntry]) -> None:
        sizes.append(len(events))
        store(self, events)

    monkeypatch.setattr(EventLogWrittenInBatches, "store_event_batch", counted)
    return sizes


def test_a_run_stored_in_batches_leaves_what_one_by_one_leaves(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    batches = _batch_sizes(monkeypatch)
    monkeypatch.setenv(BATCH_SIZE_VARIABLE, "0")  # Dagster's own path: an event at a time
    one_by_one = _run(LocalDeployment(tmp_path / "one-by-one"))
    assert batches == []

    monkeypatch.delenv(BATCH_SIZE_VARIABLE)  # the storage asks for batches itself
    in_batches = _run(LocalDeployment(tmp_path / "in-batches"))
    # The planned materializations (24) and check (1) at the run's creation, then each asset's
    # 12 materializations.
    assert sorted(batches) == [12, 12, 25]
    assert in_batches == one_by_one
    assert sum(in_batches["run log"].values()) > 50  # type: ignore[attr-defined]
    assert sum(in_batches["index"].values()) == 48  # type: ignore[attr-defined]
    assert ("SUCCEEDED", None) in in_batches["check"]  # type: ignore[operator]


def test_a_batch_that_fails_half_way_is_stored_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The 20th event of a batch fails to write (a full disk, a lock held too long): the batch's
    first 19 must not stay behind when Dagster stores the batch again one event at a time."""
    expected = _run(LocalDeployment(tmp_path / "clean"))

    store = EventLogWrittenInBatches.store_event
    written = 0

    def failing_once(self: EventLogWrittenInBatches, event: dg.EventLogEntry) -> None:
        nonlocal written
        written += 1
        if written == 20:  # in the first batch: the run's 25 planned events
            raise OSError("disk I/O error")
        store(self, event)

    monkeypatch.setattr(EventLogWrittenInBatches, "store_event", failing_once)
    assert _run(LocalDeployment(tmp_path / "failing")) == expected
    assert written > 20
