"""Application logs: what the app's services log about the day's activity, as CloudWatch Logs
exports them to S3 once the Japan-time day has ended.

Four services, two tasks (log streams) each, log JSON messages:
- web: one request log per page view of a person, sampled 1 in 20 (status, path, duration);
- api: authors publishing posts (a request id each), and readers asking for a password reset
  (the message holds their address: staging must mask it);
- mailer: the send of each emailed post in batches of 1,000 recipients, under the request id of
  the publishing call, so a request can be traced from api to mailer; SES throttling warnings;
- worker: an hourly aggregation job.
Every seventh day one newsletter's site fails for 15 minutes at 21:00 JST: its requests time out
(ERROR, `UpstreamTimeout`, status 504) and the api reports its database pool exhausted: the
incident `theletter-data trace --newsletter` is for. A few lines a day are broken: cut in the
middle of the JSON, or without a timestamp.
"""

from __future__ import annotations

import gzip
import json
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np

from theletter_data.raw.sources import APP_LOGS

from .clock import HOUR_MS, MINUTE_MS, Stream, day_of, day_rng, day_start_ms
from .columns import Table
from .email_event_rows import SEND
from .page_views import BOT_OFFSET
from .world import World

SERVICES = ("web", "api", "mailer", "worker")
TASKS_PER_SERVICE = 2
WEB_SAMPLE = 20
BATCH = 1_000
INCIDENT_EVERY_DAYS = 7
CUT_LINES, UNSTAMPED_LINES = 2, 1


@dataclass(frozen=True)
class LogDay:
    records: int
    """Well-formed log lines written (the broken ones are not records)."""
    malformed_lines: int
    objects: int
    bytes: int


