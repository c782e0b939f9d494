"""stg_email_events staged from hand-built Firehose objects, for its tests
(integration/test_staging_email_events*.py): stage a day, read back its rows and the quarantine.

Day D is 2026-11-20 in Japan: it runs from 2026-11-19 15:00 to 2026-11-20 15:00 UTC, and its
arrival window (one hour of clock skew before, three hours of lateness after) is
[2026-11-19 14:00, 2026-11-20 18:00) UTC.
"""

from __future__ import annotations

from datetime import date

from theletter_data.resources.ingest_engine import IngestEngine
from theletter_data.staging.email_events import EMAIL_EVENTS
from theletter_data.staging.lines.stage import stage_day
from theletter_data_tests.support.rawdata import firehose_key, put_lines, utc

D = date(2026, 11, 20)


def stage(resources, day=D, batch_bytes=None):
    engine = resources["ingest_engine"]
    if batch_bytes is not None:
        engine = IngestEngine(batch_bytes=batch_bytes, temp_directory=engine.temp_directory)
    return stage_day(
        EMAIL_EVENTS,
        day,
        lake=resources["lake"],
        engine=engine,
        pseudonymizer=resources["pseudonymizer"],
        warehouse=resources["warehouse"],
    )


def staged_rows(warehouse, day=D):
    return warehouse.query(
        "SELECT * FROM staging.stg_email_events WHERE event_date = @day "
        "ORDER BY event_at, event_type, event_id",
        {"day": day},
    ).to_pylist()


def quarantine_rows(warehouse):
    return warehouse.query(
        "SELECT event_date, reason, occurrences, source_object, line_number, excerpt "
        "FROM staging.quarantine WHERE stream = 'ses_events' ORDER BY event_date, reason"
    ).to_pylist()


def staged_fields(resources, *records, key_time="2026-11-19 16:05:00"):
    """Stages records delivered in one object, none quarantined; the staged rows but sends, by
    message id."""
    put_lines(resources["lake"], firehose_key("ses-events", utc(key_time)), list(records))
    result = stage(resources)
    assert result.quarantined == 0
    return {
        r["message_id"]: r for r in staged_rows(resources["warehouse"]) if r["event_type"] != "send"
    }
