"""Kinesis Data Firehose delivery: how records become gzip objects in the lake.

Each record arrives a little after its event (SES: seconds; the beacon and the payment webhooks:
0-5 s; 0.2% are held up 20-150 minutes). Arrivals fill a buffer that is flushed 300 s after its
first record or once it holds 5 MB, into an object named after the flush time in a UTC-hour
folder. At-least-once delivery repeats 0.3% of records in a later object; a handful of records
per month arrive more than three hours after their Japan-time day ended (past the platform's
window), and a few lines per stream per few days are broken (cut mid-record, or bytes that are
not UTF-8).

One day's records are delivered by themselves: an object only ever holds records of one event
day, so a day's objects are the same whichever range was generated. Lines are formatted in
chunks, in arrival order, and objects leave as soon as they are flushed.
"""

from __future__ import annotations

import threading
import zlib
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import numpy as np
import pyarrow as pa

from theletter_data.raw import sources

from .clock import DAY_MS, HOUR_MS, MINUTE_MS, Stream, day_rng, day_start_ms
from .columns import Table, rows, select

BUFFER_MS = 300_000
BUFFER_BYTES = 5 * 1024 * 1024
ALLOWED_LATENESS_MS = sources.ALLOWED_LATENESS // timedelta(milliseconds=1)
CHUNK_LINES = 16_384
FORMAT_THREADS = 2
FORMAT_AHEAD = 3
GZIP_LEVEL = 3
"""Firehose's level is unspecified; 3 compresses these lines 2.5x faster than 6, 20% larger."""


@dataclass(frozen=True)
class FirehoseStream:
    name: str
    """The report's name for the stream."""
    folder: str
    file_prefix: str
    stream_id: int
    median_delay_ms: float
    """Typical time from the event to Firehose receiving the record."""

    def object_key(self, delivered: datetime, name: str) -> str:
        """The key Firehose gives an object it delivered at `delivered` (UTC)."""
        return (
            f"{self.folder}/{delivered:%Y/%m/%d/%H}/"
            f"{self.file_prefix}-{delivered:%Y-%m-%d-%H-%M-%S}-{name}.gz"
        )


SES_EVENTS = FirehoseStream(
    sources.SES_EVENTS.name, sources.SES_EVENTS.prefix, "theletter-ses-events-1", 1, 4000.0
)
PAGE_VIEWS = FirehoseStream(
    sources.PAGE_VIEWS.name, sources.PAGE_VIEWS.prefix, "theletter-pageviews-1", 2, 900.0
)
PAYMENT_EVENTS = FirehoseStream(
    "payment_events", "payment-events", "theletter-payment-events-1", 3, 900.0
)
"""The payment provider's webhooks, put into Firehose by theLetter's endpoint (the producer's
key, as docs/lake-layout.md gives it: staging a generated lake checks that the two agree)."""


@dataclass
class Delivered:
    """What one stream's day put in the lake; `sizes` resolve to compressed object sizes."""

    records: int
    duplicate_lines: int
    malformed_lines: int
    late_lines: int
    sizes: list[Future[int]]


class ObjectWriter:
    """Compresses and writes objects on background threads (zlib releases the GIL)."""

    def __init__(self, lake, threads: int = 2, max_pending: int = 6) -> None:
        self._lake = lake
        self._pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="lake-writer")
        self._slots = threading.BoundedSemaphore(max_pending)

    def submit(self, key: str, parts: list[pa.Buffer]) -> Future[int]:
        self._slots.acquire()
        future = self._pool.submit(self._write, key, parts)
        future.add_done_callback(lambda _: self._slots.release())
        return future

    def _write(self, key: str, parts: list[pa.Buffer]) -> int:
        # wbits=31: a gzip member with mtime 0 and no file name, as gzip.compress(mtime=0) writes.
        gz = zlib.compressobj(GZIP_LEVEL, zlib.DEFLATED, 31)
        body = b"".join([*(gz.compress(p) for p in parts), gz.flush()])
        self._lake.write_bytes(key, body)
        return len(body)

    def close(self) -> None:
        self._pool.shutdown(wait=True)


def _delays(rng: np.random.Generator, stream: FirehoseStream, n: int) -> np.ndarray:
    if stream is SES_EVENTS:
        return np.clip(np.exp(rng.normal(np.log(stream.median_delay_ms), 0.9, n)), 300, 60_000)
    return rng.uniform(0, 5000, n)


