"""Reading: a batch of raw objects to lines, and what the reader itself refuses.

Objects are told by their first bytes (staging/object_format.py): gzip and plain text are read
as lines by DuckDB's CSV reader (one column, no quoting), so that a bad line keeps its text and
the reader's own rejects (invalid UTF-8, an over-long line) their line number; an object that
cannot be read at all is recorded with its bytes; a truncated or corrupt gzip object keeps its
complete lines (staging/salvage.py) and records the loss. Whatever is refused is the quarantine
of the day its object arrived on.
"""

from __future__ import annotations

import re
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path

import duckdb
import pyarrow as pa

from theletter_data.resources.lake import LakeObject
from theletter_data.sql import duckdb_string
from theletter_data.staging.lines.session import GroupSession, UnreadableObject
from theletter_data.staging.object_format import sniff
from theletter_data.staging.salvage import salvage_gzip_lines

CSV_OPTIONS = (
    "columns={'line': 'VARCHAR'}, delim='\\x01', quote='', escape='', header=false, "
    "auto_detect=false, strict_mode=false, null_padding=false, filename=true, "
    "store_rejects=true, max_line_size=33554432, buffer_size=67108864, new_line='\\r\\n'"
)
"""Lines end with LF or CRLF (`new_line='\\r\\n'` reads both; with `'\\n'` DuckDB also
breaks at the CR of a CRLF, which made a phantom blank line of every line). A bare CR inside a
line still breaks it, in either mode: its pieces are quarantined."""
READER_REJECT_REASONS = {
    "INVALID ENCODING": "invalid_utf8",
    "LINE SIZE OVER MAXIMUM": "line_too_long",
}
_BROKEN_OBJECT = re.compile(r"GZIP|zlib|decompress", re.I)


@dataclass(frozen=True)
class RawFile:
    key: str
    arrival_hour: datetime
    path: str
    compression: str = "gzip"
    size: int = 0


class LineReader:
    """Reads batches into the view `raw_lines(source_object, arrival_hour, line)` and hands
    each scan to `judge`."""

    def __init__(self, session: GroupSession, judge: Callable[[], None]) -> None:
        self.session = session
        self.judge = judge

    def read(self, batch: Sequence[LakeObject], paths: Sequence[Path]) -> None:
        stream = self.session.staging.stream
        pending = []
        for obj, path in zip(batch, paths, strict=True):
            file = RawFile(obj.key, stream.arrival_hour(obj.key), str(path), size=obj.size)
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

    def _read_files(self, files: Sequence[RawFile]) -> None:
        session = self.session
        session.con.register(
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
                    f"FROM read_csv([{paths}], {CSV_OPTIONS}, compression='{compression}') AS r "
                    "JOIN batch_files AS f ON r.filename = f.path"
                )
            session.set_raw_lines(" UNION ALL ".join(scans))
            self.judge()
            self._collect_reader_rejects()
        finally:
            session.no_lines()
            session.con.unregister("batch_files")

    def _collect_reader_rejects(self) -> None:
        """Lines DuckDB's reader itself refused (invalid UTF-8, over-long): those in objects
        that arrived on a day of the group are its quarantine, with their line numbers."""
        if not self._has_reject_tables():
            return
        cases = " ".join(
            f"WHEN {duckdb_string(k)} THEN {duckdb_string(v)}"
            for k, v in READER_REJECT_REASONS.items()
        )
        self.session.run(
            f"""
            INSERT INTO quarantined
            SELECT CAST(timezone($timezone, f.arrival_hour) AS DATE), f.source_object,
                CASE e.error_type {cases} ELSE 'unreadable_line' END,
                trim(e.csv_line, chr(10) || chr(13)), e.line, false
            FROM reject_errors AS e
            JOIN reject_scans AS s ON e.scan_id = s.scan_id AND e.file_id = s.file_id
            JOIN batch_files AS f ON s.file_path = f.path
            WHERE e.scan_id > $last_scan
              AND CAST(timezone($timezone, f.arrival_hour) AS DATE)
                BETWEEN $first_day AND $last_day
            """
        )
        self._skip_reader_rejects()

    def _has_reject_tables(self) -> bool:
        return bool(
            self.session.scalar(
                "SELECT COUNT(*) FROM duckdb_tables() WHERE table_name = 'reject_errors'"
            )
        )

    def _skip_reader_rejects(self) -> None:
        """Mark every reader reject so far as handled (DuckDB keeps them across scans)."""
        if self._has_reject_tables():
            self.session.params["last_scan"] = self.session.scalar(
                "SELECT COALESCE(MAX(scan_id), 0) FROM reject_scans"
            )

    def _salvage(self, file: RawFile, error: str) -> None:
        """Keep the complete lines of a truncated or corrupt gzip object; record the loss."""
        with tempfile.TemporaryDirectory(prefix="theletter-salvage-") as folder:
            recovered = Path(folder) / "recovered.jsonl"
            lines = salvage_gzip_lines(Path(file.path), recovered)
            if lines:
                self._read_files(
                    [RawFile(file.key, file.arrival_hour, str(recovered), compression="none")]
                )
        cause = error.replace(file.path, file.key).splitlines()[0][:200]
        if not lines:
            self._record_unreadable(file, f"nothing recoverable ({cause})")
        else:
            self.session.quarantine_object(
                file.key,
                file.arrival_hour,
                "truncated_object",
                f"{lines} complete lines recovered, the rest unreadable ({cause})",
            )

    def _record_unreadable(self, file: RawFile, cause: str) -> None:
        """An object none of whose lines can be read: its bytes count against the quarantine
        limit of every day whose window holds it (those days lost its lines), and the day it
        arrived on quarantines it."""
        self.session.unreadable.append(
            UnreadableObject(file.key, file.size, cause, file.arrival_hour)
        )
        self.session.quarantine_object(
            file.key,
            file.arrival_hour,
            "unreadable_object",
            f"{file.size:,} bytes unreadable: {cause}",
        )
