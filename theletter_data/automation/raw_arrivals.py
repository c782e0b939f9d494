"""The raw-arrivals sensor: new objects in the lake request staging of exactly the partitions
they change.

- A Firehose object delivered in UTC hour H can hold events of every Japan-time day whose arrival
  window contains H (raw/layout.py). Those days are staged once their window has closed, about
  03:00 JST the next morning; an object that arrives for a day already staged (late, replayed)
  stages that day again. Days still open wait in the cursor until they close.
- A CloudWatch Logs export `app-logs/D/<service>/...` stages the app logs' partition D as soon as
  it lands (and again when another service's export for D lands).
- An app export `appdb/<table>/dt=D/` stages that table's partition D as soon as it lands; a
  newsletters export that lands after D's streams were staged stages them again, so events of a
  newsletter created on D leave the quarantine (staging/known_newsletters.py).
- A Firehose object holding records of a day whose window had already closed cannot be told by
  its key; the staging of the day it arrived on reads it, quarantines those records and reports
  the replay that would stage them (staging/arrival_windows.py). The next tick requests that
  replay: their day through the arrival day, in one run, reading objects delivered until then.
- Keys outside a stream's layout (a `_temporary/` folder) are never handled, and named once.

The cursor (JSON, kept by Dagster across restarts) holds, per prefix, the highest key handled and
the keys of the last hours, which are listed again on every tick: an object that becomes visible
late under an older key is still seen, and none is handled twice. Each tick lists a bounded
number of day folders and stops early near the sensor time limit; the next tick resumes there.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, timedelta

import dagster as dg

from theletter_data.automation.selection import DAILY_STAGING
from theletter_data.partitions import TOKYO, daily_partitions
from theletter_data.raw.layout import (
    APP_LOGS,
    APPDB_TABLES,
    CLOCK_SKEW,
    PAGE_VIEWS,
    SES_EVENTS,
    FirehoseStream,
    appdb_export_prefix,
)
from theletter_data.resources.ingest_engine import IngestEngine
from theletter_data.resources.lake import Lake
from theletter_data.staging.arrival_windows import LATE_RECORDS_REPLAY, REPLAY_TAG

STAGED_BY_STREAM = {SES_EVENTS.name: "stg_email_events", PAGE_VIEWS.name: "stg_page_views"}
STAGED_BY_TABLE = {table: f"stg_{table}" for table in APPDB_TABLES}
STAGED_APP_LOGS = "stg_app_logs"

RELIST = timedelta(hours=2)
"""Keys this far behind the newest one are listed again each tick (late visibility)."""
FIRST_LOOKBACK = timedelta(days=2)
"""A sensor with no cursor starts this far back; older days are a backfill's job."""
FOLDERS_PER_TICK = 4
MATERIALIZATIONS_PER_TICK = 200
TIME_BUDGET_SECONDS = 40.0
"""Stop listing after this long: Dagster's sensor time limit is 60 seconds."""


@dataclass
class PrefixCursor:
    watermark: str = ""
    """The highest key handled (for a staged asset's materializations: the last storage id)."""
    recent: list[str] = field(default_factory=list)
    """Handled keys within RELIST of the watermark (listed again, not handled again)."""
    pending: list[str] = field(default_factory=list)
    """Days (ISO) with new objects whose arrival window is still open."""
    outside_layout: list[str] = field(default_factory=list)
    """Keys outside the stream's layout in the folders listed last (named once, never read)."""


@dataclass
class ArrivalPlan:
    requests: list[dg.RunRequest]
    cursor: dict[str, PrefixCursor]
    new_keys: int
    complete: bool
    """False when the tick stopped early (folder cap or time budget); the next one resumes."""
    outside_layout: list[str] = field(default_factory=list)
    """Keys first seen this tick that are not objects of their stream's layout: ignored."""


