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
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import TypeVar

import dagster as dg
import duckdb
import pyarrow as pa

from theletter_data.partitions import FIRST_DAY, TIMEZONE
from theletter_data.raw.layout import CLOCK_SKEW, LineStream
from theletter_data.resources.ingest_engine import IngestEngine
from theletter_data.resources.lake import Lake, LakeObject
from theletter_data.resources.pseudonymizer import Pseudonymizer
from theletter_data.resources.warehouse import PartitionWrite, Warehouse
from theletter_data.sql import duckdb_params, duckdb_string
from theletter_data.staging.known_newsletters import KnownNewsletters, known_newsletters
from theletter_data.staging.quarantine import QUARANTINE, masked_excerpt_sql
from theletter_data.staging.salvage import salvage_gzip_lines
from theletter_data.tables import Table

_CSV_OPTIONS = (
    "columns={'line': 'VARCHAR'}, delim='\\x01', quote='', escape='', header=false, "
    "auto_detect=false, strict_mode=false, null_padding=false, filename=true, "
    "store_rejects=true, max_line_size=33554432, buffer_size=67108864, new_line='\\n'"
)
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
) -> Iterator[StagedDay]:
    """Replace the partitions of consecutive `days` (and their quarantine rows) from the lake,
    yielding each day's account once it is committed. Consecutive days are written together, up
    to `engine.write_bytes` of raw objects or `engine.max_days_per_write` days: a backfill of
    small days pays one warehouse transaction (on BigQuery one load job and one MERGE) a month,
    not one a day, while a big day is still written alone."""
    planned = [(day, _objects_of(staging, day, lake, engine)) for day in days]
    for group in _write_groups(planned, engine.write_bytes, engine.max_days_per_write):
        yield from _stage_together(
            staging, group, lake=lake, engine=engine, pseudonymizer=pseudonymizer,
            warehouse=warehouse, only_this_day=False,
        )  # fmt: skip


def stage_day(
    staging: FirehoseStaging,
    day: date,
    *,
    lake: Lake,
    engine: IngestEngine,
    pseudonymizer: Pseudonymizer,
    warehouse: Warehouse,
    only_this_day: bool = False,
) -> StagedDay:
    """Replace `day`'s partition of the staged table (and its quarantine rows) from the lake.
    With `only_this_day` (a table of the current day so far) every other day's rows go and the
    quarantine is left to the day's own staging."""
    if only_this_day:  # a day so far may not have its first object yet
        objects = staging.stream.objects_for_day(lake, day, engine.allowed_lateness)
    else:
        objects = _objects_of(staging, day, lake, engine)
    (result,) = _stage_together(
        staging, [(day, objects)], lake=lake, engine=engine, pseudonymizer=pseudonymizer,
        warehouse=warehouse, only_this_day=only_this_day,
    )  # fmt: skip
    return result


def _objects_of(
    staging: FirehoseStaging, day: date, lake: Lake, engine: IngestEngine
) -> list[LakeObject]:
    objects = staging.stream.objects_for_day(lake, day, engine.allowed_lateness)
    if not objects:
        first, end = staging.stream.arrival_window(day, engine.allowed_lateness)
        raise dg.Failure(
            f"No `{staging.stream.prefix}/` objects were delivered between {first:%Y-%m-%d %H:00} "
            f"and {end:%Y-%m-%d %H:00} UTC, the arrival window of {day}: staging it would "
            "publish a day without any. Check the stream's producer (the Firehose delivery "
            "stream, or the log export task).",
            allow_retries=True,
        )
    return objects


_Planned = tuple[date, list[LakeObject]]


def _write_groups(
    planned: Sequence[_Planned], max_bytes: int, max_days: int
) -> Iterator[list[_Planned]]:
    sizes = [sum(o.size for o in objects) for _, objects in planned]
    return _grouped(planned, sizes, max_bytes, max_days)


class _Guard:
    """The first exception raised while the warehouse read a stream: the warehouse's engine
    may wrap it beyond recognition, so it is kept to be re-raised as itself."""

    failure: Exception | None = None


