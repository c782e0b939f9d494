"""Stage one Japan-time day of a Firehose stream: read, type, judge, deduplicate, replace.

Every raw line read for a day ends in exactly one place, which makes the day reconcilable:
- staged: a valid record whose own timestamp falls on the day (first copy of each event);
- a duplicate: a later copy of a staged event (at-least-once delivery);
- quarantined: a line that cannot be staged (malformed, missing fields, outside the arrival
  window), judged by the day on which its object *arrived*, so it is quarantined exactly once;
  or a valid event of a newsletter the app does not have, judged by its own day;
- another day's: a valid record of a neighbouring day, read because arrival folders overlap.
Blank lines are not records; they are counted apart.

The day streams: objects are read in delivery order, a batch at a time, and each batch's new
events go straight to the warehouse, which commits the day (and its quarantine rows) only at the
end. Between batches only the ids of the events handed over are kept (16 bytes each), so memory
and spill are bounded by a batch, not by the day. Consecutive small days (a backfill) stream into
one warehouse write, each still judged on its own.

The stream-specific part is one SQL projection (DuckDB dialect, `sql/<stream>.sql`) over
`raw_lines(source_object, arrival_hour, line)` that yields `reject_reason`, `raw_line`,
`event_at`, `event_id` and the staged table's columns.
"""

from __future__ import annotations

import re
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import TypeVar

import dagster as dg
import duckdb
import pyarrow as pa

from theletter_data.partitions import FIRST_DAY, TIMEZONE, day_bounds_utc
from theletter_data.raw.layout import LineStream, empty_day_marker
from theletter_data.raw.sources import CLOCK_SKEW
from theletter_data.resources.ingest_engine import IngestEngine
from theletter_data.resources.lake import Lake, LakeObject
from theletter_data.resources.pseudonymizer import Pseudonymizer
from theletter_data.resources.warehouse import PartitionWrite, Warehouse
from theletter_data.sql import duckdb_params, duckdb_string
from theletter_data.staging.arrival_windows import ARRIVAL_WINDOWS, stored_windows, window_rows
from theletter_data.staging.known_newsletters import KnownNewsletters, known_newsletters
from theletter_data.staging.object_format import sniff
from theletter_data.staging.quarantine import QUARANTINE, masked_excerpt_sql
from theletter_data.staging.salvage import salvage_gzip_lines
from theletter_data.tables import Table

_CSV_OPTIONS = (
    "columns={'line': 'VARCHAR'}, delim='\\x01', quote='', escape='', header=false, "
    "auto_detect=false, strict_mode=false, null_padding=false, filename=true, "
    "store_rejects=true, max_line_size=33554432, buffer_size=67108864, new_line='\\r\\n'"
)
"""Lines end with LF or CRLF (`new_line='\\r\\n'` reads both; with `'\\n'` DuckDB also
breaks at the CR of a CRLF, which made a phantom blank line of every line). A bare CR inside a
line still breaks it, in either mode: its pieces are quarantined."""
_READER_REJECT_REASONS = {
    "INVALID ENCODING": "invalid_utf8",
    "LINE SIZE OVER MAXIMUM": "line_too_long",
}
_BROKEN_OBJECT = re.compile(r"GZIP|zlib|decompress", re.I)


@dataclass(frozen=True)
class FirehoseStaging:
    """How one stream of gzip lines (a Firehose stream, the CloudWatch log exports) becomes one
    staged table."""

    stream: LineStream
    table: Table
    projection_sql: str
    params: Mapping[str, object] = field(default_factory=dict)
    """Constants the projection binds (e.g. patterns), besides the pseudonymisation pads."""
    newsletters_must_exist: bool = True
    """Quarantine records of a newsletter the app does not have (not for logs, where a request
    for an unknown newsletter is itself worth keeping)."""

    @property
    def carried_columns(self) -> list[str]:
        """Staged columns the projection yields (the loader adds the day and the object)."""
        added = {self.table.partition_by, "source_object"}
        return [c for c in self.table.column_names if c not in added]