def plan_arrivals(
    lake: Lake,
    cursor: dict[str, PrefixCursor],
    now: datetime,
    lateness: timedelta,
    deadline: float | None = None,
) -> ArrivalPlan:
    """What to stage given the lake now and what earlier ticks handled (`cursor`, updated)."""
    requests: list[dg.RunRequest] = []
    new_keys = 0
    complete = True
    ignored: list[str] = []
    for stream in (SES_EVENTS, PAGE_VIEWS):
        state = cursor.setdefault(stream.prefix, PrefixCursor())
        fresh, done, stray = _new_keys(
            lake, stream.prefix, state, now, deadline, stream.arrival_hour, stream.in_layout
        )
        ignored += stray
        new_keys += len(fresh)
        complete &= done
        days = set(state.pending)
        for key in fresh:
            days |= {d.isoformat() for d in _days_reading(stream, key, lateness)}
        open_days = [
            d for d in sorted(days) if not _closed(stream, date.fromisoformat(d), now, lateness)
        ]
        state.pending = open_days
        for day in sorted(days - set(open_days)):
            if not _is_partition(day):
                continue
            requests.append(_request(STAGED_BY_STREAM[stream.name], day, state.watermark))
    state = cursor.setdefault(APP_LOGS.prefix, PrefixCursor())
    fresh, done, stray = _new_keys(
        lake, APP_LOGS.prefix, state, now, deadline, APP_LOGS.arrival_hour, APP_LOGS.in_layout
    )
    ignored += stray
    new_keys += len(fresh)
    complete &= done
    for day in sorted({APP_LOGS.export_day(key).isoformat() for key in fresh}):
        if _is_partition(day):
            requests.append(_request(STAGED_APP_LOGS, day, state.watermark))
    for table in APPDB_TABLES:
        prefix = f"appdb/{table}"
        state = cursor.setdefault(prefix, PrefixCursor())
        fresh, done, _ = _new_keys(lake, prefix, state, now, deadline, _export_hour)
        new_keys += len(fresh)
        complete &= done
        for day in sorted({_export_day(key).isoformat() for key in fresh}):
            if not _is_partition(day):
                continue
            requests.append(_request(STAGED_BY_TABLE[table], day, state.watermark))
            # Streams staged before their newsletters export landed checked events against an
            # older export: stage them again against this one.
            if table == "newsletters" and _closed(
                SES_EVENTS, date.fromisoformat(day), now, lateness
            ):
                for stream in (SES_EVENTS, PAGE_VIEWS):
                    requests.append(_request(STAGED_BY_STREAM[stream.name], day, state.watermark))
    return ArrivalPlan(requests, cursor, new_keys, complete, ignored)


def plan_replays(
    instance: dg.DagsterInstance, cursor: dict[str, PrefixCursor]
) -> list[dg.RunRequest]:
    """Replays of late records: each staging run of a Firehose stream that quarantined records
    delivered after their day's window (within `IngestEngine.replay_lateness_hours`) says so in
    its metadata; the days from theirs to the day they arrived on are staged again, in one run,
    reading the objects delivered until then (staging/arrival_windows.py). The cursor keeps,
    per staged asset, the last materialization read; the run key makes each replay happen once."""
    requests: dict[str, dg.RunRequest] = {}
    for asset in STAGED_BY_STREAM.values():
        state = cursor.setdefault(f"materializations/{asset}", PrefixCursor())
        records = instance.fetch_materializations(
            dg.AssetRecordsFilter(
                asset_key=dg.AssetKey(asset), after_storage_id=int(state.watermark or 0)
            ),
            limit=MATERIALIZATIONS_PER_TICK,
            ascending=True,
        ).records
        for record in records:
            state.watermark = str(record.storage_id)
            materialization = record.asset_materialization
            replay = materialization.metadata.get(LATE_RECORDS_REPLAY) if materialization else None
            if replay is None:
                continue
            first, last, until = (
                replay.value[k] for k in ("first_day", "last_day", "arrivals_until")
            )
            run_key = f"{asset}:replay:{first}:{last}:{until}"
            requests[run_key] = dg.RunRequest(
                run_key=run_key,
                asset_selection=[dg.AssetKey(asset)],
                tags={
                    "dagster/asset_partition_range_start": first,
                    "dagster/asset_partition_range_end": last,
                    REPLAY_TAG: until,
                    "theletter/trigger": "raw_arrivals",
                },
            )
    return list(requests.values())


