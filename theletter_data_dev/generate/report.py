"""What a generation run wrote, per stream and per day, for the CLI and for reconciliation tests.

Counting rules (the platform's tests rely on them):
* `records`, `duplicate_lines` and `late_lines` count on the Japan-time day of the record's own
  event timestamp;
* `malformed_lines` count on the Japan-time day on which their object was delivered (it is always
  the generated day);
* `objects` and `bytes` (compressed) count on the day whose records the object holds.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from datetime import date

STREAMS = ("ses_events", "page_views", "payment_events", "app_logs")


@dataclass(frozen=True)
class StreamCounts:
    records: int = 0
    """Distinct events written (each once, plus any re-delivered copies below)."""
    duplicate_lines: int = 0
    """Extra copies of records, re-delivered in a later object."""
    malformed_lines: int = 0
    """Lines that are not valid JSON (cut off, or not UTF-8)."""
    late_lines: int = 0
    """Records delivered more than 3 hours after the end of their own Japan-time day."""
    objects: int = 0
    bytes: int = 0

    @property
    def lines(self) -> int:
        return self.records + self.duplicate_lines + self.malformed_lines

    def __add__(self, other: StreamCounts) -> StreamCounts:
        return StreamCounts(*(getattr(self, f.name) + getattr(other, f.name) for f in fields(self)))


@dataclass(frozen=True)
class GenerationReport:
    start: date
    end: date
    seed: int
    newsletters: int
    readers: int
    days: int
    streams: Mapping[str, StreamCounts]
    """Totals per stream: `ses_events`, `page_views`, `payment_events` (Firehose), `app_logs`
    (log exports)."""
    per_day: Mapping[date, Mapping[str, StreamCounts]]
    """day -> stream -> counts, by the rules in the module docstring."""
    appdb_rows: Mapping[str, int] = field(default_factory=dict)
    """Rows per table in the last day's snapshot."""

    @property
    def ses_events(self) -> StreamCounts:
        return self.streams["ses_events"]

    @property
    def page_views(self) -> StreamCounts:
        return self.streams["page_views"]

    def summary(self) -> str:
        lines = [
            f"Generated {self.days} day(s), {self.start} to {self.end} (Japan time): seed "
            f"{self.seed}, {self.newsletters} newsletters, {self.readers:,} readers by 2025-01-01.",
            f"{'stream':<16}{'records':>13}{'duplicates':>12}{'malformed':>11}{'late':>7}"
            f"{'objects':>9}{'MB (gzip)':>11}",
        ]
        for name in STREAMS:
            c = self.streams[name]
            lines.append(
                f"{name:<16}{c.records:>13,}{c.duplicate_lines:>12,}{c.malformed_lines:>11,}"
                f"{c.late_lines:>7,}{c.objects:>9,}{c.bytes / 1e6:>11,.1f}"
            )
        if self.appdb_rows:
            rows = ", ".join(f"{n} {c:,}" for n, c in self.appdb_rows.items())
            lines.append(f"appdb snapshot of {self.end}: {rows} rows.")
        return "\n".join(lines)


def build_report(
    start: date,
    end: date,
    seed: int,
    newsletters: int,
    readers: int,
    per_day: Mapping[date, Mapping[str, StreamCounts]],
    appdb_rows: Mapping[str, int],
) -> GenerationReport:
    ordered = {d: dict(per_day[d]) for d in sorted(per_day)}
    totals = {s: sum((day[s] for day in ordered.values()), StreamCounts()) for s in STREAMS}
    return GenerationReport(
        start, end, seed, newsletters, readers, len(ordered), totals, ordered, dict(appdb_rows)
    )