def deliver(
    writer: ObjectWriter,
    stream: FirehoseStream,
    seed: int,
    number: int,
    records: Table,
    format_lines: Callable[[Table], pa.Array],
) -> Delivered:
    """Deliver one day's records (all with event times on day `number`) as Firehose would."""
    rng = day_rng(seed, number, Stream.FIREHOSE, stream.stream_id)
    n = rows(records)
    start = day_start_ms(number)
    end = start + DAY_MS
    event = records["ms"] if n else np.zeros(0, dtype=np.int64)
    arrival = event + _delays(rng, stream, n).astype(np.int64)
    held = rng.random(n) < 0.002
    arrival[held] = event[held] + (rng.uniform(20, 150, int(held.sum())) * MINUTE_MS).astype(
        np.int64
    )
    late = (
        rng.choice(n, size=min(n, int(rng.poisson(0.12))), replace=False) if n else np.zeros(0, int)
    )
    arrival[late] = end + (rng.uniform(4, 30, len(late)) * HOUR_MS).astype(np.int64)
    is_late = np.zeros(n, dtype=bool)
    is_late[late] = True

    # Re-deliveries: a later object, minutes to two hours on, still inside the loader's window.
    again = (
        ~is_late & (arrival <= end + ALLOWED_LATENESS_MS - 20 * MINUTE_MS) & (rng.random(n) < 0.003)
    )
    dup_src = np.flatnonzero(again)
    dup_gap = np.clip(
        np.exp(rng.normal(np.log(15 * MINUTE_MS), 1.0, len(dup_src))), BUFFER_MS + 1000, 2 * HOUR_MS
    ).astype(np.int64)
    dup_arrival = np.minimum(arrival[dup_src] + dup_gap, end + ALLOWED_LATENESS_MS - 10 * MINUTE_MS)

    broken = _malformed_lines(rng, records, format_lines) if n else []
    broken_arrival = (
        start + HOUR_MS + rng.integers(0, DAY_MS - HOUR_MS - 20 * MINUTE_MS, len(broken))
    )

    source = np.concatenate([np.arange(n), dup_src, -1 - np.arange(len(broken))])
    arrived = np.concatenate([arrival, dup_arrival, broken_arrival]).astype(np.int64)
    order = np.lexsort((np.arange(len(source)), arrived))
    buffer = _Buffer(writer, stream, rng)
    # Chunks are formatted ahead on threads (Arrow releases the GIL) and consumed in order.
    chunks = [order[i : i + CHUNK_LINES] for i in range(0, len(order), CHUNK_LINES)]
    with ThreadPoolExecutor(max_workers=FORMAT_THREADS, thread_name_prefix="format") as pool:
        ahead: deque[Future[pa.BinaryArray]] = deque()
        for i in range(len(chunks) + FORMAT_AHEAD):
            if i < len(chunks):
                ahead.append(pool.submit(_lines, records, source[chunks[i]], broken, format_lines))
            if i >= FORMAT_AHEAD:
                buffer.add(arrived[chunks[i - FORMAT_AHEAD]], ahead.popleft().result())
    buffer.close()
    return Delivered(n, len(dup_src), len(broken), len(late), buffer.sizes)


def _malformed_lines(
    rng: np.random.Generator, records: Table, format_lines: Callable[[Table], pa.Array]
) -> list[bytes]:
    """A record cut off mid-way, or bytes that are not UTF-8 (never a newline)."""
    out = []
    for _ in range(int(rng.poisson(0.45))):
        if rng.random() < 0.5:
            row = int(rng.integers(rows(records)))
            line = format_lines(select(records, np.array([row])))[0].as_py().encode()
            out.append(line[: int(len(line) * rng.uniform(0.15, 0.9))].rstrip(b"\n"))
        else:
            garbage = rng.integers(
                0x80, 0x100, int(rng.integers(16, 160)), dtype=np.uint8
            ).tobytes()
            out.append(b"\x1f\x8b\x08" + garbage + b"\xff")  # e.g. a stray binary payload
    return out


def _lines(
    records: Table,
    source: np.ndarray,
    broken: list[bytes],
    format_lines: Callable[[Table], pa.Array],
) -> pa.BinaryArray:
    """The chunk's lines in order, newline-terminated, as one binary column."""
    valid = source >= 0
    formatted = format_lines(select(records, source[valid])).cast(pa.binary())
    if valid.all():
        return formatted
    extra = pa.array([broken[-1 - s] + b"\n" for s in source[~valid]], type=pa.binary())
    combined = pa.concat_arrays([formatted, extra])
    position = np.empty(len(source), dtype=np.int64)
    position[np.flatnonzero(valid)] = np.arange(int(valid.sum()))
    position[np.flatnonzero(~valid)] = int(valid.sum()) + np.arange(int((~valid).sum()))
    return combined.take(pa.array(position))


class _Buffer:
    """Firehose's buffer: flush 300 s after the first record arrives, or at 5 MB."""

    def __init__(
        self, writer: ObjectWriter, stream: FirehoseStream, rng: np.random.Generator
    ) -> None:
        self.writer, self.stream, self.rng = writer, stream, rng
        self.parts: list[pa.Buffer] = []
        self.size = 0
        self.opened: int | None = None
        self.sizes: list[Future[int]] = []

    def add(self, arrival: np.ndarray, lines: pa.BinaryArray) -> None:
        lines = pa.concat_arrays([lines]) if lines.offset else lines
        offsets = np.frombuffer(lines.buffers()[1], dtype=np.int32, count=len(lines) + 1)
        data = lines.buffers()[2]
        lengths = np.diff(offsets)
        pos, n = 0, len(lines)
        while pos < n:
            if self.opened is None:
                self.opened = int(arrival[pos])
            deadline = self.opened + BUFFER_MS
            until = pos + int(np.searchsorted(arrival[pos:], deadline, side="left"))
            if until == pos:
                self._flush(deadline)
                continue
            filled = self.size + np.cumsum(lengths[pos:until])
            full = int(np.searchsorted(filled, BUFFER_BYTES, side="left"))
            stop = pos + full + 1 if full < until - pos else until
            self.parts.append(data.slice(int(offsets[pos]), int(offsets[stop] - offsets[pos])))
            self.size += int(offsets[stop] - offsets[pos])
            if full < until - pos:
                self._flush(int(arrival[stop - 1]))
            elif until < n:
                self._flush(deadline)
            pos = stop

    def close(self) -> None:
        if self.opened is not None:
            self._flush(self.opened + BUFFER_MS)

    def _flush(self, at_ms: int) -> None:
        delivered = at_ms + int(self.rng.integers(200, 4000))
        hi, lo = (int(x) for x in self.rng.integers(0, 1 << 64, 2, dtype=np.uint64))
        h = f"{(hi & ~0xF000) | 0x4000:016x}{(lo & (2**62 - 1)) | 2**63:016x}"
        name = f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"
        key = self.stream.object_key(datetime.fromtimestamp(delivered // 1000, tz=UTC), name)
        self.sizes.append(self.writer.submit(key, self.parts))
        self.parts, self.size, self.opened = [], 0, None