@dataclass
class StagedDay:
    """What one day's staging read and where every line went."""

    day: date
    objects: int = 0
    bytes: int = 0
    records_read: int = 0
    staged: int = 0
    duplicates: int = 0
    quarantined: int = 0
    other_days: int = 0
    blank_lines: int = 0
    late_accepted: int = 0
    """Events staged whose first copy was delivered after the day ended (inside the window)."""
    unreadable: list[tuple[str, int, str]] = field(default_factory=list)
    """Objects of the day's window none of whose lines could be read: (key, bytes, cause)."""
    outside_layout: list[str] = field(default_factory=list)
    """Keys in the day's folders that are not objects of the stream's layout: not read."""
    declared_empty: bool = False
    """No objects, and an operator's marker says the day had none."""
    window_end: datetime | None = None
    """Set when a replay widened the day's window: objects delivered before this were read."""
    late_records: dict[date, tuple[int, datetime]] = field(default_factory=dict)
    """Records this day quarantined `arrived_after_window`, by their own day: (how many, the
    last delivery hour)."""
    quarantine_reasons: dict[str, int] = field(default_factory=dict)
    rows_in_table: int = 0
    newsletters_checked_against: date | None = None
    """The newsletters export events were checked against (None: no export yet)."""

    @property
    def reconciles(self) -> bool:
        return self.records_read == self.staged + self.duplicates + self.quarantined


def stage_days(
    staging: FirehoseStaging,
    days: Sequence[date],
    *,
    lake: Lake,
    engine: IngestEngine,
    pseudonymizer: Pseudonymizer,
    warehouse: Warehouse,
    replay_until: datetime | None = None,
) -> Iterator[StagedDay]:
    """Replace the partitions of consecutive `days` (and their quarantine rows) from the lake,
    yielding each day's account once it is committed. Consecutive days are written together, up
    to `engine.write_bytes` of raw objects or `engine.max_days_per_write` days: a backfill of
    small days pays one warehouse transaction (on BigQuery one load job and one MERGE) a month,
    not one a day, while a big day is still written alone. With `replay_until`, every day also
    reads the objects delivered before that instant (a replay of late records:
    staging/arrival_windows.py)."""
    windows = _windows(staging, days, warehouse, engine, replay_until)
    planned = [_plan(staging, day, lake, engine, windows.lateness(day)) for day in days]
    for group in _write_groups(planned, engine.write_bytes, engine.max_days_per_write):
        yield from _stage_together(
            staging, group, lake=lake, engine=engine, pseudonymizer=pseudonymizer,
            warehouse=warehouse, only_this_day=False, windows=windows,
        )  # fmt: skip


def replay_of_late_records(
    days: Sequence[StagedDay], engine: IngestEngine
) -> dict[str, object] | None:
    """The replay that would stage this run's late records into their own days: the days
    from the earliest such day to the last day that quarantined one, reading the objects
    delivered until the end of the last one's delivery hour. Only records that arrived within
    `engine.replay_lateness_hours` of their window's close; None when there are none."""
    horizon = engine.allowed_lateness + timedelta(hours=engine.replay_lateness_hours)
    late = [
        (event_day, staged.day, n, last)
        for staged in days
        for event_day, (n, last) in staged.late_records.items()
        if last < day_bounds_utc(event_day)[1] + horizon
    ]
    if not late:
        return None
    return {
        "first_day": min(event_day for event_day, _, _, _ in late).isoformat(),
        "last_day": max(arrived_on for _, arrived_on, _, _ in late).isoformat(),
        "arrivals_until": (max(last for *_, last in late) + timedelta(hours=1)).isoformat(),
        "records": sum(n for _, _, n, _ in late),
    }


def stage_day(
    staging: FirehoseStaging,
    day: date,
    *,
    lake: Lake,
    engine: IngestEngine,
    pseudonymizer: Pseudonymizer,
    warehouse: Warehouse,
    only_this_day: bool = False,
    replay_until: datetime | None = None,
) -> StagedDay:
    """Replace `day`'s partition of the staged table (and its quarantine rows) from the lake.
    With `only_this_day` (a table of the current day so far) every other day's rows go and the
    quarantine is left to the day's own staging."""
    if only_this_day:  # a day so far: its window is open, and it may have no object yet
        windows = _Windows(engine.allowed_lateness)
        plan = _plan(staging, day, lake, engine, engine.allowed_lateness, may_be_empty=True)
    else:
        windows = _windows(staging, [day], warehouse, engine, replay_until)
        plan = _plan(staging, day, lake, engine, windows.lateness(day))
    (result,) = _stage_together(
        staging, [plan], lake=lake, engine=engine, pseudonymizer=pseudonymizer,
        warehouse=warehouse, only_this_day=only_this_day, windows=windows,
    )  # fmt: skip
    return result


