"""The demo-lake generator's layout contract: deterministic gzip objects of one JSON record a line,
the documented fields and types of SES events and page views, each object one day's records
delivered after them.

Everything is checked against the files actually written, the way the platform's loaders will
read them, at a small size; the lake they read is generated once per session (the `generated`
fixture, support/generated_lake.py).
"""

from __future__ import annotations

import re
from collections import Counter
from datetime import timedelta

from theletter_data_tests.support.generated_lake import (
    END,
    OWN_TIMESTAMP,
    PAGE_VIEW_FIELDS,
    SES_OBJECT,
    START,
    Run,
    event_time,
    jst_day,
    parse,
    ts,
)

# --- the layout contract ------------------------------------------------------------------------


def test_objects_are_deterministic_gzip_with_one_json_record_per_line(generated: Run) -> None:
    assert generated.objects
    for obj in generated.objects:
        assert obj.raw[:2] == b"\x1f\x8b" and obj.raw[4:8] == b"\0\0\0\0", "gzip mtime must be 0"
    broken = [x for x in generated.lines if x.record is None]
    assert {x.obj.stream for x in broken} >= {"ses_events", "page_views"}
    assert any(not _is_utf8(x.raw) for x in broken), "expected a line of non-UTF-8 bytes"
    assert any(_is_utf8(x.raw) and x.raw.startswith(b"{") for x in broken), "expected a cut line"


def _is_utf8(raw: bytes) -> bool:
    try:
        raw.decode("utf-8")
        return True
    except UnicodeDecodeError:
        return False


def test_ses_records_have_the_documented_fields_and_types(generated: Run) -> None:
    kinds = Counter()
    diagnostics = Counter()
    for r in generated.records("ses_events"):
        kind = r["eventType"]
        kinds[kind] += 1
        mail = r["mail"]
        ts(mail["timestamp"])
        assert isinstance(mail["source"], str) and mail["source"].endswith("@mail.theletter.jp>")
        assert re.fullmatch(
            r"0106[0-9a-f]{12}-[0-9a-f]{8}(-[0-9a-f]{4}){3}-[0-9a-f]{12}-000000", mail["messageId"]
        )
        assert isinstance(mail["destination"], list) and len(mail["destination"]) == 1
        assert mail["commonHeaders"]["to"] == mail["destination"]
        tags = mail["tags"]
        assert all(
            isinstance(v, list) and all(isinstance(s, str) for s in v) for v in tags.values()
        )
        assert re.fullmatch(r"nl_\d{5}", tags["newsletter_id"][0])
        assert re.fullmatch(r"po_\d{7}", tags["post_id"][0])
        detail = r[SES_OBJECT[kind]]
        assert set(r) == {"eventType", "mail", SES_OBJECT[kind]}
        if kind in OWN_TIMESTAMP:
            ts(detail["timestamp"])
        email = mail["destination"][0]
        if kind == "Delivery":
            assert detail["recipients"] == [email]
            assert isinstance(detail["processingTimeMillis"], int)
            assert detail["smtpResponse"].startswith("250 ")
        elif kind == "Bounce":
            assert detail["bounceType"] in {"Permanent", "Transient", "Undetermined"}
            assert isinstance(detail["bounceSubType"], str)
            assert [x["emailAddress"] for x in detail["bouncedRecipients"]] == [email]
            (bounced,) = detail["bouncedRecipients"]
            assert bounced["diagnosticCode"].startswith(("smtp; ", "Amazon SES "))
            diagnostics["quoting the address" if email in bounced["diagnosticCode"] else "not"] += 1
        elif kind == "Complaint":
            assert [x["emailAddress"] for x in detail["complainedRecipients"]] == [email]
            assert detail["complaintFeedbackType"] == "abuse"
        elif kind == "Reject":
            assert isinstance(detail["reason"], str)
        elif kind in ("Open", "Click"):
            assert isinstance(detail["userAgent"], str) and isinstance(detail["ipAddress"], str)
            if kind == "Click":
                assert detail["link"].startswith("https://")
                assert all(isinstance(v, list) for v in detail["linkTags"].values())
        elif kind == "DeliveryDelay":
            assert isinstance(detail["delayType"], str)
            assert [x["emailAddress"] for x in detail["delayedRecipients"]] == [email]
        elif kind == "Rendering Failure":
            assert isinstance(detail["errorMessage"], str) and isinstance(
                detail["templateName"], str
            )
        elif kind == "Subscription":
            assert isinstance(detail["contactList"], str) and isinstance(detail["source"], str)
            assert detail["newTopicPreferences"]["unsubscribeAll"] is True
    for kind in ("Send", "Delivery", "Bounce", "Open", "Click", "Subscription"):
        assert kinds[kind], f"no {kind} events"
    # Receiving servers quote the address in some diagnostics: staging has something to mask.
    assert diagnostics["quoting the address"] and diagnostics["not"], diagnostics


def test_page_views_have_the_documented_fields_and_types(generated: Run) -> None:
    for r in generated.records("page_views"):
        assert set(r) == PAGE_VIEW_FIELDS
        assert re.fullmatch(
            r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}", r["event_id"]
        )
        ts(r["timestamp"])
        host = re.fullmatch(r"https://([a-z0-9-]+)\.theletter\.jp/(.*)", r["url"])
        assert host, r["url"]
        if r["post_id"] is None:
            assert host.group(2) == "" or host.group(2).startswith("?")
        else:
            assert host.group(2).startswith(f"posts/{r['post_id']}")
        assert isinstance(r["referrer"], str)
        for field in ("utm_source", "utm_medium", "utm_campaign"):
            assert r[field] is None or isinstance(r[field], str)
            assert (r[field] is None) == (f"{field}=" not in r["url"])
        assert r["visitor_id"].startswith("v_") and r["session_id"].startswith("s_")
        assert isinstance(r["user_agent"], str) and r["user_agent"]


def test_event_timestamps_fall_on_the_requested_days(generated: Run) -> None:
    days = {
        jst_day(event_time(x.obj.stream, x.record)) for x in generated.lines if x.record is not None
    }
    assert days == {START + timedelta(days=i) for i in range((END - START).days + 1)}


def test_each_object_holds_one_day_and_arrives_after_its_records(generated: Run) -> None:
    for obj in generated.objects:
        times = [event_time(obj.stream, r) for r in (parse(x) for x in obj.lines) if r is not None]
        assert len({jst_day(t) for t in times}) <= 1, obj.key
        assert all(t < obj.delivered + timedelta(seconds=1) for t in times), obj.key
