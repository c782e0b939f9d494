"""What a line stream's staging module declares: its stream, its table and its projection."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property

from theletter_data.raw.layout import LineStream
from theletter_data.sql import with_patterns
from theletter_data.tables import Table


@dataclass(frozen=True)
class LineStaging:
    """How one stream of gzip text lines (a Firehose stream, the CloudWatch log exports)
    becomes one staged table."""

    stream: LineStream
    table: Table
    projection_sql: str
    """DuckDB SQL over `raw_lines(source_object, arrival_hour, line)` yielding
    `reject_reason`, `raw_line`, `event_at`, `event_id` and the table's columns."""
    params: Mapping[str, object] = field(default_factory=dict)
    """Constants the projection binds, besides the pseudonymisation pads."""
    patterns: Mapping[str, str] = field(default_factory=dict)
    """Regular expressions the projection names as `$name`, put into its SQL as constants
    (`sql.with_patterns`: a pattern bound as a parameter is compiled for every row)."""
    quiet_days: bool = False
    """A day without any object is normal (a low-volume stream, e.g. payments): it is staged
    empty instead of failing as a stopped producer, and needs no `_empty/` marker."""
    newsletters_must_exist: bool = True
    """Quarantine records of a newsletter the app does not have (not for logs, where a request
    for an unknown newsletter is itself worth keeping)."""

    def __post_init__(self) -> None:
        if unused := sorted(set(self.patterns) - self._with_patterns[1]):
            raise ValueError(f"{self.table.name}: its projection never names {unused}")

    @cached_property
    def _with_patterns(self) -> tuple[str, set[str]]:
        return with_patterns(self.projection_sql, self.patterns)

    @property
    def sql(self) -> str:
        """The projection as it runs: its patterns put in."""
        return self._with_patterns[0]

    @property
    def carried_columns(self) -> list[str]:
        """Staged columns the projection yields (staging adds the day and the object)."""
        added = {self.table.partition_by, "source_object"}
        return [c for c in self.table.column_names if c not in added]