@dataclass
class _Windows:
    """The arrival windows a run judges by: the default lateness, and the days whose window a
    replay widened (stored ones, and this run's), by the end of their window."""

    default: timedelta
    ends: dict[date, datetime] = field(default_factory=dict)
    stored: dict[date, datetime] = field(default_factory=dict)

    def lateness(self, day: date) -> timedelta:
        day_end = day_bounds_utc(day)[1]
        return max(self.default, self.ends.get(day, day_end) - day_end)

    def rows(self, days: Sequence[date]) -> dict[date, datetime] | None:
        """The windows to store for `days`: None when none of them has or had a wider one."""
        widened = {d: self.ends[d] for d in days if d in self.ends}
        return widened or None


def _windows(
    staging: FirehoseStaging,
    days: Sequence[date],
    warehouse: Warehouse,
    engine: IngestEngine,
    replay_until: datetime | None,
) -> _Windows:
    windows = _Windows(engine.allowed_lateness)
    if not staging.stream.late_records_possible:
        return windows
    since, _ = staging.stream.arrival_window(min(days), engine.allowed_lateness)
    windows.stored = stored_windows(warehouse, staging.stream.name, since)
    windows.ends = dict(windows.stored)
    if replay_until is not None:
        for day in days:
            if replay_until - day_bounds_utc(day)[1] > windows.lateness(day):
                windows.ends[day] = replay_until
    return windows


@dataclass(frozen=True)
class _DayPlan:
    day: date
    objects: list[LakeObject]
    outside_layout: list[str]
    declared_empty: bool = False

    @property
    def bytes(self) -> int:
        return sum(o.size for o in self.objects)


def _plan(
    staging: FirehoseStaging,
    day: date,
    lake: Lake,
    engine: IngestEngine,
    lateness: timedelta,
    may_be_empty: bool = False,
) -> _DayPlan:
    """The day's objects; a day without any fails at once (no retry brings objects that were
    never delivered) naming why, unless an operator declared it empty."""
    stream = staging.stream
    listing = stream.list_window(lake, day, lateness)
    if listing.objects or may_be_empty:
        return _DayPlan(day, listing.objects, listing.outside_layout)
    marker = empty_day_marker(stream, day)
    if lake.exists(marker):
        return _DayPlan(day, [], listing.outside_layout, declared_empty=True)
    if not lake.folder_exists():
        raise dg.Failure(
            f"The lake root `{lake.url}` does not exist (or holds nothing), so {day} cannot be "
            f"staged. Check the lake's location: THELETTER_LAKE_URL in production, "
            "THELETTER_DATA_DIR locally (`theletter-data generate` writes a demo lake).",
            allow_retries=False,
        )
    if not lake.folder_exists(stream.prefix):
        raise dg.Failure(
            f"The lake `{lake.url}` has no `{stream.prefix}/` folder at all, so {day} cannot be "
            f"staged: the stream has never been delivered to this lake. Check the producer's "
            f"destination prefix (the Firehose delivery stream, or the log export task) and "
            f"the lake's location.",
            allow_retries=False,
        )
    first, end = stream.arrival_window(day, lateness)
    raise dg.Failure(
        f"No `{stream.prefix}/` objects were delivered between {first:%Y-%m-%d %H:00} "
        f"and {end:%Y-%m-%d %H:00} UTC, the arrival window of {day}: staging it would "
        "publish a day without any. Check the stream's producer (the Firehose delivery "
        "stream, or the log export task). If the day truly had no events, declare it by "
        f"writing the object `{marker}` (any content, e.g. why) and stage it again."
        + _named_outside_layout(listing.outside_layout),
        allow_retries=False,
    )


def _named_outside_layout(keys: Sequence[str]) -> str:
    if not keys:
        return ""
    more = f" and {len(keys) - 5} more" if len(keys) > 5 else ""
    return f" Keys outside the layout, not read: {', '.join(keys[:5])}{more}."


