"""The demo-lake generator's report agrees with the files: counts per day and stream, the log
exports, and late records few, the rest within the arrival window.

Everything is checked against the files actually written, the way the platform's loaders will
read them, at a small size; the lake they read is generated once per session (the `generated`
fixture, support/generated_lake.py).
"""

from __future__ import annotations

import gzip
import json
import statistics
from collections import Counter, defaultdict
from datetime import date, datetime, timedelta

from theletter_data_dev.generate import StreamCounts
from theletter_data_tests.support.generated_lake import (
    FIREHOSE_STREAMS,
    Run,
    day_end,
    event_time,
    jst_day,
    object_day,
)

# --- the report agrees with the files -----------------------------------------------------------


def test_report_counts_equal_what_is_in_the_files(generated: Run) -> None:
    counted: dict[date, dict[str, Counter]] = defaultdict(lambda: defaultdict(Counter))
    distinct: dict[tuple[date, str], set[bytes]] = defaultdict(set)
    for obj in generated.objects:
        day = object_day(obj)
        counted[day][obj.stream]["objects"] += 1
        counted[day][obj.stream]["bytes"] += obj.size
    for x in generated.lines:
        stream = x.obj.stream
        if x.record is None:
            counted[jst_day(x.obj.delivered)][stream]["malformed_lines"] += 1
            continue
        day = jst_day(event_time(stream, x.record))
        counted[day][stream]["lines"] += 1
        distinct[day, stream].add(x.raw)
        if x.obj.delivered > day_end(day) + timedelta(hours=3):
            counted[day][stream]["late_lines"] += 1
    expected = {}
    for day, streams in counted.items():
        expected[day] = {}
        for stream in FIREHOSE_STREAMS:
            c = streams[stream]
            records = len(distinct[day, stream])
            expected[day][stream] = StreamCounts(
                records=records,
                duplicate_lines=c["lines"] - records,
                malformed_lines=c["malformed_lines"],
                late_lines=c["late_lines"],
                objects=c["objects"],
                bytes=c["bytes"],
            )
    firehose = {
        day: {s: c for s, c in streams.items() if s != "app_logs"}
        for day, streams in generated.report.per_day.items()
    }
    assert firehose == expected
    report = generated.report
    assert report.days == len(expected)
    for stream in ("ses_events", "page_views"):
        total = sum((d[stream] for d in expected.values()), StreamCounts())
        assert report.streams[stream] == total
        assert total.duplicate_lines > 0 and total.malformed_lines > 0
    assert report.ses_events.late_lines + report.page_views.late_lines > 0
    assert report.ses_events.records > 10_000 and report.page_views.records > 5_000
    assert "ses_events" in report.summary() and "page_views" in report.summary()


def test_the_log_exports_hold_what_the_report_counts(generated: Run) -> None:
    counted: dict[date, Counter] = defaultdict(Counter)
    services = set()
    for path in sorted((generated.root / "app-logs").rglob("*.gz")):
        _, day_text, service, *_ = path.relative_to(generated.root).parts
        day = date.fromisoformat(day_text)
        services.add(service)
        raw = path.read_bytes()
        counted[day]["objects"] += 1
        counted[day]["bytes"] += len(raw)
        for line in gzip.decompress(raw).decode().splitlines():
            stamp, _, message = line.partition(" ")
            try:
                at = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
                record = json.loads(message)
            except ValueError:
                counted[day]["malformed"] += 1
                continue
            assert jst_day(at) == day  # an export holds its own day's events only
            assert record["level"] and record["message"]
            counted[day]["records"] += 1
    reported = {day: streams["app_logs"] for day, streams in generated.report.per_day.items()}
    assert {
        day: StreamCounts(
            records=c["records"], malformed_lines=c["malformed"], objects=c["objects"],
            bytes=c["bytes"],
        )
        for day, c in counted.items()
    } == reported  # fmt: skip
    assert services == {"web", "api", "mailer", "worker"}
    assert generated.report.streams["app_logs"].records > 500


def test_late_records_are_few_and_the_rest_arrive_within_the_window(generated: Run) -> None:
    delays = []
    for x in generated.lines:
        if x.record is not None:
            t = event_time(x.obj.stream, x.record)
            delays.append((x.obj.delivered - t).total_seconds())
    late = generated.report.ses_events.late_lines + generated.report.page_views.late_lines
    assert 0 < late <= 12
    assert statistics.median(delays) < 400
    assert sum(d > 20 * 60 for d in delays) / len(delays) < 0.02
