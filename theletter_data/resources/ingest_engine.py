"""The in-process engine that parses raw logs: DuckDB, in every environment.

Staging reads gzip JSON lines with DuckDB's own parallel reader instead of a Python loop or one
pandas frame per day, so memory is bounded by `memory_limit` (DuckDB spills beyond it) and not by
the size of the day. In production it runs inside the run's own ECS task, sized for ingestion.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import timedelta

import dagster as dg
import duckdb
from pydantic import Field

from theletter_data.raw.sources import ALLOWED_LATENESS
from theletter_data.resources.pseudonymizer import PSEUDONYM_MACRO


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
        default=ALLOWED_LATENESS // timedelta(hours=1),
        description="Records delivered up to this long after their Japan-time day ends are "
        "staged into that day; later ones are quarantined by the day they arrived on. "
        "Default: the arrival window the sources declare (raw/sources.py).",
    )

    replay_lateness_hours: int = Field(
        default=48,
        description="Records delivered up to this long after their day's window closed are "
        "replayed into their day by themselves: staging reports them and the raw-arrivals "
        "sensor stages their day again with a wider window. Later ones stay quarantined "
        "(`arrived_after_window`) for an operator to replay (README).",
    )

    @property
    def allowed_lateness(self) -> timedelta:
        return timedelta(hours=self.allowed_lateness_hours)

    def check_quarantine_share(
        self,
        what: str,
        records: int,
        quarantined: int,
        by_object: list[tuple[str, str, int]],
        *,
        unreadable: Sequence[tuple[str, int, str]] = (),
        objects: int = 0,
        total_bytes: int = 0,
    ) -> None:
        """Fail (not retried: the input will not change) when too much of a partition is bad:
        its quarantined share of records, or the share of its raw bytes in objects that could
        not be read at all (whose records cannot be counted), or every one of its objects."""
        self._check_unreadable_share(what, unreadable, objects, total_bytes)
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

    def _check_unreadable_share(
        self, what: str, unreadable: Sequence[tuple[str, int, str]], objects: int, total: int
    ) -> None:
        if not unreadable:
            return
        lost = sum(size for _, size, _ in unreadable)
        share = lost / total if total else 1.0  # only empty objects: nothing was read
        if share <= self.max_quarantined_share:
            return
        named = "; ".join(f"{key} ({size:,} bytes: {cause})" for key, size, cause in unreadable)
        raise dg.Failure(
            description=f"{what}: {len(unreadable)} of {objects} raw objects could not be read "
            f"({lost:,} of {total:,} bytes, {share:.1%}), above the "
            f"{self.max_quarantined_share:.0%} limit. Nothing was written: the day keeps its "
            f"previous rows. Unreadable: {named}. Replace them with gzip (or plain) text, or "
            "move them out of the lake, and stage the day again.",
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
            _connection_settings(con)
            con.execute(PSEUDONYM_MACRO)  # in the database: its cursors have it too
            yield con
        finally:
            con.close()


def another_connection(con: duckdb.DuckDBPyConnection) -> duckdb.DuckDBPyConnection:
    """A second connection to a session's database, for work in another thread: it shares the
    database's tables, has its own temporary ones and registrations, and the session's
    settings."""
    cursor = con.cursor()
    _connection_settings(cursor)
    return cursor


def _connection_settings(con: duckdb.DuckDBPyConnection) -> None:
    """Settings of one connection (a cursor does not inherit them): a timestamp without a zone
    is UTC, whatever the machine's zone."""
    con.execute("SET TimeZone = 'UTC'")
