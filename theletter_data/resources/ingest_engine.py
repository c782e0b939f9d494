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
    allowed_lateness_hours: int = Field(
        default=3,
        description="Records delivered up to this long after their Japan-time day ends are "
        "staged into that day; later ones are quarantined by the day they arrived on.",
    )

    @property
    def allowed_lateness(self) -> timedelta:
        return timedelta(hours=self.allowed_lateness_hours)

    @contextmanager
    def session(self) -> Iterator[duckdb.DuckDBPyConnection]:
        config: dict[str, str | int] = {"memory_limit": self.memory_limit}
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
