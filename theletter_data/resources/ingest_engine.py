"""The in-process engine that parses raw logs: DuckDB, in every environment.

Staging reads gzip JSON lines with DuckDB's own parallel reader instead of a Python loop or one
pandas frame per day, so memory is bounded by `memory_limit` (DuckDB spills beyond it) and not by
the size of the day. In production it runs inside the run's own ECS task, sized for ingestion.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

import dagster as dg
import duckdb
from pydantic import Field


class IngestEngine(dg.ConfigurableResource):
    memory_limit: str = Field(default="1GB", description="DuckDB memory limit; it spills beyond.")
    threads: int | None = Field(default=None, description="Worker threads (default: all cores).")
    temp_directory: str | None = Field(default=None, description="Where DuckDB spills.")
    batch_bytes: int = Field(
        default=64 << 20, description="Compressed bytes of raw objects parsed per batch."
    )
    write_bytes: int = Field(
        default=1 << 30,
        description="Raw bytes of consecutive days staged in one warehouse write (one "
        "transaction; on BigQuery one load job and one MERGE): a backfill of small days is "
        "written a month at a time, a big day alone.",
    )
    max_days_per_write: int = Field(default=31, description="Days staged in one write at most.")
    max_quarantined_share: float = Field(
        default=0.05,
        description="A partition whose quarantined share of records is above this fails its "
        "run before anything is written, naming the objects (a broken producer, not noise).",
    )
    quarantine_share_min_records: int = Field(
        default=1_000, description="Partitions with fewer records are not judged by share."
    )
    min_snapshot_share: float = Field(
        default=0.9,
        description="An app export snapshot with fewer rows than this share of the previous "
        "snapshot's fails its staging, and the streams that check newsletters against it, "
        "naming the export (rows are deleted rarely: a shrink is a broken export). 0 rows "
        "after a snapshot with rows always fails. Lower it for one run to accept a real shrink.",
    )
    accepted_missing_columns: list[str] = Field(
        default_factory=list,
        description="`<table>.<column>` optional app export columns that may be missing although "
        "the previous snapshot had them (the app dropped them on purpose); any other such "
        "column fails the snapshot's staging instead of being staged as NULL.",
    )
    allowed_lateness_hours: int = Field(
        default=3,
        description="Records delivered up to this long after their Japan-time day ends are "
        "staged into that day; later ones are quarantined by the day they arrived on.",
    )

    @property
    def allowed_lateness(self) -> timedelta:
        return timedelta(hours=self.allowed_lateness_hours)

    def check_quarantine_share(
        self, what: str, records: int, quarantined: int, by_object: list[tuple[str, str, int]]
    ) -> None:
        """Fail (not retried: the input will not change) when too much of a partition is bad."""
        if records < self.quarantine_share_min_records or not records:
            return
        share = quarantined / records
        if share <= self.max_quarantined_share:
            return
        worst = "; ".join(f"{key} ({reasons}: {n})" for key, reasons, n in by_object[:5])
        raise dg.Failure(
            description=f"{what}: {quarantined:,} of {records:,} records ({share:.1%}) would be "
            f"quarantined, above the {self.max_quarantined_share:.0%} limit. Nothing was "
            f"written. Most affected objects: {worst}.",
            allow_retries=False,
        )

    @contextmanager
    def session(self) -> Iterator[duckdb.DuckDBPyConnection]:
        config: dict[str, str | int | bool] = {
            "memory_limit": self.memory_limit,
            "preserve_insertion_order": False,  # rows are sets here; order costs memory
        }
        if self.threads:
            config["threads"] = self.threads
        if self.temp_directory:
            config["temp_directory"] = self.temp_directory
        con = duckdb.connect(":memory:", config=config)
        try:
            con.execute("SET TimeZone = 'UTC'")
            yield con
        finally:
            con.close()
