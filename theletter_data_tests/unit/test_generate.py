"""The demo-lake generator: determinism, the layout contract, its own report, and plausibility.

Everything is checked against the files actually written (in `tmp_path`), the way the platform's
loaders will read them, at a small size so the whole file runs in seconds.
"""

from __future__ import annotations

import gzip
import json
import re
import statistics
from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from theletter_data.resources.lake import Lake
from theletter_data_dev.generate import GenerationReport, StreamCounts, generate_lake

JST = timezone(timedelta(hours=9))
LAUNCH = datetime(2024, 10, 1, tzinfo=JST)
START, END = date(2025, 1, 27), date(2025, 2, 5)
SIZE = {"newsletters": 10, "readers": 1500, "seed": 11}
STREAM_OF_FOLDER = {
    "ses-events": "ses_events",
    "pageviews": "page_views",
    "payment-events": "payment_events",
}
KEY = re.compile(
    r"^(?P<folder>ses-events|pageviews|payment-events)/(?P<Y>\d{4})/(?P<M>\d{2})/(?P<D>\d{2})/(?P<H>\d{2})/"
    r"theletter-(?P=folder)-1-(?P<y>\d{4})-(?P<m>\d{2})-(?P<d>\d{2})-(?P<h>\d{2})-(?P<mi>\d{2})-"
    r"(?P<s>\d{2})-[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}\.gz$"
)
SES_OBJECT = {
    "Send": "send",
    "Delivery": "delivery",
    "Bounce": "bounce",
    "Complaint": "complaint",
    "Reject": "reject",
    "Open": "open",
    "Click": "click",
    "DeliveryDelay": "deliveryDelay",
    "Rendering Failure": "failure",
    "Subscription": "subscription",
}
OWN_TIMESTAMP = {
    "Delivery",
    "Bounce",
    "Complaint",
    "Open",
    "Click",
    "DeliveryDelay",
    "Subscription",
}
PAGE_VIEW_FIELDS = {
    "event_id",
    "timestamp",
    "newsletter_id",
    "post_id",
    "url",
    "referrer",
    "utm_source",
    "utm_medium",
    "utm_campaign",
    "user_agent",
    "visitor_id",
    "session_id",
}
FIREHOSE_STREAMS = ("ses_events", "page_views", "payment_events")
BOT = re.compile(r"bot|facebookexternalhit|python-requests|curl/|HeadlessChrome", re.IGNORECASE)


# --- reading the lake as the platform would ---------------------------------------------------


@dataclass(repr=False)  # reprs of whole lakes would swamp pytest's failure reports
class LakeObject:
    key: str
    stream: str
    delivered: datetime
    size: int
    raw: bytes
    lines: list[bytes]


@dataclass(repr=False)
class Line:
    obj: LakeObject
    raw: bytes
    record: dict | None
    """None for a line that is not valid UTF-8 JSON."""


def ts(value: str) -> datetime:
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", value), value
    return datetime.strptime(value, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)


def event_time(stream: str, record: dict) -> datetime:
    if stream == "page_views":
        return ts(record["timestamp"])
    if stream == "payment_events":
        return datetime.fromtimestamp(record["created"], UTC)  # Stripe's: whole seconds
    kind = record["eventType"]
    if kind in OWN_TIMESTAMP:
        return ts(record[SES_OBJECT[kind]]["timestamp"])
    return ts(record["mail"]["timestamp"])


def jst_day(instant: datetime) -> date:
    return instant.astimezone(JST).date()


def day_end(day: date) -> datetime:
    return datetime.combine(day + timedelta(days=1), datetime.min.time(), tzinfo=JST)


def read_objects(root: Path) -> list[LakeObject]:
    objects = []
    for folder in STREAM_OF_FOLDER:
        for path in sorted((root / folder).rglob("*")):
            if path.is_dir():
                continue
            key = path.relative_to(root).as_posix()
            m = KEY.match(key)
            assert m, f"key does not follow the layout: {key}"
            g = m.groupdict()
            assert (g["Y"], g["M"], g["D"], g["H"]) == (g["y"], g["m"], g["d"], g["h"]), key
            delivered = datetime(*(int(g[k]) for k in ("y", "m", "d", "h", "mi", "s")), tzinfo=UTC)
            raw = path.read_bytes()
            body = gzip.decompress(raw)
            assert body.endswith(b"\n"), key
            objects.append(
                LakeObject(
                    key, STREAM_OF_FOLDER[folder], delivered, len(raw), raw, body.split(b"\n")[:-1]
                )
            )
    return objects


