"""Every kind of bad input, in one day of the lake beside good records: none crashes the run, no
good record is lost, every bad one is quarantined with its reason and object. The figures the
README's reliability section reports are the ones asserted here.

One module over 300 lines: its cases share one day of the lake, the same engine and warehouse
helpers, and the README table their figures fill.

Each case is its own Firehose object, named after the case, delivered on 2026-11-20 (JST).
"""

from __future__ import annotations

import gzip
import json
import random
from datetime import date

import dagster as dg
import duckdb
import pyarrow as pa
import pytest

from theletter_data.resources.ingest_engine import IngestEngine
from theletter_data.staging.app_exports import (
    NEWSLETTERS,
    SIGNUP_COLUMNS,
    SUBSCRIPTIONS,
    stage_snapshot,
)
from theletter_data.staging.email_events import EMAIL_EVENTS
from theletter_data.staging.lines.stage import stage_day
from theletter_data.staging.quarantine import masked_excerpt_sql
from theletter_data_tests.support.rawdata import firehose_key, put_export, put_lines, ses, utc

D = date(2026, 11, 20)
AT = utc("2026-11-20 01:00:00")


def _key(case: str, minute: int) -> str:
    return firehose_key("ses-events", utc(f"2026-11-20 02:{minute:02d}:00"), case)


def _send(message_id: str, **changes: object) -> dict:
    record = ses("Send", AT, message_id=message_id)
    for path, value in changes.items():
        target = record
        *parents, leaf = path.split(".")
        for parent in parents:
            target = target[parent]
        if value is None:
            del target[leaf]
        else:
            target[leaf] = value
    return record