def _write_groups(
    planned: Sequence[_DayPlan], max_bytes: int, max_days: int
) -> Iterator[list[_DayPlan]]:
    return _grouped(planned, [plan.bytes for plan in planned], max_bytes, max_days)


class _Guard:
    """The first exception raised while the warehouse read a stream: the warehouse's engine
    may wrap it beyond recognition, so it is kept to be re-raised as itself."""

    failure: Exception | None = None


def _stage_together(
    staging: FirehoseStaging,
    group: Sequence[_DayPlan],
    *,
    lake: Lake,
    engine: IngestEngine,
    pseudonymizer: Pseudonymizer,
    warehouse: Warehouse,
    only_this_day: bool,
    windows: _Windows,
) -> list[StagedDay]:
    """Stage consecutive days in one warehouse write: each day is judged on its own (its own
    engine session, deduplication and quarantine limit) and streams into the same write."""
    results = [
        StagedDay(
            day=plan.day,
            objects=len(plan.objects),
            bytes=plan.bytes,
            outside_layout=plan.outside_layout,
            declared_empty=plan.declared_empty,
            window_end=windows.ends.get(plan.day),
        )
        for plan in group
    ]
    guard = _Guard()
    quarantines: list[pa.Table] = []

    def staged_batches() -> Iterator[pa.RecordBatch]:
        """Read a batch of objects, hand over its new events, forget all but their ids: the
        day streams through, so memory and spill hold one batch, not the day."""
        for result, plan in zip(results, group, strict=True):
            day = plan.day
            known = known_newsletters(lake, day, engine)
            result.newsletters_checked_against = known.as_of
            with engine.session() as con:
                work = _DayWork(con, staging, day, windows, pseudonymizer.sql_params(), known)
                for batch in _batches(plan.objects, engine.batch_bytes):
                    with lake.local_files([o.key for o in batch]) as paths:
                        work.read(batch, paths)
                    yield from work.take_first_copies()
                work.count_into(result)
                if not only_this_day:
                    engine.check_quarantine_share(
                        f"{staging.table.name} {day}",
                        result.records_read,
                        result.quarantined,
                        work.quarantined_by_object(),
                        unreadable=result.unreadable,
                        objects=result.objects,
                        total_bytes=result.bytes,
                    )
                    quarantines.append(work.quarantine_rows())

    def quarantine_batches() -> Iterator[pa.RecordBatch]:
        """Read only once the staged rows have streamed, so every day has been judged."""
        for rows in quarantines:
            yield from rows.to_batches()

    first, end = group[0].day, group[-1].day + timedelta(days=1)
    replace_from = date.fromisoformat(FIRST_DAY) if only_this_day else first
    # Each warehouse takes the staged rows first, then the quarantine rows, and commits
    # only after both: a failure while reading leaves the days as they were.
    writes = [
        PartitionWrite(
            staging.table, replace_from, end, rows=_stream(guard, staging.table, staged_batches())
        )
    ]
    if not only_this_day:
        quarantine = _stream(guard, QUARANTINE, quarantine_batches())
        scope = {"stream": staging.stream.name}
        writes.append(PartitionWrite(QUARANTINE, first, end, rows=quarantine, scope=scope))
        widened = windows.rows([plan.day for plan in group])
        if widened is not None:  # kept with the rows they explain, in the same transaction
            rows = window_rows(staging.stream.name, widened)
            writes.append(PartitionWrite(ARRIVAL_WINDOWS, first, end, rows=rows, scope=scope))
    try:
        counts = warehouse.replace(writes)
    except Exception as error:
        if guard.failure is not None:  # raised inside the warehouse's read of the stream
            raise guard.failure from error
        raise
    if len(results) == 1:
        results[0].rows_in_table = counts[staging.table.qualified_name]
    else:
        in_table = warehouse.rows_per_day(staging.table, first, end)
        for result in results:
            result.rows_in_table = in_table.get(result.day, 0)
    return results


def _stream(guard: _Guard, table: Table, batches: Iterator[pa.RecordBatch]) -> pa.RecordBatchReader:
    """The batches as a reader of `table`'s schema, any exception kept in `guard`."""

    schema = table.arrow_schema

    def guarded() -> Iterator[pa.RecordBatch]:
        try:
            for batch in batches:
                yield batch.select(schema.names).cast(schema)
        except Exception as error:
            guard.failure = error
            raise

    return pa.RecordBatchReader.from_batches(schema, guarded())