def _stage_together(
    staging: FirehoseStaging,
    group: Sequence[_Planned],
    *,
    lake: Lake,
    engine: IngestEngine,
    pseudonymizer: Pseudonymizer,
    warehouse: Warehouse,
    only_this_day: bool,
) -> list[StagedDay]:
    """Stage consecutive days in one warehouse write: each day is judged on its own (its own
    engine session, deduplication and quarantine limit) and streams into the same write."""
    results = [
        StagedDay(day=day, objects=len(objects), bytes=sum(o.size for o in objects))
        for day, objects in group
    ]
    guard = _Guard()
    quarantines: list[pa.Table] = []

    def staged_batches() -> Iterator[pa.RecordBatch]:
        """Read a batch of objects, hand over its new events, forget all but their ids: the
        day streams through, so memory and spill hold one batch, not the day."""
        for result, (day, objects) in zip(results, group, strict=True):
            known = known_newsletters(lake, day, engine)
            result.newsletters_checked_against = known.as_of
            with engine.session() as con:
                work = _DayWork(
                    con, staging, day, engine.allowed_lateness, pseudonymizer.sql_params(), known
                )
                for batch in _batches(objects, engine.batch_bytes):
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
                    )
                    quarantines.append(work.quarantine_rows())

    def quarantine_batches() -> Iterator[pa.RecordBatch]:
        """Read only once the staged rows have streamed, so every day has been judged."""
        for rows in quarantines:
            yield from rows.to_batches()

    first, end = group[0][0], group[-1][0] + timedelta(days=1)
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


class _DayWork:
    """The engine-side state of one day: `candidates` (the current batch's valid records of the
    day, duplicates included), `seen` (the ids of the events handed over), `quarantined` (bad
    lines this day answers for) and line `counters`."""

    def __init__(
        self,
        con: duckdb.DuckDBPyConnection,
        staging: FirehoseStaging,
        day: date,
        lateness: timedelta,
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
            "lateness": lateness,
            "last_scan": 0,
            "check_newsletters": known.checked and staging.newsletters_must_exist,
        }
        con.register("known_newsletters", known.ids)
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
        # The events already handed over, by the md5 of their id: 16 bytes an event.
        self._run("CREATE TEMP TABLE seen (event_key UHUGEINT)")
        self.candidates = 0
        self.staged = 0
        self.late_accepted = 0

    def _run(self, sql: str, **extra: object) -> list[tuple]:
        """Execute with the parameters the statement names (DuckDB refuses unused ones)."""
        return self.con.execute(sql, duckdb_params(sql, {**self.params, **extra})).fetchall()

    def _scalar(self, sql: str, **extra: object) -> object:
        return self._run(sql, **extra)[0][0]

    # -- reading -------------------------------------------------------------------------------

    def read(self, batch: Sequence[LakeObject], paths: Sequence[Path]) -> None:
        stream = self.staging.stream
        pending = [
            _RawFile(o.key, stream.arrival_hour(o.key), str(p))
            for o, p in zip(batch, paths, strict=True)
        ]
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
            paths = "[" + ", ".join(duckdb_string(f.path) for f in files) + "]"
            self._set_raw_lines(
                "SELECT f.source_object, f.arrival_hour, r.line "
                f"FROM read_csv({paths}, {_CSV_OPTIONS}) AS r "
                "JOIN batch_files AS f ON r.filename = f.path"
            )
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
            with_problem AS (
                SELECT *,
                    CASE
                        WHEN reject_reason IS NOT NULL THEN reject_reason
                        WHEN arrival_hour
                            < timezone('{TIMEZONE}', CAST(event_day AS TIMESTAMP)) - $skew
                            THEN 'timestamp_after_arrival'
                        WHEN arrival_hour
                            >= timezone('{TIMEZONE}', CAST(event_day + 1 AS TIMESTAMP)) + $lateness
                            THEN 'arrived_after_window'
                        WHEN $check_newsletters AND newsletter_id NOT IN
                            (SELECT newsletter_id FROM known_newsletters)
                            THEN 'unknown_newsletter'
                    END AS problem
                FROM parsed
            )
            SELECT {self.columns}, source_object, arrival_hour, problem,
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
                self._read_files([_RawFile(file.key, file.arrival_hour, str(recovered))])
        arrived_today = self._scalar(
            f"SELECT CAST(timezone('{TIMEZONE}', $arrival) AS DATE) = $day",
            arrival=file.arrival_hour,
        )
        if arrived_today:
            cause = error.replace(file.path, file.key).splitlines()[0][:200]
            self._run(
                "INSERT INTO quarantined VALUES ($key, $reason, $detail, NULL, true)",
                key=file.key,
                reason="truncated_object" if lines else "unreadable_object",
                detail=f"{lines} complete lines recovered, the rest unreadable ({cause})",
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