def build_bad_day(lake) -> None:  # type: ignore[no-untyped-def]
    put_export(lake, "newsletters", D, [
        {"newsletter_id": "nl_1", "slug": "tokyo-tech", "created_at": utc("2026-01-01 00:00:00")}
    ])  # fmt: skip
    put_lines(lake, _key("good", 0), [_send(f"good-{i}") for i in range(100)])
    cut = '{"eventType": "Send", "mail": {"messageId": "cut", "destination": ["a@b.jp"]'
    put_lines(lake, _key("malformed-json", 1), [cut, "{not json", "[1, 2"])
    whole = gzip.compress(
        b"".join(json.dumps(_send(f"saved-{i}")).encode() + b"\n" for i in range(20)), mtime=0
    )
    tail = gzip.compress(json.dumps(_send("lost")).encode() + b"\n", mtime=0)
    lake.write_bytes(_key("truncated-gzip", 2), whole + tail[: len(tail) // 2])
    lake.write_bytes(_key("empty-object", 3), gzip.compress(b"", mtime=0))
    lake.write_bytes(_key("zero-bytes", 4), b"")
    put_lines(lake, _key("missing-fields", 5), [
        _send("no-id", **{"mail.messageId": None}),
        _send("no-newsletter", **{"mail.tags": {"post_id": ["po_1"]}}),
        _send("no-recipient", **{"mail.destination": []}),
    ])  # fmt: skip
    put_lines(lake, _key("wrong-types", 6), [
        _send("ts-number", **{"mail.timestamp": 1_763_600_000}),
        _send("recipient-number", **{"mail.destination": [12345]}),
        _send("destination-string", **{"mail.destination": "a@b.jp"}),
        _send("newsletter-number", **{"mail.tags": {"newsletter_id": [1], "post_id": ["p"]}}),
    ])  # fmt: skip
    put_lines(lake, _key("unknown-type", 7), [_send("bounced", eventType="Bounced")])
    put_lines(lake, _key("far-timestamps", 8), [
        _send("past", **{"mail.timestamp": "1999-01-01T00:00:00.000Z"}),
        _send("future", **{"mail.timestamp": "2030-01-01T00:00:00.000Z"}),
    ])  # fmt: skip
    huge = _send("ten-megabytes")
    huge["mail"]["headers"] = [{"name": "X-Padding", "value": "x" * (10 * 2**20)}]
    put_lines(lake, _key("ten-mb-line", 9), [huge, _send("after-huge")])
    put_lines(lake, _key("invalid-utf8", 10), [b"\xff\xfe\xfd not utf-8", _send("utf8-ok")])
    # Values shaped like SQL reach the tables as they are: every value is a query parameter.
    put_lines(lake, _key("o'quote", 12), [
        _send("'; DROP TABLE staging.stg_email_events; --", **{
            "mail.tags": {"newsletter_id": ["nl_1"], "post_id": ["p') OR ('1'='1"]},
        }),
    ])  # fmt: skip
    put_lines(lake, _key("unknown-newsletter", 11), [
        _send("nl-999", **{"mail.tags": {"newsletter_id": ["nl_999"], "post_id": ["p"]}})
    ])  # fmt: skip


def engine_and_warehouse(resources, engine=None) -> dict:  # type: ignore[no-untyped-def]
    """The staging functions' other resources: the test's, or another ingestion engine."""
    return {
        "engine": engine or resources["ingest_engine"],
        "pseudonymizer": resources["pseudonymizer"],
        "warehouse": resources["warehouse"],
    }


def staged_message_ids(warehouse) -> set[str]:  # type: ignore[no-untyped-def]
    rows = warehouse.query("SELECT message_id FROM staging.stg_email_events").to_pylist()
    return {r["message_id"] for r in rows}


def quarantine_by_case(warehouse) -> dict[str, dict[str, int]]:  # type: ignore[no-untyped-def]
    cases: dict[str, dict[str, int]] = {}
    for row in warehouse.query(
        "SELECT source_object, reason, occurrences FROM staging.quarantine "
        "WHERE stream = 'ses_events'"
    ).to_pylist():
        # Keys end "...-2026-11-20-02-MM-00-<case>.gz": the case is what follows the seconds.
        case = row["source_object"].rsplit("-00-", 1)[1].removesuffix(".gz")
        reasons = cases.setdefault(case, {})  # one row per distinct line: add them up
        reasons[row["reason"]] = reasons.get(row["reason"], 0) + row["occurrences"]
    return cases


def test_every_bad_input_is_quarantined_and_every_good_record_kept(resources) -> None:
    build_bad_day(resources["lake"])
    result = stage_day(EMAIL_EVENTS, D, lake=resources["lake"], **engine_and_warehouse(resources))

    kept = staged_message_ids(resources["warehouse"])
    assert kept == (
        {f"good-{i}" for i in range(100)}
        | {f"saved-{i}" for i in range(20)}
        | {"ten-megabytes", "after-huge", "utf8-ok", "'; DROP TABLE staging.stg_email_events; --"}
    )
    assert quarantine_by_case(resources["warehouse"]) == {
        "malformed-json": {"malformed_json": 3},
        "truncated-gzip": {"truncated_object": 0},
        "zero-bytes": {"unreadable_object": 0},
        "missing-fields": {
            "missing_field:mail.messageId": 1,
            "missing_field:mail.tags.newsletter_id": 1,
            "missing_field:recipient": 1,
        },
        "wrong-types": {
            "invalid_timestamp": 1,
            "invalid_recipient": 1,
            "missing_field:recipient": 1,
            "unknown_newsletter": 1,
        },
        "unknown-type": {"unknown_event_type": 1},
        "far-timestamps": {"arrived_after_window": 1, "timestamp_after_arrival": 1},
        "invalid-utf8": {"invalid_utf8": 1},
        "unknown-newsletter": {"unknown_newsletter": 1},
    }
    # 139 complete lines read: 124 kept, 15 quarantined. Beyond them, the truncated object's cut
    # tail and the zero-byte object are quarantined as objects; the empty gzip holds nothing.
    counts = (result.records_read, result.staged, result.duplicates, result.quarantined)
    assert counts == (139, 124, 0, 15)
    assert result.reconciles and result.newsletters_checked_against == D
    (quoted,) = (
        resources["warehouse"]
        .query(
            "SELECT post_id, source_object FROM staging.stg_email_events WHERE message_id = @id",
            {"id": "'; DROP TABLE staging.stg_email_events; --"},
        )
        .to_pylist()
    )
    assert quoted == {"post_id": "p') OR ('1'='1", "source_object": _key("o'quote", 12)}


def test_a_day_that_is_mostly_bad_fails_naming_its_objects_and_writes_nothing(resources) -> None:
    lake, warehouse = resources["lake"], resources["warehouse"]
    put_lines(lake, _key("good", 0), [_send(f"good-{i}") for i in range(1_000)])
    first = stage_day(EMAIL_EVENTS, D, lake=lake, **engine_and_warehouse(resources))
    assert first.staged == 1_000
    # A producer starts writing garbage: 80 bad lines of 1,080 (7.4%) is above the 5% limit.
    put_lines(lake, _key("broken-producer", 30), ["{oops"] * 80)
    strict = IngestEngine(temp_directory=resources["ingest_engine"].temp_directory)
    with pytest.raises(dg.Failure) as failure:
        stage_day(EMAIL_EVENTS, D, lake=lake, **engine_and_warehouse(resources, strict))
    message = failure.value.description or ""
    assert "80 of 1,080 records (7.4%) would be quarantined, above the 5% limit" in message
    assert "broken-producer.gz (malformed_json: 80)" in message
    assert len(staged_message_ids(warehouse)) == 1_000  # the day as it was


def test_export_schema_drift_and_unknown_newsletters(resources) -> None:
    lake = resources["lake"]
    put_export(lake, "newsletters", D, [
        {"newsletter_id": "nl_1", "slug": "a", "created_at": utc("2026-01-01 00:00:00"),
         "launched_with_campaign": "autumn"},  # an extra column the platform does not know
    ])  # fmt: skip
    put_export(lake, "subscriptions", D, [
        {"subscription_id": "s1", "newsletter_id": "nl_1", "email": "a@b.jp",
         "subscribed_at": utc("2026-11-01 00:00:00")},  # reader_id, plan, ... gone
        {"subscription_id": "s2", "newsletter_id": "nl_404", "email": "c@d.jp",
         "subscribed_at": utc("2026-11-01 00:00:00")},
    ])  # fmt: skip
    newsletters, subscriptions = (
        stage_snapshot(export, D, lake=lake, **engine_and_warehouse(resources))
        for export in (NEWSLETTERS, SUBSCRIPTIONS)
    )
    assert newsletters.staged == 1 and newsletters.extra_columns == ["launched_with_campaign"]
    assert subscriptions.missing_optional_columns == [
        "reader_id", "plan", "unsubscribed_at", "updated_at", *SIGNUP_COLUMNS,
    ]  # fmt: skip
    assert (subscriptions.rows_read, subscriptions.staged, subscriptions.quarantined) == (2, 1, 1)
    reasons = resources["warehouse"].query(
        "SELECT reason FROM staging.quarantine WHERE stream = 'appdb_subscriptions'"
    )
    assert reasons.column(0).to_pylist() == ["unknown_newsletter"]


ADDRESS = "hanako.sato@example.jp"
_PREFIX = (
    '{"source_object":"appdb/subscriptions/dt=2026-11-20/part-00000.parquet","subscription_id":"'
)
_BEFORE_EMAIL = '","newsletter_id":"nl_404","email":"'


def test_an_address_at_every_offset_around_the_excerpts_cut_leaves_nothing(resources) -> None:
    """Quarantined rows (a newsletter the app does not have, and an id too long to be one) whose
    excerpt holds an address starting 30 characters before the 300-character cut to 2 after it
    (the long id in front moves it): no 3 characters in a row of the address survive."""
    lake, warehouse = resources["lake"], resources["warehouse"]
    put_export(lake, "newsletters", D, [
        {"newsletter_id": "nl_1", "slug": "a", "created_at": utc("2026-01-01 00:00:00")}
    ])  # fmt: skip
    offsets = range(300 - len(ADDRESS) - 8, 303)
    fixed = len(_PREFIX) + len(_BEFORE_EMAIL)
    put_export(lake, "subscriptions", D, [
        {"subscription_id": "s" * (offset - fixed), "newsletter_id": "nl_404", "email": ADDRESS,
         "subscribed_at": utc("2026-11-01 00:00:00")}
        for offset in offsets
    ])  # fmt: skip
    result = stage_snapshot(SUBSCRIPTIONS, D, lake=lake, **engine_and_warehouse(resources))
    assert result.quarantined == len(offsets) == 33

    excerpts = warehouse.query(
        "SELECT excerpt FROM staging.quarantine WHERE stream = 'appdb_subscriptions'"
    ).column(0)
    fragments = {ADDRESS[i : i + 3] for i in range(len(ADDRESS) - 2)}
    assert len(excerpts) == len(offsets)
    for excerpt in excerpts.to_pylist():
        assert excerpt.startswith(_PREFIX) and len(excerpt) <= 300
        assert not [f for f in fragments if f in excerpt], excerpt[-40:]


@pytest.mark.parametrize(
    ("line", "masked"),
    [
        ('{"to": "hanako@localhost"}', '{"to": "<email>"}'),  # no dot after the @
        ('{"to": ["hanako.sato@ex', '{"to": ["<email>'),  # a line cut by its producer
        ("to hanako%40example.jp now", "to <email> now"),  # URL-encoded
        ('{"to": "hanako\\u0040example.jp"}', '{"to": "<email>"}'),  # JSON-escaped
        ("to hanako\uff20example.jp now", "to <email> now"),  # full-width at sign
        ("O'Brien+news@example.co.jp;x@y", "<email>;<email>"),
        ("no address, 100% sure", "no address, 100% sure"),
    ],
)
def test_addresses_in_other_shapes_are_masked(line: str, masked: str) -> None:
    with duckdb.connect() as con:
        (got,) = con.execute(f"SELECT {masked_excerpt_sql('$line')}", {"line": line}).fetchone()
    assert got == masked


def _plain(records: list[dict]) -> bytes:
    return b"".join(json.dumps(record).encode() + b"\n" for record in records)


def test_a_day_of_plain_text_objects_named_gz_is_read(resources) -> None:
    """A producer writing uncompressed text under `.gz` names: every record is staged (this
    used to stage 0 rows and pass). Attacks on telling text from binary: a first line in
    Latin-1 and a line holding a NUL byte are still text; those lines are quarantined."""
    lake = resources["lake"]
    for n in range(3):
        lake.write_bytes(_key(f"plain-{n}", n), _plain([_send(f"p{n}-{i}") for i in range(40)]))
    odd = "caf\xe9\n".encode("latin-1") + b'{"eventType": "Send\x00"}\n' + _plain([_send("l")])
    lake.write_bytes(_key("plain-odd-bytes", 3), odd)

    result = stage_day(EMAIL_EVENTS, D, lake=lake, **engine_and_warehouse(resources))

    assert (result.records_read, result.staged, result.quarantined) == (123, 121, 2)
    assert result.quarantine_reasons == {"invalid_utf8": 1, "malformed_json": 1}
    assert not result.unreadable
    assert len(staged_message_ids(resources["warehouse"])) == 121


def test_a_day_whose_objects_cannot_be_read_fails_and_keeps_its_rows(resources) -> None:
    """The producer switches to zstd, still naming its objects `.gz`: the day fails at once,
    naming each object, instead of replacing its 100 rows with none."""
    lake, warehouse = resources["lake"], resources["warehouse"]
    keys = [_key(f"good-{n}", n) for n in range(2)]
    for n, key in enumerate(keys):
        put_lines(lake, key, [_send(f"m{n}-{i}") for i in range(50)])
    assert stage_day(EMAIL_EVENTS, D, lake=lake, **engine_and_warehouse(resources)).staged == 100
    for n, key in enumerate(keys):
        records = _plain([_send(f"m{n}-{i}") for i in range(50)])
        lake.write_bytes(key, pa.compress(records, codec="zstd", asbytes=True))
    total = sum(o.size for o in lake.list("ses-events/"))

    with pytest.raises(dg.Failure) as failure:
        stage_day(EMAIL_EVENTS, D, lake=lake, **engine_and_warehouse(resources))

    message = failure.value.description or ""
    assert message.startswith(
        f"stg_email_events 2026-11-20: 2 of 2 raw objects could not be read ({total:,} of "
        f"{total:,} bytes, 100.0%), above the 5% limit."
    )
    assert all(f"{key} (" in message for key in keys) and "zstd-compressed, not gzip" in message
    assert not failure.value.allow_retries
    assert len(staged_message_ids(warehouse)) == 100  # the day as it was


def test_unreadable_bytes_count_against_the_quarantine_limit(resources) -> None:
    """A small object of random bytes beside 1,000 good records is quarantined with its size and
    cause (under 5% of the day's bytes); a large one fails the day, naming it."""
    lake = resources["lake"]
    put_lines(lake, _key("good", 0), [_send(f"good-{i}") for i in range(1_000)])
    good_bytes = lake.list("ses-events/")[0].size
    noise = random.Random(13)
    small = bytes(noise.randrange(256) for _ in range(good_bytes // 50))  # 2% of the day
    lake.write_bytes(_key("random-small", 1), small)

    result = stage_day(EMAIL_EVENTS, D, lake=lake, **engine_and_warehouse(resources))

    assert (result.staged, result.quarantine_reasons) == (1_000, {"unreadable_object (objects)": 1})
    ((key, size, cause),) = result.unreadable
    assert (key, size) == (_key("random-small", 1), len(small))
    assert cause.startswith("neither gzip nor text (first bytes ")
    (excerpt,) = (
        resources["warehouse"]
        .query("SELECT excerpt FROM staging.quarantine WHERE reason = 'unreadable_object'")
        .column(0)
        .to_pylist()
    )
    assert excerpt.startswith(f"{len(small):,} bytes unreadable: neither gzip nor text")

    lake.write_bytes(_key("random-large", 2), small * 3)
    lost = 4 * len(small)
    with pytest.raises(dg.Failure) as failure:
        stage_day(EMAIL_EVENTS, D, lake=lake, **engine_and_warehouse(resources))
    assert (failure.value.description or "").startswith(
        f"stg_email_events 2026-11-20: 2 of 3 raw objects could not be read ({lost:,} of "
        f"{good_bytes + lost:,} bytes, {lost / (good_bytes + lost):.1%}), above the 5% limit. "
        "Nothing was written"
    )
