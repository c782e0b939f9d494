"""Hand-built raw records and lake objects for tests, in the formats of docs/lake-layout.md.

Each helper writes exactly what a test says, so expected numbers can be worked out by hand.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime
from itertools import count

import pyarrow as pa
import pyarrow.parquet as pq

from theletter_data.resources.lake import Lake

_sequence = count()


def utc(text: str) -> datetime:
    """'2026-11-20 09:30' (UTC) -> aware datetime."""
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def ses(
    event_type: str,
    at: datetime,
    *,
    message_id: str = "m-1",
    recipient: str = "hanako@example.jp",
    newsletter_id: str = "nl_1",
    post_id: str | None = "po_1",
    sent_at: datetime | None = None,
    **detail: object,
) -> dict:
    """One SES event-publishing record; `detail` goes into the per-type object."""
    tags: dict[str, list[str]] = {"newsletter_id": [newsletter_id]}
    if post_id is not None:
        tags["post_id"] = [post_id]
    record: dict = {
        "eventType": event_type,
        "mail": {
            "timestamp": iso(sent_at or at),
            "messageId": message_id,
            "destination": [recipient],
            "tags": tags,
        },
    }
    kind = {
        "Send": "send", "Delivery": "delivery", "Bounce": "bounce", "Complaint": "complaint",
        "Reject": "reject", "Open": "open", "Click": "click", "DeliveryDelay": "deliveryDelay",
        "Rendering Failure": "failure", "Subscription": "subscription",
    }[event_type]  # fmt: skip
    body = dict(detail)
    if event_type not in ("Send", "Reject", "Rendering Failure"):
        body.setdefault("timestamp", iso(at))
    if event_type == "Delivery":
        body.setdefault("recipients", [recipient])
    if event_type == "Bounce":
        body.setdefault("bounceType", "Permanent")
        body.setdefault("bounceSubType", "General")
        body.setdefault("bouncedRecipients", [{"emailAddress": recipient}])
    if event_type == "Complaint":
        body.setdefault("complainedRecipients", [{"emailAddress": recipient}])
    if event_type == "Open":
        body.setdefault("userAgent", "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X)")
        body.setdefault("ipAddress", "203.0.113.9")
    if event_type == "Subscription":
        body.setdefault("newTopicPreferences", {"unsubscribeAll": True})
    record[kind] = body
    return record


def machine_open(at: datetime, **kwargs: object) -> dict:
    return ses("Open", at, userAgent="Mozilla/5.0", ipAddress="17.58.1.2", **kwargs)


def page_view(
    at: datetime,
    *,
    event_id: str | None = None,
    newsletter_id: str = "nl_1",
    slug: str = "tokyo-tech",
    post_id: str | None = "po_1",
    referrer: str = "",
    utm: dict[str, str] | None = None,
    user_agent: str = "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) Mobile/15E148",
    visitor_id: str = "v_1",
    session_id: str = "s_1",
) -> dict:
    utm = utm or {}
    path = f"/posts/{post_id}" if post_id else "/"
    query = "&".join(f"{k}={v}" for k, v in utm.items())
    return {
        "event_id": event_id or f"pv-{next(_sequence)}",
        "timestamp": iso(at),
        "newsletter_id": newsletter_id,
        "post_id": post_id,
        "url": f"https://{slug}.theletter.jp{path}" + (f"?{query}" if query else ""),
        "referrer": referrer,
        "utm_source": utm.get("utm_source"),
        "utm_medium": utm.get("utm_medium"),
        "utm_campaign": utm.get("utm_campaign"),
        "user_agent": user_agent,
        "visitor_id": visitor_id,
        "session_id": session_id,
    }


def firehose_key(prefix: str, arrival: datetime, name: str = "a") -> str:
    """The key Firehose gives an object delivered at `arrival` (UTC) by the delivery stream
    `theletter-<prefix>` (docs/lake-layout.md)."""
    stamp = f"{arrival:%Y-%m-%d-%H-%M-%S}"
    return f"{prefix}/{arrival:%Y/%m/%d/%H}/theletter-{prefix}-1-{stamp}-{name}.gz"


def put_lines(lake: Lake, key: str, lines: Iterable[dict | bytes | str]) -> None:
    """Write a gzip object of one line per item (dicts as JSON, bytes/str as they are)."""
    encoded = []
    for line in lines:
        if isinstance(line, dict):
            encoded.append(json.dumps(line).encode())
        elif isinstance(line, str):
            encoded.append(line.encode())
        else:
            encoded.append(line)
    lake.write_bytes(key, gzip.compress(b"\n".join(encoded) + b"\n", mtime=0))


def put_export(
    lake: Lake,
    table: str,
    day: date,
    rows: Sequence[dict],
    *,
    part: int = 0,
    schema: pa.Schema | None = None,
) -> None:
    """Write an app export snapshot file (`rows` are dicts of the export's columns; `schema`
    gives an empty file its columns)."""
    key = f"appdb/{table}/dt={day.isoformat()}/part-{part:05d}.parquet"
    with lake.open_output(key) as out:
        pq.write_table(pa.Table.from_pylist(list(rows), schema=schema), out)