def _new_keys(lake, prefix, state, now, deadline, hour_of, in_layout=None):  # type: ignore[no-untyped-def]
    """List the day folders from the watermark's (less RELIST) to today; return unseen keys,
    whether the listing completed, and keys outside the layout (`in_layout`) not seen before,
    which are never handled."""
    start = hour_of(state.watermark) - RELIST if state.watermark else now - FIRST_LOOKBACK
    folders = [
        (start + timedelta(days=i)).date() for i in range((now.date() - start.date()).days + 1)
    ]
    seen = set(state.recent)
    fresh: list[str] = []
    listed: list[str] = []
    outside: list[str] = []
    complete = True
    for i, folder in enumerate(folders):
        if i >= FOLDERS_PER_TICK or (deadline is not None and time.monotonic() > deadline):
            complete = False
            break
        for obj in lake.list(_folder(prefix, folder)):
            if in_layout is not None and not in_layout(obj.key):
                outside.append(obj.key)
                continue
            if hour_of(obj.key) >= start and obj.key not in seen:
                fresh.append(obj.key)
            listed.append(obj.key)
    stray = sorted(set(outside) - set(state.outside_layout))
    state.outside_layout = sorted(set(outside))
    if listed:
        state.watermark = max([state.watermark, *listed])
        floor = hour_of(state.watermark) - RELIST
        state.recent = sorted({k for k in [*state.recent, *listed] if hour_of(k) >= floor})
    return fresh, complete, stray


def _folder(prefix: str, day: date) -> str:
    if prefix.startswith("appdb/"):
        return appdb_export_prefix(prefix.removeprefix("appdb/"), day)
    if prefix == APP_LOGS.prefix:
        return f"{prefix}/{day.isoformat()}/"
    return f"{prefix}/{day:%Y/%m/%d}/"


def _export_day(key: str) -> date:
    part = next(p for p in key.split("/") if p.startswith("dt="))
    return date.fromisoformat(part.removeprefix("dt="))


def _export_hour(key: str) -> datetime:
    """An export counts as arriving when its day begins (UTC), for the listing's bounds."""
    return datetime.combine(_export_day(key), datetime.min.time(), tzinfo=UTC)


def _days_reading(stream: FirehoseStream, key: str, lateness: timedelta) -> Iterable[date]:
    """The Japan-time days whose arrival window contains this object's delivery hour."""
    hour = stream.arrival_hour(key)
    first = (hour - lateness).astimezone(TOKYO).date()
    last = (hour + CLOCK_SKEW).astimezone(TOKYO).date()
    return (first + timedelta(days=i) for i in range((last - first).days + 1))


def _closed(stream: FirehoseStream, day: date, now: datetime, lateness: timedelta) -> bool:
    _, window_end = stream.arrival_window(day, lateness)
    return now >= window_end


def _is_partition(day: str) -> bool:
    return daily_partitions.has_partition_key(day)


def _request(asset: str, day: str, trigger: str) -> dg.RunRequest:
    return dg.RunRequest(
        run_key=f"{asset}:{day}:{trigger}",
        asset_selection=[dg.AssetKey(asset)],
        partition_key=day,
        tags={"theletter/trigger": "raw_arrivals"},
    )


def load_cursor(text: str | None) -> dict[str, PrefixCursor]:
    return {k: PrefixCursor(**v) for k, v in json.loads(text).items()} if text else {}


def dump_cursor(cursor: dict[str, PrefixCursor]) -> str:
    return json.dumps({k: asdict(v) for k, v in sorted(cursor.items())}, separators=(",", ":"))


def raw_arrivals_sensor(default_status: dg.DefaultSensorStatus) -> dg.SensorDefinition:
    @dg.sensor(
        name="raw_arrivals_sensor",
        asset_selection=DAILY_STAGING,  # without a target Dagster refuses every request
        minimum_interval_seconds=120,
        default_status=default_status,
        description="Stages exactly the partitions new lake objects change: a day once its "
        "Firehose arrival window closes (or again when late objects arrive), an export or a "
        "log export as soon as it lands.",
    )
    def _sensor(
        context: dg.SensorEvaluationContext, lake: Lake, ingest_engine: IngestEngine
    ) -> dg.SensorResult:
        plan = plan_arrivals(
            lake,
            load_cursor(context.cursor),
            datetime.now(UTC),
            ingest_engine.allowed_lateness,
            deadline=time.monotonic() + TIME_BUDGET_SECONDS,
        )
        replays = plan_replays(context.instance, plan.cursor)
        if replays:
            context.log.info(f"{len(replays)} replays of late records requested")
        context.log.info(
            f"{plan.new_keys} new objects, {len(plan.requests)} partitions to stage"
            + ("" if plan.complete else "; more to list next tick")
        )
        if plan.outside_layout:
            context.log.warning(
                f"{len(plan.outside_layout)} keys outside the lake layout (docs/lake-layout.md) "
                f"are ignored: {', '.join(plan.outside_layout[:20])}"
            )
        return dg.SensorResult(
            run_requests=plan.requests + replays, cursor=dump_cursor(plan.cursor)
        )

    return _sensor