def parse(raw: bytes) -> dict | None:
    try:
        return json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        return None


def read_lines(objects: list[LakeObject]) -> list[Line]:
    return [Line(o, raw, parse(raw)) for o in objects for raw in o.lines]


def all_files(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


@dataclass(repr=False)
class Run:
    root: Path
    report: GenerationReport
    objects: list[LakeObject]
    lines: list[Line]

    def records(self, stream: str) -> list[dict]:
        return [x.record for x in self.lines if x.obj.stream == stream and x.record is not None]

    def snapshot(self, table: str, day: date) -> pa.Table:
        return pq.read_table(self.root / f"appdb/{table}/dt={day}/part-00000.parquet")


def run(root: Path, start: date, end: date, **kwargs: int) -> Run:
    report = generate_lake(Lake(url=str(root)), start, end, **{**SIZE, **kwargs})
    objects = read_objects(root)
    return Run(root, report, objects, read_lines(objects))


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Run:
    return run(tmp_path_factory.mktemp("lake"), START, END)


# --- arguments ----------------------------------------------------------------------------------


def test_rejects_days_before_the_first_partition_and_reversed_ranges(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="2025-01-01"):
        generate_lake(Lake(url=str(tmp_path)), date(2024, 12, 31), date(2025, 1, 2))
    with pytest.raises(ValueError, match="before"):
        generate_lake(Lake(url=str(tmp_path)), date(2025, 3, 2), date(2025, 3, 1))
    assert not any(tmp_path.iterdir())


# --- determinism --------------------------------------------------------------------------------


def test_same_arguments_write_the_same_bytes(tmp_path: Path) -> None:
    first = generate_lake(Lake(url=str(tmp_path / "a")), date(2025, 3, 1), date(2025, 3, 2), **SIZE)
    second = generate_lake(
        Lake(url=str(tmp_path / "b")), date(2025, 3, 1), date(2025, 3, 2), **SIZE
    )
    a, b = all_files(tmp_path / "a"), all_files(tmp_path / "b")
    assert a and a == b
    assert first == second


@pytest.mark.slow
def test_parallel_workers_write_the_same_bytes(generated: Run, tmp_path: Path) -> None:
    report = generate_lake(Lake(url=str(tmp_path)), START, END, workers=2, **SIZE)
    assert all_files(tmp_path) == all_files(generated.root)
    assert report == generated.report


def test_a_day_does_not_depend_on_the_range_it_was_generated_in(
    generated: Run, tmp_path: Path
) -> None:
    day = START + timedelta(days=4)
    alone = run(tmp_path, day, day)
    in_range = all_files(generated.root)
    files = all_files(tmp_path)
    assert files and all(in_range.get(key) == data for key, data in files.items())
    # ... and the range wrote no other object holding that day's records.
    of_day = {o.key for o in generated.objects if _object_day(o) == day}
    assert of_day == {o.key for o in alone.objects}
    assert alone.report.per_day[day] == generated.report.per_day[day]


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


# --- the report agrees with the files -----------------------------------------------------------


def _object_day(obj: LakeObject) -> date:
    for raw in obj.lines:
        record = parse(raw)
        if record is not None:
            return jst_day(event_time(obj.stream, record))
    return jst_day(obj.delivered)


def test_report_counts_equal_what_is_in_the_files(generated: Run) -> None:
    counted: dict[date, dict[str, Counter]] = defaultdict(lambda: defaultdict(Counter))
    distinct: dict[tuple[date, str], set[bytes]] = defaultdict(set)
    for obj in generated.objects:
        day = _object_day(obj)
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


# --- the app exports ----------------------------------------------------------------------------


def test_exports_have_the_documented_columns_and_grow_day_by_day(generated: Run) -> None:
    stamp = pa.timestamp("ms", tz="UTC")
    expected = {
        "newsletters": {
            "newsletter_id": pa.string(),
            "slug": pa.string(),
            "name": pa.string(),
            "category": pa.string(),
            "author_id": pa.string(),
            "created_at": stamp,
            "updated_at": stamp,
        },
        "posts": {
            "post_id": pa.string(),
            "newsletter_id": pa.string(),
            "title": pa.string(),
            "status": pa.string(),
            "published_at": stamp,
            "emailed": pa.bool_(),
            "created_at": stamp,
            "updated_at": stamp,
        },
        "subscriptions": {
            "subscription_id": pa.string(),
            "newsletter_id": pa.string(),
            "reader_id": pa.string(),
            "email": pa.string(),
            "plan": pa.string(),
            "subscribed_at": stamp,
            "unsubscribed_at": stamp,
            "updated_at": stamp,
            "signup_source": pa.string(),
            "signup_post_id": pa.string(),
            "signup_referrer": pa.string(),
        },
    }
    previous: dict[str, set[str]] = {}
    day = START
    while day <= END:
        cutoff = day_end(day)
        for table, columns in expected.items():
            t = generated.snapshot(table, day)
            assert {f.name: f.type for f in t.schema} == columns
            rows = t.to_pylist()
            key = next(iter(columns))
            ids = {r[key] for r in rows}
            assert len(ids) == len(rows)
            assert previous.get(table, set()) <= ids, "rows are never deleted"
            previous[table] = ids
            for r in rows:
                created = r["created_at" if "created_at" in r else "subscribed_at"]
                assert LAUNCH <= created <= r["updated_at"] < cutoff
            if table == "posts":
                for r in rows:
                    assert (r["status"] == "published") == (r["published_at"] is not None)
                    assert r["published_at"] is None or r["published_at"] < cutoff
            if table == "subscriptions":
                assert {r["plan"] for r in rows} <= {"free", "paid"}
                assert all(
                    r["unsubscribed_at"] is None or r["unsubscribed_at"] < cutoff for r in rows
                )
        day += timedelta(days=1)
    subs = generated.snapshot("subscriptions", END).to_pylist()
    assert any(r["unsubscribed_at"] for r in subs)
    readers = Counter((r["reader_id"], r["newsletter_id"]) for r in subs)
    assert any(n > 1 for n in readers.values()), "expected a re-subscription (a new row)"
    assert 0.003 < sum(r["plan"] == "paid" for r in subs) / len(subs) < 0.1  # "a few %"
    statuses = Counter(r["status"] for r in generated.snapshot("posts", END).to_pylist())
    assert statuses["draft"] and statuses["published"]


def test_signups_say_where_they_came_from_in_realistic_shares(generated: Run) -> None:
    """Posts, the home page, other pages and imports; a post signup names a post of the same
    newsletter published before it; search and social referrers, direct visits; a signup's
    attribution is the same in every snapshot."""
    subs = generated.snapshot("subscriptions", END).to_pylist()
    posts = {r["post_id"]: r for r in generated.snapshot("posts", END).to_pylist()}
    sources = Counter(r["signup_source"] for r in subs)
    shares = {k: n / len(subs) for k, n in sources.items()}
    assert set(sources) == {"post", "home", "page", "import"}
    assert 0.2 < shares["post"] < 0.6 and 0.25 < shares["home"] < 0.7
    assert 0.02 < shares["page"] < 0.12 and 0.005 < shares["import"] < 0.07
    for r in subs:
        assert (r["signup_post_id"] is not None) == (r["signup_source"] == "post")
        if r["signup_post_id"]:
            post = posts[r["signup_post_id"]]
            assert post["newsletter_id"] == r["newsletter_id"]
            assert post["published_at"] < r["subscribed_at"]
        if r["signup_source"] == "import":
            assert r["signup_referrer"] is None
    referrers = [r["signup_referrer"] for r in subs if r["signup_source"] != "import"]
    direct = sum(not ref for ref in referrers) / len(referrers)
    assert 0.15 < direct < 0.5
    assert any("google" in (ref or "") for ref in referrers)
    assert any((ref or "").startswith("https://t.co/") for ref in referrers)
    assert any(".theletter.jp/" in (ref or "") for ref in referrers)
    first = generated.snapshot("subscriptions", START).to_pylist()
    earlier = {r["subscription_id"]: r for r in first}
    attribution = ("signup_source", "signup_post_id", "signup_referrer")
    assert all(
        [r[k] for k in attribution] == [earlier[r["subscription_id"]][k] for k in attribution]
        for r in subs
        if r["subscription_id"] in earlier
    )


def test_email_unsubscribes_match_the_exports(generated: Run) -> None:
    events = [r for r in generated.records("ses_events") if r["eventType"] == "Subscription"]
    assert events
    for r in events:
        at = ts(r["subscription"]["timestamp"])
        rows = [
            s
            for s in generated.snapshot("subscriptions", jst_day(at)).to_pylist()
            if s["email"] == r["mail"]["destination"][0]
            and s["newsletter_id"] == r["mail"]["tags"]["newsletter_id"][0]
        ]
        assert [s["unsubscribed_at"] for s in rows if s["unsubscribed_at"] == at] == [at]
        matched = next(s for s in rows if s["unsubscribed_at"] == at)
        assert matched["subscribed_at"] <= ts(r["mail"]["timestamp"])


def test_sends_go_to_subscriptions_active_at_send_time(generated: Run) -> None:
    by_day: dict[date, list[dict]] = defaultdict(list)
    for r in generated.records("ses_events"):
        if r["eventType"] == "Send":
            by_day[jst_day(ts(r["mail"]["timestamp"]))].append(r)
    for day, sends in by_day.items():
        subs = defaultdict(list)
        for s in generated.snapshot("subscriptions", day).to_pylist():
            subs[s["email"], s["newsletter_id"]].append(s)
        # Recipients are chosen when the post goes out; the throttled copies follow within
        # minutes, so a reader may leave (from the website) between the two.
        for r in sends:
            sent = ts(r["mail"]["timestamp"])
            rows = subs[r["mail"]["destination"][0], r["mail"]["tags"]["newsletter_id"][0]]
            assert any(
                s["subscribed_at"] <= sent
                and (
                    s["unsubscribed_at"] is None
                    or s["unsubscribed_at"] > sent - timedelta(minutes=30)
                )
                for s in rows
            ), r["mail"]["messageId"]


# --- plausibility -------------------------------------------------------------------------------


def _messages(generated: Run) -> dict[str, dict[str, list[dict]]]:
    """messageId -> eventType -> records, for messages sent in the first three days (whose
    opens and clicks have had time to happen inside the generated range)."""
    out: dict[str, dict[str, list[dict]]] = defaultdict(lambda: defaultdict(list))
    for r in generated.records("ses_events"):
        out[r["mail"]["messageId"]][r["eventType"]].append(r)
    return {
        m: e
        for m, e in out.items()
        if "Send" in e
        and jst_day(ts(e["Send"][0]["mail"]["timestamp"])) <= START + timedelta(days=2)
    }


def test_apple_machine_opens_look_like_apple_privacy_protection(generated: Run) -> None:
    messages = _messages(generated)
    machine = human = 0
    for events in messages.values():
        for r in events.get("Open", []):
            o = r["open"]
            if o["userAgent"] == "Mozilla/5.0":
                machine += 1
                assert o["ipAddress"].startswith("17.")
                delivered = ts(events["Delivery"][0]["delivery"]["timestamp"])
                assert timedelta(0) <= ts(o["timestamp"]) - delivered <= timedelta(minutes=15)
            else:
                human += 1
                assert not o["ipAddress"].startswith("17.")
    delivered = sum("Delivery" in e for e in messages.values())
    with_machine = sum(
        any(o["open"]["userAgent"] == "Mozilla/5.0" for o in e.get("Open", []))
        for e in messages.values()
    )
    assert machine and human
    assert 0.25 < with_machine / delivered < 0.55


def test_email_rates_are_plausible(generated: Run) -> None:
    messages = _messages(generated)
    sent = len(messages)
    delivered = sum("Delivery" in e for e in messages.values())
    bounced = sum("Bounce" in e for e in messages.values())
    human = {
        m
        for m, e in messages.items()
        if any(o["open"]["userAgent"] != "Mozilla/5.0" for o in e.get("Open", []))
    }
    clicked = sum("Click" in messages[m] for m in human)
    assert sent > 1000
    assert 0.96 < delivered / sent < 0.995
    assert 0.003 < bounced / sent < 0.03
    assert 0.2 < len(human) / delivered < 0.6
    assert 0.05 < clicked / len(human) < 0.3
    assert all("Click" not in e for m, e in messages.items() if m not in human)


def test_page_view_traffic_is_plausible(generated: Run) -> None:
    views = generated.records("page_views")
    bots = [r for r in views if BOT.search(r["user_agent"])]
    assert 0.03 < len(bots) / len(views) < 0.12
    humans = [r for r in views if not BOT.search(r["user_agent"])]
    email = [r for r in humans if r["utm_medium"] == "email"]
    home = [r for r in humans if r["post_id"] is None]
    assert email and all(r["utm_campaign"] == r["post_id"] for r in email)
    assert 0.05 < len(home) / len(humans) < 0.4
    referrers = {r["referrer"].split("/")[2] for r in humans if r["referrer"]}
    for host in ("www.google.com", "t.co", "b.hatena.ne.jp"):
        assert host in referrers
    assert any(h.endswith(".theletter.jp") for h in referrers)
    sessions = Counter(r["session_id"] for r in humans)
    assert statistics.mean(sessions.values()) < 3
    visitors = Counter(r["visitor_id"] for r in humans)
    assert max(visitors.values()) > 3, "readers come back with the same visitor id"
    assert len({r["visitor_id"] for r in bots}) == len(bots), "bots get a new id per hit"


def test_newsletters_have_very_different_audiences(generated: Run) -> None:
    subs = generated.snapshot("subscriptions", END).to_pylist()
    active = Counter(r["newsletter_id"] for r in subs if r["unsubscribed_at"] is None)
    sizes = sorted(active.values())
    assert sizes[-1] > 5 * statistics.median(sizes)
    newsletters = generated.snapshot("newsletters", END).to_pylist()
    assert len(newsletters) == SIZE["newsletters"]
    assert all(re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)+", n["slug"]) for n in newsletters)
    emails = {r["email"] for r in subs}
    assert any(e.endswith("@docomo.ne.jp") or e.endswith("@ezweb.ne.jp") for e in emails)
    assert len({r["reader_id"] for r in subs}) == len({(r["reader_id"], r["email"]) for r in subs})


def test_paid_subscribers_pay_monthly_in_stripes_format(generated: Run) -> None:
    """The payment provider's webhooks (docs/lake-layout.md): each invoice, refund or deletion
    is of a subscription the day's export shows on the paid plan, at its newsletter's price."""
    events = generated.records("payment_events")
    totals = generated.report.streams["payment_events"]
    assert len(events) == totals.records + totals.duplicate_lines > 20
    assert {e["type"] for e in events} >= {"invoice.paid", "customer.subscription.deleted"}
    price_of: dict[str, set[int]] = defaultdict(set)
    for e in events:
        assert (
            e["object"] == "event" and e["livemode"] is True and re.fullmatch(r"evt_\w+", e["id"])
        )
        at = datetime.fromtimestamp(e["created"], UTC)
        obj = e["data"]["object"]
        meta = obj.get("subscription_details", {}).get("metadata") or obj["metadata"]
        subs = generated.snapshot("subscriptions", jst_day(at)).to_pylist()
        (sub,) = [s for s in subs if s["subscription_id"] == meta["subscription_id"]]
        assert sub["newsletter_id"] == meta["newsletter_id"] and sub["plan"] == "paid"
        assert obj["currency"] == "jpy"
        if e["type"] == "customer.subscription.deleted":
            assert sub["unsubscribed_at"].replace(microsecond=0) == at  # Stripe's are seconds
        else:
            assert sub["unsubscribed_at"] is None or sub["unsubscribed_at"] > at
            assert obj.get("customer_email", obj.get("receipt_email")) == sub["email"]
        if e["type"].startswith("invoice."):
            price_of[meta["newsletter_id"]].add(obj["amount_due"])
    assert price_of and all(len(prices) == 1 for prices in price_of.values())
