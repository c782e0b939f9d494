"""Reconciliation and partition metadata shared by every staged table: a line stream's days
(staging/lines/), an app export's snapshots (staging/app_exports.py) and today's page views.

Staging a partition gives its account: the records it read and where each went (staged, a
duplicate dropped, quarantined), and the rows the warehouse holds afterwards. A partition
reconciles when read = staged + duplicates + quarantined and the table holds exactly the staged
rows; the blocking `reconciliation` check fails the run when one does not.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import ClassVar

import dagster as dg

from theletter_data.staging.staged_asset import RECONCILIATION


@dataclass
class PartitionAccount:
    """Where the records one partition's staging read went."""

    day: date
    objects: int = 0
    """Raw objects (files) read for it."""
    staged: int = 0
    duplicates: int = 0
    quarantined: int = 0
    rows_in_table: int = 0

    READ: ClassVar[str] = "records_read"
    """The name of the read figure: a field of the subclass, and its metadata key."""

    @property
    def read(self) -> int:
        return int(getattr(self, self.READ))

    @property
    def balances(self) -> bool:
        return self.read == self.staged + self.duplicates + self.quarantined

    @property
    def expected_in_table(self) -> int:
        """The rows the partition must hold: the staged ones (a table staged as changes holds
        fewer)."""
        return self.staged

    @property
    def reconciled(self) -> bool:
        return self.balances and self.rows_in_table == self.expected_in_table


def reconciliation_check(accounts: Sequence[PartitionAccount]) -> dg.AssetCheckResult:
    """The `reconciliation` check of a run over `accounts`: every partition balances and its
    table holds exactly its staged rows."""
    unbalanced = [str(a.day) for a in accounts if not a.balances]
    not_written = [str(a.day) for a in accounts if a.rows_in_table != a.expected_in_table]
    read = type(accounts[0]).READ if accounts else PartitionAccount.READ
    return dg.AssetCheckResult(
        check_name=RECONCILIATION,
        passed=not unbalanced and not not_written,
        metadata={
            "days": len(accounts),
            read: sum(a.read for a in accounts),
            "staged": sum(a.staged for a in accounts),
            "duplicates": sum(a.duplicates for a in accounts),
            "quarantined": sum(a.quarantined for a in accounts),
            "days_not_balanced": dg.MetadataValue.json(unbalanced),
            "days_table_differs": dg.MetadataValue.json(not_written),
        },
    )


def partition_metadata(account: PartitionAccount) -> dict[str, object]:
    """The figures every staged partition shows on its own materialization (a run over many
    days still shows each day's rows: the asset's row count and plots are per partition)."""
    return {
        "dagster/row_count": account.rows_in_table,
        account.READ: account.read,
        "duplicates_dropped": account.duplicates,
        "quarantined": account.quarantined,
        "reconciled": account.reconciled,
    }


def run_metadata(accounts: Sequence[PartitionAccount], unit: str = "days") -> dict[str, object]:
    """What belongs to the run rather than to a partition (on every partition it wrote, named
    `run_*`, as text so that the UI does not plot it): its window and, for several partitions,
    their table."""
    first, last = accounts[0].day, accounts[-1].day
    metadata: dict[str, object] = {
        "run_window": f"[{first}, {last + timedelta(days=1)}): {len(accounts)} {unit}"
    }
    if len(accounts) > 1:
        metadata["run_per_day"] = dg.MetadataValue.md(_per_day_table(accounts))
    return metadata


def _per_day_table(accounts: Sequence[PartitionAccount]) -> str:
    rows = [
        "| day | objects | read | staged | duplicates | quarantined |",
        "|---|---|---|---|---|---|",
    ]
    rows += [
        f"| {a.day} | {a.objects} | {a.read} | {a.staged} | {a.duplicates} | {a.quarantined} |"
        for a in accounts
    ]
    return "\n".join(rows)
