"""The demo-lake generator's output read as the platform's loaders would, for its tests
(unit/test_generate*.py): the objects and lines of a generated lake, and the `generated` fixture.

`generated` is one small lake (10 newsletters, 1,500 readers, ten days: a few seconds to write
and read back), session-scoped so that the generator's test modules share it: no test changes it
(those that write, write to their own `tmp_path`).
"""

from __future__ import annotations

import gzip
import json
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from theletter_data.resources.lake import Lake
from theletter_data_dev.generate import GenerationReport, generate_lake

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


@pytest.fixture(scope="session")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Run:
    return run(tmp_path_factory.mktemp("lake"), START, END)


def object_day(obj: LakeObject) -> date:
    """The Japan day of an object's first readable record (its delivery's day if none is)."""
    for raw in obj.lines:
        record = parse(raw)
        if record is not None:
            return jst_day(event_time(obj.stream, record))
    return jst_day(obj.delivered)
