"""Benchmark lakes: one Japan-time day of SES events at any size, from one generated day.

The demo generator models readers, sends and cascades, which is right for correctness and too
slow for ten million events. A scaled day keeps its realism instead: the generator writes one
real day (about 66,000 SES records with its duplicates, MPP opens, bounces, ...), and copy `k`
of it renames every message id and every address (`k7-<id>`, `name+k7@host`), so each copy is
new events of new readers with the same shape. Objects are Firehose-sized and delivered within
the day, beside the day's newsletters export (staging checks events against it).
"""

from __future__ import annotations

import gzip
import re
import shutil
from concurrent.futures import ProcessPoolExecutor
from datetime import date, timedelta
from pathlib import Path

from theletter_data.partitions import day_bounds_utc
from theletter_data.resources.lake import Lake
from theletter_data_dev.generate import generate_lake
from theletter_data_dev.generate.firehose import SES_EVENTS

DAY = date(2026, 11, 20)
RECORDS_PER_OBJECT = 100_000
_MESSAGE_ID = re.compile(rb'"messageId":"')


def scaled_day(root: Path, events: int, day: date = DAY, workers: int = 2) -> Lake:
    """A lake at `root` holding `events` SES records of `day` (built once, then reused)."""
    done = root / "COMPLETE"
    lake = Lake(url=str(root))
    if done.exists():
        return lake
    shutil.rmtree(root, ignore_errors=True)
    template = template_day(root.parent, day)
    lines = _template_lines(template)
    first_hour, _ = day_bounds_utc(day)
    starts = range(0, events, RECORDS_PER_OBJECT)
    paths = [
        str(root / SES_EVENTS.object_key(first_hour + timedelta(minutes=5 * n), f"bench-{n:05d}"))
        for n in range(len(starts))
    ]
    stops = [min(start + RECORDS_PER_OBJECT, events) for start in starts]
    with ProcessPoolExecutor(workers, initializer=_set_template, initargs=(lines,)) as pool:
        list(pool.map(_write, paths, starts, stops))
    for table_dir in (template / "appdb").iterdir():
        export = table_dir / f"dt={day}"
        shutil.copytree(export, root / "appdb" / table_dir.name / f"dt={day}")
    done.write_text(f"{events} SES records of {day} in {len(paths)} objects\n")
    return lake


def template_day(folder: Path, day: date = DAY) -> Path:
    """The generated day scaled lakes are made from: 20,000 readers, about 66,000 SES records."""
    return _generated(folder / f"template-{day}", day, readers=20_000, newsletters=40)


def small_day(folder: Path, day: date = DAY) -> Path:
    """A small generated day (500 readers, 5 newsletters) to measure the fixed cost of a run."""
    return _generated(folder, day, readers=500, newsletters=5)


def _generated(folder: Path, day: date, readers: int, newsletters: int) -> Path:
    if not (folder / "COMPLETE").exists():
        shutil.rmtree(folder, ignore_errors=True)
        lake = Lake(url=str(folder))
        generate_lake(lake, day, day, readers=readers, newsletters=newsletters, seed=7)
        (folder / "COMPLETE").touch()
    return folder


def _template_lines(template: Path) -> list[bytes]:
    lines: list[bytes] = []
    for path in sorted((template / SES_EVENTS.folder).rglob("*.gz")):
        lines.extend(line for line in gzip.decompress(path.read_bytes()).split(b"\n") if line)
    return lines


_template: list[bytes] = []


def _set_template(lines: list[bytes]) -> None:
    _template[:] = lines


def _records(start: int, stop: int) -> bytes:
    """Records [start, stop) of the scaled day: record i is line i % n of copy i // n."""
    n = len(_template)
    parts = []
    for k in range(start // n, (stop - 1) // n + 1):
        first, last = max(start - k * n, 0), min(stop - k * n, n)
        blob = b"\n".join(_template[first:last]) + b"\n"
        if k:
            tag = f"k{k}".encode()
            blob = _MESSAGE_ID.sub(b'"messageId":"' + tag + b"-", blob)
            blob = blob.replace(b"@", b"+" + tag + b"@")
        parts.append(blob)
    return b"".join(parts)


def _write(path: str, start: int, stop: int) -> None:
    """Gzip at level 1: a faster build; readers decompress any level at about the same speed."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_bytes(gzip.compress(_records(start, stop), compresslevel=1, mtime=0))