def write_app_logs(lake, world: World, seed: int, number: int, views: Table, ses: Table) -> LogDay:
    """Write day `number`'s export objects; what staging should find is in the result."""
    rng = day_rng(seed, number, Stream.APP_LOGS)
    events: dict[str, list[tuple[int, dict]]] = {s: [] for s in SERVICES}
    _web(events["web"], world, rng, views)
    _publishing(events, world, rng, number, ses)
    _password_resets(events["api"], world, rng, number)
    _worker(events["worker"], number)
    if number % INCIDENT_EVERY_DAYS == 3:
        _incident(events, world, rng, number)
    day = day_of(number)
    records = sum(len(e) for e in events.values())
    objects = total = 0
    for service, logged in events.items():
        streams = [_stream_name(rng, service) for _ in range(TASKS_PER_SERVICE)]
        task = rng.bytes(8).hex()
        lines: dict[str, list[tuple[int, str]]] = {s: [] for s in streams}
        for ms, message in logged:
            stream = streams[int(rng.integers(TASKS_PER_SERVICE))]
            lines[stream].append((ms, f"{_stamp(ms)} {json.dumps(message, ensure_ascii=False)}"))
        if service == "api":  # broken lines: a cut message, a line without its timestamp
            stream = streams[0]
            for ms, line in sorted(lines[stream])[:CUT_LINES]:
                lines[stream].append((ms, line[: len(line) // 2]))
            lines[stream].append((day_start_ms(number), "Traceback (most recent call last):"))
        for stream, stamped in lines.items():
            body = "".join(f"{line}\n" for _, line in sorted(stamped)).encode()
            data = gzip.compress(body, compresslevel=6, mtime=0)
            lake.write_bytes(f"{APP_LOGS.prefix}/{day}/{service}/{task}/{stream}/000000.gz", data)
            objects += 1
            total += len(data)
    return LogDay(records, CUT_LINES + UNSTAMPED_LINES, objects, total)


def _web(out: list, world: World, rng: np.random.Generator, views: Table) -> None:
    if not views:
        return
    people = np.flatnonzero(views["ua"] < BOT_OFFSET)
    sampled = people[rng.random(len(people)) < 1 / WEB_SAMPLE]
    statuses = np.where(rng.random(len(sampled)) < 0.004, 404, 200)
    durations = np.round(np.exp(rng.normal(3.6, 0.5, len(sampled))), 1)
    for row, status, duration in zip(sampled, statuses, durations, strict=True):
        post = int(views["post"][row])
        path = f"/posts/{world.posts.ids[post]}" if post >= 0 else "/"
        nl = world.newsletters.ids[int(views["nl"][row])]
        out.append(
            (
                int(views["ms"][row]),
                {
                    "level": "INFO" if status == 200 else "WARNING",
                    "message": f"GET {path} {status}",
                    "request_id": _request_id(rng),
                    "newsletter_id": nl,
                    "method": "GET",
                    "path": path,
                    "status": int(status),
                    "duration_ms": float(duration),
                },
            )
        )


def _publishing(
    events: dict[str, list], world: World, rng: np.random.Generator, number: int, ses: Table
) -> None:
    """The publishing call of each post sent today, then its send, under one request id."""
    if not ses:
        return
    sends = ses["type"] == SEND
    for post in np.unique(ses["post"][sends]):
        post = int(post)
        times = np.sort(ses["ms"][sends & (ses["post"] == post)])
        nl_index = int(world.posts.nl[post])
        request = _request_id(rng)
        ids = {
            "request_id": request,
            "newsletter_id": world.newsletters.ids[nl_index],
            "post_id": world.posts.ids[post],
        }
        published = int(world.posts.published_ms[post])
        if published >= day_start_ms(number):
            events["api"].append(
                (
                    published,
                    {
                        "level": "INFO",
                        "message": "post published",
                        "user_id": world.newsletters.authors[nl_index],
                        "method": "POST",
                        "path": f"/api/posts/{ids['post_id']}/publish",
                        "status": 200,
                        "duration_ms": 182.0,
                        **ids,
                    },
                )
            )
        mailer = events["mailer"]
        mailer.append((int(times[0]), {"level": "INFO", "message": "send started", **ids}))
        for first in range(0, len(times), BATCH):
            batch = times[first : first + BATCH]
            if rng.random() < 0.05:
                mailer.append(
                    (
                        int(batch[0]),
                        {
                            "level": "WARNING",
                            "message": "SES throttled the batch; retrying in 2 s",
                            "error_type": "ThrottlingException",
                            **ids,
                        },
                    )
                )
            mailer.append(
                (int(batch[-1]), {"level": "INFO", "message": f"batch of {len(batch)} sent", **ids})
            )
        mailer.append(
            (
                min(int(times[-1]) + 1, day_start_ms(number + 1) - 1),
                {"level": "INFO", "message": f"send finished: {len(times)} recipients", **ids},
            )
        )


def _password_resets(out: list, world: World, rng: np.random.Generator, number: int) -> None:
    for _ in range(int(rng.poisson(12))):
        reader = int(rng.integers(100_000))
        out.append(
            (
                day_start_ms(number) + int(rng.integers(24 * HOUR_MS)),
                {
                    "level": "INFO",
                    "message": f"password reset requested for reader{reader}@example.jp",
                    "request_id": _request_id(rng),
                    "user_id": f"u_{reader:07d}",
                    "method": "POST",
                    "path": "/api/password-reset?source=email",
                    "status": 202,
                },
            )
        )


def _worker(out: list, number: int) -> None:
    for hour in range(24):
        out.append(
            (
                day_start_ms(number) + hour * HOUR_MS + 30_000,
                {"level": "DEBUG" if hour % 6 else "INFO", "message": "hourly aggregation done"},
            )
        )


def _incident(events: dict[str, list], world: World, rng: np.random.Generator, number: int) -> None:
    """21:00-21:15 JST: one newsletter's site times out; the api's database pool runs dry."""
    start = day_start_ms(number) + 21 * HOUR_MS
    nl = world.newsletters.ids[int(rng.integers(len(world.newsletters.ids)))]
    for ms in range(start, start + 15 * MINUTE_MS, 10_000):
        events["web"].append(
            (
                ms + int(rng.integers(10_000)),
                {
                    "level": "ERROR",
                    "message": "upstream timed out rendering the page",
                    "request_id": _request_id(rng),
                    "newsletter_id": nl,
                    "error_type": "UpstreamTimeout",
                    "method": "GET",
                    "path": "/",
                    "status": 504,
                    "duration_ms": 30000.0,
                },
            )
        )
    for minute in (1, 4, 9):
        events["api"].append(
            (
                start + minute * MINUTE_MS,
                {
                    "level": "CRITICAL",
                    "message": "database connection pool exhausted (20 of 20 in use)",
                    "newsletter_id": nl,
                    "error_type": "OperationalError",
                },
            )
        )


def _request_id(rng: np.random.Generator) -> str:
    h = rng.bytes(16).hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def _stream_name(rng: np.random.Generator, service: str) -> str:
    return f"ecs/{service}/{rng.bytes(16).hex()}"


def _stamp(ms: int) -> str:
    moment = datetime.fromtimestamp(ms / 1000, tz=UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"