def _batches(objects: Sequence[LakeObject], max_bytes: int) -> Iterator[list[LakeObject]]:
    return _grouped(objects, [o.size for o in objects], max_bytes)


_Item = TypeVar("_Item")


def _grouped(
    items: Sequence[_Item], sizes: Sequence[int], max_bytes: int, max_items: int | None = None
) -> Iterator[list[_Item]]:
    """Consecutive items in groups of at most `max_bytes` (an item larger than that alone) and
    `max_items`."""
    group: list[_Item] = []
    total = 0
    for item, size in zip(items, sizes, strict=True):
        if group and (total + size > max_bytes or len(group) == max_items):
            yield group
            group, total = [], 0
        group.append(item)
        total += size
    if group:
        yield group


@dataclass(frozen=True)
class _RawFile:
    key: str
    arrival_hour: datetime
    path: str
    compression: str = "gzip"
    size: int = 0


class _DayWork:
    """The engine-side state of one day: `candidates` (the current batch's valid records of the
    day, duplicates included), `seen` (the ids of the events handed over), `quarantined` (bad
    lines this day answers for) and line `counters`."""

    def __init__(
        self,
        con: duckdb.DuckDBPyConnection,
        staging: FirehoseStaging,
        day: date,
        windows: _Windows,
        hmac_params: Mapping[str, bytes],
        known: KnownNewsletters,
    ) -> None:
        self.con = con
        self.staging = staging
        self.day = day
        self.params: dict[str, object] = {
            **hmac_params,
            **staging.params,
            "day": day,
            "stream": staging.stream.name,
            "skew": CLOCK_SKEW,
            "lateness": windows.default,
            "last_scan": 0,
            "check_newsletters": known.checked and staging.newsletters_must_exist,
        }
        con.register("known_newsletters", known.ids)
        # Days whose window a replay widened: their late records are theirs, not quarantined.
        con.register(
            "widened_windows",
            pa.table(
                {
                    "event_day": pa.array(list(windows.ends), pa.date32()),
                    "ends": pa.array(list(windows.ends.values()), pa.timestamp("us", tz="UTC")),
                }
            ),
        )
        self.columns = ", ".join(staging.carried_columns)
        self._set_raw_lines(
            "SELECT NULL::VARCHAR AS source_object, NULL::TIMESTAMPTZ AS arrival_hour, "
            "NULL::VARCHAR AS line WHERE false"
        )
        self._run(
            f"CREATE TEMP TABLE candidates AS SELECT {self.columns}, source_object, arrival_hour "
            f"FROM ({staging.projection_sql}) WHERE false"
        )
        self._run(
            "CREATE TEMP TABLE quarantined (source_object VARCHAR, reason VARCHAR, "
            "raw_line VARCHAR, line_number BIGINT, object_level BOOLEAN)"
        )
        self._run("CREATE TEMP TABLE counters (kind VARCHAR, n BIGINT)")
        self._run("CREATE TEMP TABLE late_lines (event_day DATE, arrival_hour TIMESTAMPTZ)")
        # The events already handed over, by the md5 of their id: 16 bytes an event.
        self._run("CREATE TEMP TABLE seen (event_key UHUGEINT)")
        self.candidates = 0
        self.staged = 0
        self.late_accepted = 0
        self.unreadable: list[tuple[str, int, str]] = []
        """Objects of the window none of whose lines could be read: (key, bytes, cause)."""

    def _run(self, sql: str, **extra: object) -> list[tuple]:
        """Execute with the parameters the statement names (DuckDB refuses unused ones)."""
        return self.con.execute(sql, duckdb_params(sql, {**self.params, **extra})).fetchall()

    def _scalar(self, sql: str, **extra: object) -> object:
        return self._run(sql, **extra)[0][0]

    # -- reading -------------------------------------------------------------------------------

    def read(self, batch: Sequence[LakeObject], paths: Sequence[Path]) -> None:
        stream = self.staging.stream
        pending = []
        for obj, path in zip(batch, paths, strict=True):
            file = _RawFile(obj.key, stream.arrival_hour(obj.key), str(path), size=obj.size)
            found = sniff(path)
            if found.readable_as is None:
                self._record_unreadable(file, found.cause)
            else:
                pending.append(replace(file, compression=found.readable_as))
        while pending:
            try:
                self._read_files(pending)
                return
            except (duckdb.IOException, duckdb.InvalidInputException) as error:
                broken = [f for f in pending if f.path in str(error)]
                if not broken or not _BROKEN_OBJECT.search(str(error)):
                    raise
                self._skip_reader_rejects()  # those of the failed scan
                for file in broken:
                    self._salvage(file, str(error))
                pending = [f for f in pending if f not in broken]

    def _read_files(self, files: Sequence[_RawFile]) -> None:
        self.con.register(
            "batch_files",
            pa.table(
                {
                    "source_object": [f.key for f in files],
                    "arrival_hour": pa.array(
                        [f.arrival_hour for f in files], pa.timestamp("us", tz="UTC")
                    ),
                    "path": [f.path for f in files],
                }
            ),
        )
        try:
            scans = []
            for compression in sorted({f.compression for f in files}):
                paths = ", ".join(
                    duckdb_string(f.path) for f in files if f.compression == compression
                )
                scans.append(
                    "SELECT f.source_object, f.arrival_hour, r.line "
                    f"FROM read_csv([{paths}], {_CSV_OPTIONS}, compression='{compression}') AS r "
                    "JOIN batch_files AS f ON r.filename = f.path"
                )
            self._set_raw_lines(" UNION ALL ".join(scans))
            self._judge()
            self._collect_reader_rejects()
        finally:
            self.con.unregister("batch_files")

    def _set_raw_lines(self, select: str) -> None:
        self._run(f"CREATE OR REPLACE TEMP VIEW raw_lines AS {select}")

    def _judge(self) -> None:
        """Parse the current `raw_lines` once and route every row to where it belongs."""
        self._run(
            f"""
            CREATE OR REPLACE TEMP TABLE judged AS
            WITH parsed AS (
                SELECT *,
                    CAST(timezone('{TIMEZONE}', event_at) AS DATE) AS event_day,
                    CAST(timezone('{TIMEZONE}', arrival_hour) AS DATE) AS arrival_day
                FROM ({self.staging.projection_sql})
            ),
            windowed AS (
                SELECT parsed.*,
                    coalesce(
                        w.ends,
                        timezone('{TIMEZONE}', CAST(parsed.event_day + 1 AS TIMESTAMP)) + $lateness
                    ) AS window_end
                FROM parsed LEFT JOIN widened_windows AS w ON w.event_day = parsed.event_day
            ),
            with_problem AS (
                SELECT *,
                    CASE
                        WHEN reject_reason IS NOT NULL THEN reject_reason
                        WHEN arrival_hour
                            < timezone('{TIMEZONE}', CAST(event_day AS TIMESTAMP)) - $skew
                            THEN 'timestamp_after_arrival'
                        WHEN arrival_hour >= window_end THEN 'arrived_after_window'
                        WHEN $check_newsletters AND newsletter_id NOT IN
                            (SELECT newsletter_id FROM known_newsletters)
                            THEN 'unknown_newsletter'
                    END AS problem
                FROM windowed
            )
            SELECT {self.columns}, source_object, arrival_hour, problem, event_day,
                CASE WHEN problem IS NOT NULL THEN raw_line END AS raw_line,
                CASE
                    WHEN problem = 'blank_line' THEN
                        CASE WHEN arrival_day = $day THEN 'blank' ELSE 'elsewhere' END
                    -- A valid event of an unknown newsletter is its own day's to judge.
                    WHEN problem = 'unknown_newsletter' THEN
                        CASE WHEN event_day = $day THEN 'quarantine' ELSE 'other_day' END
                    WHEN problem IS NOT NULL THEN
                        CASE WHEN arrival_day = $day THEN 'quarantine' ELSE 'elsewhere' END
                    WHEN event_day = $day THEN 'candidate'
                    ELSE 'other_day'
                END AS disposition
            FROM with_problem
            """
        )
        self._run(
            f"INSERT INTO candidates SELECT {self.columns}, source_object, arrival_hour "
            "FROM judged WHERE disposition = 'candidate'"
        )
        self._run(
            "INSERT INTO quarantined SELECT source_object, problem, raw_line, NULL, false "
            "FROM judged WHERE disposition = 'quarantine'"
        )
        self._run(
            "INSERT INTO counters SELECT disposition, COUNT(*) FROM judged "
            "WHERE disposition IN ('blank', 'other_day') GROUP BY disposition"
        )
        self._run(
            "INSERT INTO late_lines SELECT event_day, arrival_hour FROM judged "
            "WHERE problem = 'arrived_after_window' AND disposition = 'quarantine'"
        )
        self._run("DROP TABLE judged")

    def _collect_reader_rejects(self) -> None:
        """Lines DuckDB's reader itself refused (invalid UTF-8, over-long): those in objects
        that arrived on this day are quarantined here, with their line numbers."""
        if not self._has_reject_tables():
            return
        cases = " ".join(
            f"WHEN {duckdb_string(k)} THEN {duckdb_string(v)}"
            for k, v in _READER_REJECT_REASONS.items()
        )
        self._run(
            f"""
            INSERT INTO quarantined
            SELECT f.source_object,
                CASE e.error_type {cases} ELSE 'unreadable_line' END,
                trim(e.csv_line, chr(10) || chr(13)), e.line, false
            FROM reject_errors AS e
            JOIN reject_scans AS s ON e.scan_id = s.scan_id AND e.file_id = s.file_id
            JOIN batch_files AS f ON s.file_path = f.path
            WHERE e.scan_id > $last_scan
              AND CAST(timezone('{TIMEZONE}', f.arrival_hour) AS DATE) = $day
            """
        )
        self._skip_reader_rejects()

    def _has_reject_tables(self) -> bool:
        return bool(
            self._scalar("SELECT COUNT(*) FROM duckdb_tables() WHERE table_name = 'reject_errors'")
        )

    def _skip_reader_rejects(self) -> None:
        """Mark every reader reject so far as handled (DuckDB keeps them across scans)."""
        if self._has_reject_tables():
            self.params["last_scan"] = self._scalar(
                "SELECT COALESCE(MAX(scan_id), 0) FROM reject_scans"
            )

    def _salvage(self, file: _RawFile, error: str) -> None:
        """Keep the complete lines of a truncated or corrupt gzip object; record the loss."""
        with tempfile.TemporaryDirectory(prefix="theletter-salvage-") as folder:
            recovered = Path(folder) / "recovered.jsonl"
            lines = salvage_gzip_lines(Path(file.path), recovered)
            if lines:
                self._read_files(
                    [_RawFile(file.key, file.arrival_hour, str(recovered), compression="none")]
                )
        cause = error.replace(file.path, file.key).splitlines()[0][:200]
        if not lines:
            self._record_unreadable(file, f"nothing recoverable ({cause})")
        elif self._arrived_today(file):
            self._run(
                "INSERT INTO quarantined VALUES ($key, 'truncated_object', $detail, NULL, true)",
                key=file.key,
                detail=f"{lines} complete lines recovered, the rest unreadable ({cause})",
            )

    def _record_unreadable(self, file: _RawFile, cause: str) -> None:
        """An object none of whose lines can be read: its bytes count against the day's
        quarantine limit (whichever day it arrived on: this day lost its lines too), and the
        day it arrived on quarantines it."""
        self.unreadable.append((file.key, file.size, cause))
        if self._arrived_today(file):
            self._run(
                "INSERT INTO quarantined VALUES ($key, 'unreadable_object', $detail, NULL, true)",
                key=file.key,
                detail=f"{file.size:,} bytes unreadable: {cause}",
            )

    def _arrived_today(self, file: _RawFile) -> bool:
        return bool(
            self._scalar(
                f"SELECT CAST(timezone('{TIMEZONE}', $arrival) AS DATE) = $day",
                arrival=file.arrival_hour,
            )
        )

    # -- results -------------------------------------------------------------------------------

    def count_into(self, result: StagedDay) -> None:
        lines = dict(
            self._run(
                "SELECT reason, COUNT(*) FROM quarantined WHERE NOT object_level GROUP BY reason"
            )
        )
        objects = dict(
            self._run("SELECT reason, COUNT(*) FROM quarantined WHERE object_level GROUP BY reason")
        )
        counters = dict(self._run("SELECT kind, SUM(n) FROM counters GROUP BY kind"))
        result.staged = self.staged
        result.duplicates = self.candidates - self.staged
        result.quarantined = int(sum(lines.values()))
        result.quarantine_reasons = dict(
            sorted({**lines, **{f"{k} (objects)": v for k, v in objects.items()}}.items())
        )
        result.records_read = self.candidates + result.quarantined
        result.other_days = int(counters.get("other_day", 0))
        result.blank_lines = int(counters.get("blank", 0))
        result.late_accepted = self.late_accepted
        result.late_records = {
            event_day: (int(n), last)
            for event_day, n, last in self._run(
                "SELECT event_day, COUNT(*), MAX(arrival_hour) FROM late_lines GROUP BY event_day"
            )
        }
        result.unreadable = list(self.unreadable)

    def quarantined_by_object(self) -> list[tuple[str, str, int]]:
        """Objects by quarantined lines, most first: (key, reasons, lines)."""
        return [
            (str(key), str(reasons), int(n))
            for key, reasons, n in self._run(
                "SELECT source_object, string_agg(DISTINCT reason, ', ' ORDER BY reason), "
                "COUNT(*) AS n FROM quarantined WHERE NOT object_level "
                "GROUP BY source_object ORDER BY n DESC, source_object"
            )
        ]

    def quarantine_rows(self) -> pa.Table:
        sql = f"""
            SELECT CAST($day AS DATE) AS event_date, $stream AS stream, source_object,
                CASE WHEN object_level THEN '' ELSE sha256(COALESCE(raw_line, '')) END
                    AS line_sha256,
                reason,
                CASE WHEN object_level THEN 0 ELSE COUNT(*) END AS occurrences,
                MIN(line_number) AS line_number,
                {masked_excerpt_sql("MIN(raw_line)")} AS excerpt
            FROM quarantined
            GROUP BY source_object, line_sha256, reason, object_level
        """
        return self.con.sql(sql, params=duckdb_params(sql, self.params)).to_arrow_table()

    def take_first_copies(self) -> Iterator[pa.RecordBatch]:
        """The batch's events not handed over before, each as its first delivered copy, with
        the day and source object added; the batch's candidates are then dropped. Objects come
        in delivery order, so an event's first copy is in the first batch that holds it."""
        table = self.staging.table
        self.candidates += int(self._scalar("SELECT COUNT(*) FROM candidates"))  # type: ignore[arg-type]
        self._run(
            "DELETE FROM candidates WHERE md5_number(event_id) IN (SELECT event_key FROM seen)"
        )
        # Events delivered more than once in the batch: few, so only they are sorted.
        self._run(
            "CREATE OR REPLACE TEMP TABLE repeated AS SELECT event_id FROM candidates "
            "GROUP BY event_id HAVING COUNT(*) > 1"
        )
        order = ", ".join(["source_object", *self.staging.carried_columns])
        select = ", ".join(
            f"CAST($day AS DATE) AS {c}" if c == table.partition_by else c
            for c in table.column_names
        )
        sql = (
            f"SELECT {select} FROM candidates ANTI JOIN repeated USING (event_id) "
            f"UNION ALL SELECT {select} FROM candidates SEMI JOIN repeated USING (event_id) "
            f"QUALIFY row_number() OVER (PARTITION BY event_id ORDER BY {order}) = 1"
        )
        reader = self.con.sql(sql, params=duckdb_params(sql, self.params)).to_arrow_reader()
        for rows in reader:  # streamed: the batch's rows are never all in Arrow at once
            self.staged += rows.num_rows
            yield rows
        self.late_accepted += int(
            self._scalar(  # type: ignore[arg-type]
                "SELECT COUNT(*) FROM (SELECT MIN(arrival_hour) AS first_arrival FROM candidates "
                "GROUP BY event_id) WHERE first_arrival >= "
                f"timezone('{TIMEZONE}', CAST($day + 1 AS TIMESTAMP))"
            )
        )
        self._run("INSERT INTO seen SELECT DISTINCT md5_number(event_id) FROM candidates")
        self._run("DELETE FROM candidates")
