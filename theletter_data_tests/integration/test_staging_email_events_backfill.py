"""stg_email_events over several days at once: the same rows and figures as each day alone, one
write that fails together, each object listed and read once per engine session, and each
partition's own figures in its materialization.

Day D and its arrival window: support/staged_email_events.py.
"""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

import dagster as dg
import pytest
from dagster._core.storage.tags import (
    ASSET_PARTITION_RANGE_END_TAG,
    ASSET_PARTITION_RANGE_START_TAG,
)

from theletter_data.resources.ingest_engine import IngestEngine
from theletter_data.staging.email_events import EMAIL_EVENTS, stg_email_events
from theletter_data.staging.lines.stage import stage_days
from theletter_data_tests.support.rawdata import firehose_key, put_lines, ses, utc
from theletter_data_tests.support.recorded import Recorded
from theletter_data_tests.support.staged_email_events import D, quarantine_rows, stage, staged_rows


def test_days_written_together_equal_days_written_alone_and_fail_together(resources):
    """A backfill writes consecutive days in one warehouse write (here at most two): the same
    rows and quarantine as staging each day alone; a day that fails undoes its whole write."""
    lake, warehouse = resources["lake"], resources["warehouse"]
    days = [D - timedelta(days=1), D, D + timedelta(days=1)]
    for i, day in enumerate(days):
        noon = utc(f"{day - timedelta(days=1)} 16:00:00")  # 01:00 in Japan on `day`
        first = firehose_key("ses-events", noon + timedelta(minutes=5))
        put_lines(lake, first, [ses("Send", noon, message_id=f"d{i}-{n}") for n in range(3)])
        # A re-delivered copy, a bad line and one event of the next day delivered late.
        put_lines(
            lake,
            firehose_key("ses-events", noon + timedelta(hours=23, minutes=5), "b"),
            [
                ses("Send", noon, message_id=f"d{i}-0"),
                "{not json",
                ses("Send", noon + timedelta(hours=23, minutes=1), message_id=f"d{i}-next"),
            ],
        )
    engine = IngestEngine(
        max_days_per_write=2,
        quarantine_share_min_records=1,
        max_quarantined_share=0.3,
        temp_directory=resources["ingest_engine"].temp_directory,
    )

    def stage_all():
        return list(
            stage_days(EMAIL_EVENTS, days, lake=lake, engine=engine,
                       pseudonymizer=resources["pseudonymizer"], warehouse=warehouse)
        )  # fmt: skip

    together = stage_all()
    assert [(r.day, r.staged, r.duplicates, r.quarantined) for r in together] == [
        (days[0], 3, 1, 0),
        # Its own three and the previous day's late one; a bad line is the arrival day's.
        (days[1], 4, 1, 1),
        (days[2], 4, 1, 1),
    ]
    assert all(r.reconciles and r.rows_in_table == r.staged for r in together)
    tables = [staged_rows(warehouse, day) for day in days], quarantine_rows(warehouse)

    for day in days:
        stage(resources, day)
    assert ([staged_rows(warehouse, day) for day in days], quarantine_rows(warehouse)) == tables

    # Days 0 and 1 share a write: day 1 going bad (4 of 9 lines) leaves day 0 as it was too.
    noon = utc(f"{days[0] - timedelta(days=1)} 16:00:00")
    put_lines(lake, firehose_key("ses-events", noon, "more"), [ses("Send", noon, message_id="x")])
    put_lines(lake, firehose_key("ses-events", noon + timedelta(days=1), "bad"), ["{"] * 3)
    with pytest.raises(dg.Failure, match="would be quarantined"):
        stage_all()
    assert [staged_rows(warehouse, day) for day in days] == tables[0]


