"""Staging reads the lake through S3 in production: the same day staged from a moto server
gives what the local folder gives, in batches of downloads that are cleaned up."""

from __future__ import annotations

import gzip
import json
import tempfile
from datetime import date
from pathlib import Path

from theletter_data.resources.ingest_engine import IngestEngine
from theletter_data.staging.email_events import EMAIL_EVENTS
from theletter_data.staging.lines.stage import stage_day
from theletter_data_tests.support.rawdata import firehose_key, put_lines, ses, utc

D = date(2026, 11, 20)


def test_a_day_staged_from_s3_matches_the_local_folder(
    s3_lake, lake, warehouse, pseudonymizer, tmp_path
) -> None:
    at = utc("2026-11-20 01:00:00")
    for target in (s3_lake, lake):
        put_lines(target, firehose_key("ses-events", utc("2026-11-20 01:05:00")),
                  [ses("Send", at, message_id=f"m-{i}") for i in range(50)])  # fmt: skip
        # A late object (16:40 UTC, after the day ended) and a re-delivered copy.
        put_lines(target, firehose_key("ses-events", utc("2026-11-20 16:40:00"), "late"),
                  [ses("Send", utc("2026-11-20 14:50:00"), message_id="late"),
                   ses("Send", at, message_id="m-0")])  # fmt: skip
        cut = gzip.compress(json.dumps(ses("Send", at, message_id="x")).encode(), mtime=0)
        target.write_bytes(firehose_key("ses-events", utc("2026-11-20 02:05:00"), "cut"), cut[:25])

    # One object per batch, so that several download batches come and go.
    engine = IngestEngine(batch_bytes=1, temp_directory=str(tmp_path / "spill"))
    before = set(Path(tempfile.gettempdir()).glob("theletter-lake-*"))
    results = [
        stage_day(EMAIL_EVENTS, D, lake=source, engine=engine, pseudonymizer=pseudonymizer,
                  warehouse=warehouse)
        for source in (s3_lake, lake)
    ]  # fmt: skip

    from_s3, local = results
    assert (from_s3.objects, from_s3.staged, from_s3.duplicates, from_s3.late_accepted) == (
        3,
        51,
        1,
        1,
    )
    assert from_s3.quarantine_reasons == {"unreadable_object (objects)": 1}
    assert (from_s3.staged, from_s3.duplicates, from_s3.quarantine_reasons) == (
        local.staged,
        local.duplicates,
        local.quarantine_reasons,
    )
    assert set(Path(tempfile.gettempdir()).glob("theletter-lake-*")) == before
