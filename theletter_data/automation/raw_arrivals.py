"""The raw-arrivals sensor: new objects in the lake request staging of exactly the partitions
they change.

Every source declared in raw/sources.py is watched under its prefix, by its layout
(raw/layout.py), and a changed day requests the source's staged asset:
- A Firehose object delivered in UTC hour H can hold events of every Japan-time day whose arrival
  window contains H. Those days are staged once their window has closed, about 03:00 JST the
  next morning; an object that arrives for a day already staged (late, replayed) stages that
  day again. Days still open wait in the cursor until they close.
- A CloudWatch Logs export `app-logs/D/<service>/...` stages the app logs' partition D as soon as
  it lands (and again when another service's export for D lands).
- An app export `appdb/<table>/dt=D/` stages that table's partition D as soon as it lands; a
  newsletters export that lands after D's streams were staged stages them again (they declare
  `checked_against`), so events of a newsletter created on D leave the quarantine
  (staging/known_newsletters.py).
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
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, timedelta

import dagster as dg

from theletter_data.automation.selection import DAILY_STAGING
from theletter_data.partitions import daily_partitions
from theletter_data.raw.layout import RawLayout
from theletter_data.raw.sources import SOURCES, RawSource
from theletter_data.resources.ingest_engine import IngestEngine
from theletter_data.resources.lake import Lake
from theletter_data.staging.arrival_windows import LATE_RECORDS_REPLAY, REPLAY_TAG

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
    """What to stage given the lake now and what earlier ticks handled (`cursor`, updated):
    for every source in raw/sources.py, its staged asset's days that new objects change."""
    plan = ArrivalPlan([], cursor, 0, True)
    for source in SOURCES:
        stream = source.stream
        state = cursor.setdefault(stream.prefix, PrefixCursor())
        fresh, done, stray = _new_keys(lake, stream, state, now, deadline)
        plan.outside_layout += stray
        plan.new_keys += len(fresh)
        plan.complete &= done
        days = set(state.pending)
        for key in fresh:
            days |= {d.isoformat() for d in stream.days_holding(key, lateness)}
        open_days = [
            d for d in sorted(days) if not _closed(stream, date.fromisoformat(d), now, lateness)
        ]
        state.pending = open_days
        for day in sorted(days - set(open_days)):
            if not _is_partition(day):
                continue
            plan.requests.append(_request(source.staged_asset, day, state.watermark))
            # Sources staged before this one's object landed checked their records against
            # an older one (a newsletters export): stage their closed days again.
            for checked in _checked_against(source):
                if _closed(checked.stream, date.fromisoformat(day), now, lateness):
                    plan.requests.append(_request(checked.staged_asset, day, state.watermark))
    return plan


def _checked_against(source: RawSource) -> list[RawSource]:
    return [s for s in SOURCES if source.name in s.checked_against]


def plan_replays(
    instance: dg.DagsterInstance, cursor: dict[str, PrefixCursor]
) -> list[dg.RunRequest]:
    """Replays of late records: each staging run of a Firehose stream that quarantined records
    delivered after their day's window (within `IngestEngine.replay_lateness_hours`) says so in
    its metadata; the days from theirs to the day they arrived on are staged again, in one run,
    reading the objects delivered until then (staging/arrival_windows.py). The cursor keeps,
    per staged asset, the last materialization read; the run key makes each replay happen once."""
    requests: dict[str, dg.RunRequest] = {}
    replayable = [s.staged_asset for s in SOURCES if s.stream.late_records_possible]
    for asset in replayable:
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


def _new_keys(
    lake: Lake,
    stream: RawLayout,
    state: PrefixCursor,
    now: datetime,
    deadline: float | None,
) -> tuple[list[str], bool, list[str]]:
    """List the day folders from the watermark's (less RELIST) to today; return unseen keys,
    whether the listing completed, and keys outside the stream's layout not seen before,
    which are never handled."""
    hour_of = stream.arrival_hour
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
        for obj in lake.list(stream.listing_folder(folder)):
            if not stream.in_layout(obj.key):
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


def _closed(stream: RawLayout, day: date, now: datetime, lateness: timedelta) -> bool:
    """Whether `day` can still get objects: only a source whose records arrive late waits
    for its day's window to close; an export is complete when it lands."""
    if not stream.late_records_possible:
        return True
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