def test_a_backfill_records_each_days_own_figures(resources):
    """One run over two days: each partition's materialization carries that day's rows, reads,
    duplicates, quarantine and reconciliation, not the run's sums (the UI's row count and plots
    read them per partition)."""
    days = [D, D + timedelta(days=1)]
    for i, (day, events) in enumerate(zip(days, (3, 5), strict=True)):
        noon = utc(f"{day - timedelta(days=1)} 16:00:00")  # 01:00 in Japan on `day`
        lines = [ses("Send", noon, message_id=f"d{i}-{n}") for n in range(events)]
        # The second day also gets a re-delivered copy and a bad line.
        lines += [ses("Send", noon, message_id=f"d{i}-0"), "{not json"] * i
        put_lines(resources["lake"], firehose_key("ses-events", noon + timedelta(minutes=5)), lines)

    result = dg.materialize(
        [stg_email_events],
        resources=resources,
        tags={
            ASSET_PARTITION_RANGE_START_TAG: str(days[0]),
            ASSET_PARTITION_RANGE_END_TAG: str(days[1]),
        },
    )

    figures = (
        "dagster/row_count",
        "records_read",
        "duplicates_dropped",
        "quarantined",
        "reconciled",
    )
    by_partition = {
        m.partition: tuple(getattr(m.metadata.get(name), "value", None) for name in figures)
        for m in result.asset_materializations_for_node("stg_email_events")
    }
    assert by_partition == {"2026-11-20": (3, 3, 0, 0, True), "2026-11-21": (5, 7, 1, 1, True)}
    assert staged_rows(resources["warehouse"], days[1])[0]["event_date"] == days[1]


@pytest.mark.parametrize("max_days", [31, 2], ids=["one-group", "groups-of-two"])
def test_a_backfill_lists_and_reads_each_object_once_per_engine_session(resources, max_days):
    """Three consecutive days, each with objects delivered at 00:30, 12:00 and (the next day)
    00:30 Japan time: the first holds the day's first send and the previous day's last, the
    last a re-delivered copy of the noon send and the next day's first send. Neighbouring days'
    windows read the objects delivered around midnight. Staged together, the days' folders are
    listed once, each object is read once, in one engine session per write group, and each
    day's figures are those it has alone.

    Day D's window reads 5 objects: D-1's late one, D's three, D+1's early one. D's records
    in them: its first send twice (in D-1's late object and its own early one), its noon send
    twice, its last send once (delivered with D+1's first, after D ended: late, accepted):
    5 read, 3 staged, 2 duplicates. Records of other days: D-1's noon copy and last send,
    D+1's first send twice: 4."""
    lake, warehouse = resources["lake"], resources["warehouse"]
    days = [D - timedelta(days=1), D, D + timedelta(days=1)]
    keys = []
    for i, day in enumerate(days):
        start = utc(f"{day - timedelta(days=1)} 15:00:00")  # 00:00 in Japan on `day`
        noon = ses("Send", start + timedelta(hours=11, minutes=59), message_id=f"noon{i}")
        records = {
            f"early{i}": [
                ses("Send", start + timedelta(minutes=29), message_id=f"first{i}"),
                ses("Send", start - timedelta(minutes=2), message_id=f"last{i - 1}"),
            ],
            f"noon{i}": [noon],
            f"late{i}": [
                ses("Send", start + timedelta(hours=24, minutes=29), message_id=f"first{i + 1}"),
                noon,
            ],
        }
        for hours, name in ((0.5, f"early{i}"), (12, f"noon{i}"), (24.5, f"late{i}")):
            keys.append(firehose_key("ses-events", start + timedelta(hours=hours), name))
            put_lines(lake, keys[-1], records[name])
    alone = [stage(resources, day) for day in days]
    recorded_lake = Recorded(lake)
    engine = Recorded(
        IngestEngine(
            max_days_per_write=max_days, temp_directory=resources["ingest_engine"].temp_directory
        )
    )
    together = list(
        stage_days(EMAIL_EVENTS, days, lake=recorded_lake, engine=engine,
                   pseudonymizer=resources["pseudonymizer"], warehouse=warehouse)
    )  # fmt: skip

    # Each object once per write group that reads it: D/D+1's midnight objects are read by
    # both groups when D and D+1 are in different ones.
    shared = {k for k in keys if k.endswith(("late1.gz", "early2.gz"))} if max_days == 2 else set()
    assert Counter(recorded_lake.read) == {k: 2 if k in shared else 1 for k in keys}
    assert sorted(recorded_lake.listed) == sorted(set(recorded_lake.listed))
    assert engine.sessions == (1 if max_days == 31 else 2)
    figures = [
        (d.day, d.objects, d.records_read, d.staged, d.duplicates, d.other_days, d.late_accepted)
        for d in together
    ]
    assert figures == [
        (d.day, d.objects, d.records_read, d.staged, d.duplicates, d.other_days, d.late_accepted)
        for d in alone
    ]
    assert figures[1] == (D, 5, 5, 3, 2, 4, 1)
    assert all(d.reconciles and d.rows_in_table == d.staged for d in together)
