"""stg_email_events on bad lines: each quarantined with its reason (malformed, not UTF-8, a
truncated or empty object, an unknown event type, a missing field) while the good ones are
kept; Windows line endings and a lone carriage return.

Day D and its arrival window: support/staged_email_events.py.
"""

from __future__ import annotations

import gzip
import json

from theletter_data_tests.support.rawdata import firehose_key, put_lines, ses, utc
from theletter_data_tests.support.staged_email_events import quarantine_rows, stage, staged_rows


def test_bad_lines_are_quarantined_with_their_reason_and_good_ones_kept(resources):
    lake = resources["lake"]
    at = utc("2026-11-20 01:00:00")
    no_message_id = ses("Send", at)
    del no_message_id["mail"]["messageId"]
    bad_time = ses("Open", at)
    bad_time["open"]["timestamp"] = "yesterday-ish"
    unknown_type = ses("Bounce", at)
    unknown_type["eventType"] = "Bounced"  # not an SES event type
    key = firehose_key("ses-events", utc("2026-11-20 01:05:00"))
    put_lines(
        lake,
        key,
        [
            ses("Send", at, message_id="good-1"),
            '{"eventType": "Send", "mail": {"messageId": "cut-off", "destination": ["x@y.jp"]',
            b"\xff\xfe not utf-8 \xc3\x28",
            "",
            unknown_type,
            no_message_id,
            bad_time,
            ses("Send", at, message_id="good-2"),
            '{"eventType": "Send", "mail": {"messageId": "cut-off", "destination": ["x@y.jp"]',
        ],
    )
    # A truncated upload: its first gzip member is whole, the second is cut in the middle.
    whole = gzip.compress(
        b"\n".join(json.dumps(ses("Send", at, message_id=f"saved-{i}")).encode() for i in (1, 2))
        + b"\n",
        mtime=0,
    )
    cut = gzip.compress(json.dumps(ses("Send", at, message_id="lost")).encode() + b"\n", mtime=0)
    lake.write_bytes(firehose_key("ses-events", utc("2026-11-20 02:05:00")), whole + cut[:30])
    lake.write_bytes(firehose_key("ses-events", utc("2026-11-20 03:05:00")), b"")  # zero bytes

    result = stage(resources)

    assert {r["message_id"] for r in staged_rows(resources["warehouse"])} == {
        "good-1", "good-2", "saved-1", "saved-2",
    }  # fmt: skip
    assert result.quarantine_reasons == {
        "invalid_timestamp": 1,
        "invalid_utf8": 1,
        "malformed_json": 2,
        "missing_field:mail.messageId": 1,
        "truncated_object (objects)": 1,
        "unknown_event_type": 1,
        "unreadable_object (objects)": 1,
    }
    assert (result.records_read, result.staged, result.quarantined, result.blank_lines) == (
        10,
        4,
        6,
        1,
    )
    assert result.reconciles
    rows = quarantine_rows(resources["warehouse"])
    malformed = next(r for r in rows if r["reason"] == "malformed_json")
    assert malformed["occurrences"] == 2  # the same bad line twice: one row, counted twice
    assert "<email>" in malformed["excerpt"] and "x@y.jp" not in malformed["excerpt"]
    invalid = next(r for r in rows if r["reason"] == "invalid_utf8")
    assert (invalid["source_object"], invalid["line_number"]) == (key, 3)
    truncated = next(r for r in rows if r["reason"] == "truncated_object")
    assert truncated["occurrences"] == 0 and truncated["excerpt"].startswith("2 complete lines")


def test_crlf_line_endings_give_exactly_their_records(resources):
    """An object written with Windows line endings: its records, one blank line where there is
    one, and no carriage return in any staged value."""
    lake = resources["lake"]
    at = utc("2026-11-20 01:00:00")
    records = [json.dumps(ses("Send", at, message_id=f"crlf-{i}")) for i in range(3)]
    body = "\r\n".join([records[0], records[1], "", records[2]]) + "\r\n"
    key = firehose_key("ses-events", utc("2026-11-20 01:05:00"))
    lake.write_bytes(key, gzip.compress(body.encode(), mtime=0))

    result = stage(resources)

    assert (result.records_read, result.staged, result.quarantined, result.blank_lines) == (
        3, 3, 0, 1,
    )  # fmt: skip
    rows = staged_rows(resources["warehouse"])
    assert sorted(r["message_id"] for r in rows) == ["crlf-0", "crlf-1", "crlf-2"]
    assert not any("\r" in str(value) for r in rows for value in r.values())


def test_a_lone_carriage_return_inside_a_line_is_quarantined_not_blank(resources):
    """Attack on the CRLF reading: a bare `\\r` in the middle of a record (valid JSON whitespace)
    splits it, as every line reader of the engine does; its pieces are quarantined with their
    reason, never counted as blank lines, and the records around it are staged."""
    lake = resources["lake"]
    at = utc("2026-11-20 01:00:00")
    broken = json.dumps(ses("Send", at, message_id="split")).replace(', "mail"', ',\r"mail"', 1)
    body = "\n".join(
        [json.dumps(ses("Send", at, message_id="before")), broken,
         json.dumps(ses("Send", at, message_id="after"))]
    ) + "\n"  # fmt: skip
    lake.write_bytes(
        firehose_key("ses-events", utc("2026-11-20 01:05:00")), gzip.compress(body.encode())
    )

    result = stage(resources)

    assert {r["message_id"] for r in staged_rows(resources["warehouse"])} == {"before", "after"}
    assert result.quarantine_reasons == {"malformed_json": 2} and result.blank_lines == 0
    assert result.reconciles
