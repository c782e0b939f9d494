"""Generating a range of days, in one process or split into contiguous runs over processes.

Each process builds the world itself (it is deterministic, so all agree) up to the last day of
its run, replays the three send days before its first day, then writes its days in order. Days
are independent, so any split gives the same bytes as `workers=1`.
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from datetime import date, datetime, timedelta
from typing import Any

from theletter_data.resources.lake import Lake

from . import appdb
from .app_logs import LogDay, write_app_logs
from .clock import FIRST_DAY, day_number
from .columns import concat
from .email_events import MAX_LAG_DAYS, Cascade, simulate_send_day
from .firehose import PAGE_VIEWS, PAYMENT_EVENTS, SES_EVENTS, Delivered, ObjectWriter, deliver
from .page_view_lines import PageViewLines
from .page_views import simulate_page_views
from .payments import PaymentLines, simulate_payments
from .report import GenerationReport, StreamCounts, build_report
from .ses_lines import SesLines
from .world import build_world

DayCounts = dict[str, StreamCounts]


def generate_lake(
    lake: Lake,
    start: date,
    end: date,
    *,
    newsletters: int = 40,
    readers: int = 20_000,
    seed: int = 7,
    workers: int = 1,
) -> GenerationReport:
    """Write a deterministic demo lake for the Japan-time days `start`..`end` (inclusive).

    Writes the objects of the three Firehose streams, the log exports and the three app exports
    for every day, and returns what was written. The bytes depend only on (seed, newsletters,
    readers) and the day, never on the range asked for or on `workers`.
    """
    for name, value in (("start", start), ("end", end)):
        if isinstance(value, datetime) or not isinstance(value, date):
            raise TypeError(f"{name} must be a datetime.date, got {value!r}")
    if start < FIRST_DAY:
        raise ValueError(f"start must be on or after {FIRST_DAY}, got {start}")
    if end < start:
        raise ValueError(f"end ({end}) is before start ({start})")
    if newsletters < 1 or readers < 1 or workers < 1:
        raise ValueError("newsletters, readers and workers must be positive")
    if seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed}")
    days = [start + timedelta(days=i) for i in range((end - start).days + 1)]
    runs = _split(days, workers)
    if len(runs) == 1:
        results = [generate_days(lake, seed, newsletters, readers, runs[0])]
    else:
        spec = _lake_spec(lake)
        context = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(max_workers=len(runs), mp_context=context) as pool:
            futures = [
                pool.submit(_generate_days_remote, spec, seed, newsletters, readers, run)
                for run in runs
            ]
            results = [f.result() for f in futures]
    per_day: dict[date, DayCounts] = {}
    for counts, _ in results:
        per_day.update(counts)
    return build_report(start, end, seed, newsletters, readers, per_day, results[-1][1])


def _split(days: Sequence[date], workers: int) -> list[list[date]]:
    """Contiguous runs, as even as possible (each run replays 3 send days before it)."""
    n = min(workers, len(days))
    size, extra = divmod(len(days), n)
    runs, first = [], 0
    for i in range(n):
        last = first + size + (1 if i < extra else 0)
        runs.append(list(days[first:last]))
        first = last
    return runs


def _lake_spec(lake: Lake) -> Any:
    if isinstance(lake, Lake):
        return (
            type(lake),
            {"url": lake.url, "endpoint_url": lake.endpoint_url, "region": lake.region},
        )
    return lake  # anything else must be picklable


def _generate_days_remote(
    spec: Any, seed: int, newsletters: int, readers: int, days: list[date]
) -> tuple[dict[date, DayCounts], dict[str, int]]:
    lake = spec[0](**spec[1]) if isinstance(spec, tuple) else spec
    return generate_days(lake, seed, newsletters, readers, days)


def generate_days(
    lake: Lake, seed: int, newsletters: int, readers: int, days: list[date]
) -> tuple[dict[date, DayCounts], dict[str, int]]:
    """Write consecutive days; returns per-day stream counts and the last snapshot's row counts."""
    world = build_world(seed, newsletters, readers, days[-1])
    ses_lines = SesLines(world)
    pv_lines = PageViewLines(world)
    payment_lines = PaymentLines(world)
    writer = ObjectWriter(lake)
    cascades: dict[int, Cascade] = {}
    pending: dict[date, dict[str, Delivered]] = {}
    logs: dict[date, LogDay] = {}
    rows: dict[str, int] = {}
    try:
        for day in days:
            number = day_number(day)
            for sent in range(number - MAX_LAG_DAYS, number + 1):
                if sent not in cascades:
                    cascades[sent] = simulate_send_day(world, sent)
            for sent in [s for s in cascades if s < number - MAX_LAG_DAYS]:
                del cascades[sent]
            ses = concat(c.ses.pop(number, {}) for c in cascades.values())
            views = concat(
                [simulate_page_views(world, number)]
                + [c.page_views.pop(number, {}) for c in cascades.values()]
            )
            pending[day] = {
                SES_EVENTS.name: deliver(writer, SES_EVENTS, seed, number, ses, ses_lines),
                PAGE_VIEWS.name: deliver(writer, PAGE_VIEWS, seed, number, views, pv_lines),
                PAYMENT_EVENTS.name: deliver(
                    writer,
                    PAYMENT_EVENTS,
                    seed,
                    number,
                    simulate_payments(world, number),
                    payment_lines,
                ),
            }
            logs[day] = write_app_logs(lake, world, seed, number, views, ses)
            rows = appdb.write_snapshot(lake, world, number)
    finally:
        writer.close()
    counts = {
        day: {
            **{name: _counts(d) for name, d in streams.items()},
            "app_logs": StreamCounts(
                records=logs[day].records,
                malformed_lines=logs[day].malformed_lines,
                objects=logs[day].objects,
                bytes=logs[day].bytes,
            ),
        }
        for day, streams in pending.items()
    }
    return counts, rows


def _counts(delivered: Delivered) -> StreamCounts:
    sizes = [f.result() for f in delivered.sizes]
    return StreamCounts(
        records=delivered.records,
        duplicate_lines=delivered.duplicate_lines,
        malformed_lines=delivered.malformed_lines,
        late_lines=delivered.late_lines,
        objects=len(sizes),
        bytes=sum(sizes),
    )
