"""The raw sources: one `RawSource` declaration each, the code's one copy of what the lake holds.
(Over 300 lines: every source is declared here, beside the vocabulary of its declaration and
the check that the declarations are usable, so that a source is added in one place.)

A declaration names the source's prefix, key layout, arrival window, producer, format, the
staged asset it feeds and its retention class. Everything else is derived from `SOURCES`:
the raw assets (raw/assets.py), the arrivals sensor (automation/raw_arrivals.py), archive and
restore (archive.py), where the app-database extraction writes (extract/snapshots.py), the IAM
prefixes and S3 lifecycle rules in deploy/ (`deploy/render.py --generate`) and the source
tables of docs/lake-layout.md and the README (`python -m theletter_data_dev.lake_docs`); tests
fail when a generated file differs from what the declarations give.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import TYPE_CHECKING

from theletter_data.raw.layout import (
    EXACT_DAY,
    ArrivalWindow,
    DailySnapshots,
    FirehoseStream,
    LineStream,
    LogExportStream,
    RawLayout,
)

if TYPE_CHECKING:
    from theletter_data.resources.lake import Lake


@dataclass(frozen=True)
class RawFormat:
    name: str
    """As the raw asset's `format` metadata shows it."""
    kind: str
    """The Dagster kind the raw asset shows besides `s3`."""
    detail: str
    """For docs/lake-layout.md."""


GZIP_JSON_LINES = RawFormat("gzip JSON lines", "json", "gzip, one JSON record per line")
GZIP_LOG_LINES = RawFormat(
    "gzip text lines", "text", "gzip text, one event per line: a UTC timestamp and the JSON message"
)
PARQUET = RawFormat("parquet", "parquet", "Parquet")


@dataclass(frozen=True)
class Retention:
    """A retention class: the S3 storage classes a prefix's objects move to, by age in days
    (deploy/s3/lake-lifecycle.json is generated from it)."""

    name: str
    transitions: tuple[tuple[int, str], ...] = ()

    @property
    def summary(self) -> str:
        if not self.transitions:
            return "S3 Standard, never archived"
        return ", then ".join(
            f"{_CLASS_NAMES[c]} after {'a year' if d == 365 else f'{d} days'}"
            for d, c in self.transitions
        )


_CLASS_NAMES = {
    "STANDARD_IA": "Standard-IA",
    "GLACIER_IR": "Glacier Instant Retrieval",
    "GLACIER": "Glacier Flexible Retrieval",
    "DEEP_ARCHIVE": "Glacier Deep Archive",
}

ARCHIVED = Retention("to-glacier", ((90, "GLACIER_IR"), (365, "DEEP_ARCHIVE")))
"""Raw data: read like any object for 90 days to a year (at a retrieval charge), restored first
(`theletter-data restore-archived`) after that."""
KEPT = Retention("kept")

FIREHOSE_DELIVERY = ArrivalWindow(
    clock_skew=timedelta(hours=1), allowed_lateness=timedelta(hours=3)
)
"""Firehose buffers 5 minutes or 5 MB and retries: most records land within minutes of their
event, a few hours later; a producer's clock may run up to an hour ahead."""


@dataclass(frozen=True)
class RawSource:
    """One raw source of the lake, as its producer writes it."""

    name: str
    """snake_case; the raw asset is `raw_<name>`; the staging of a line stream records its
    arrival windows under it."""
    title: str
    prefix: str
    """The folder under the lake's root, no slash at either end."""
    layout: type[FirehoseStream] | type[LogExportStream] | type[DailySnapshots]
    arrival: ArrivalWindow
    producer: str
    format: RawFormat
    staged_asset: str
    """The daily staged asset the arrivals sensor requests for a day the source changed."""
    retention: Retention
    object_name: str | None = None
    """The producer's object names, for the docs (default: the layout's)."""
    checked_against: tuple[str, ...] = ()
    """Sources whose arrival for a day stages this one's day again (its records are checked
    against them: a newsletters export that lands late)."""
    app_table: str | None = None
    """For a snapshot of the app database: the table (the extraction reads it)."""
    stream: RawLayout = field(init=False, repr=False, compare=False)
    """The layout's behaviour for this source (listing, folders, arrival hours)."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "stream", self.layout(self.name, self.prefix, self.arrival))

    @property
    def asset_key(self) -> str:
        return f"raw_{self.name}"

    @property
    def key_pattern(self) -> str:
        name = self.object_name or self.layout.object_pattern
        return f"{self.prefix}/{self.layout.folder_pattern}{name}"


def _app_snapshot(table: str) -> RawSource:
    return RawSource(
        name=f"appdb_{table}",
        title=f"app database `{table}`",
        prefix=f"appdb/{table}",
        layout=DailySnapshots,
        arrival=EXACT_DAY,
        producer="the app's nightly export job, or `appdb_extract` reading the database "
        "directly (theletter_data/extract/)",
        format=PARQUET,
        staged_asset=f"stg_{table}",
        retention=ARCHIVED,
        app_table=table,
    )


SOURCES: tuple[RawSource, ...] = (
    RawSource(
        name="ses_events",
        title="SES email events",
        prefix="ses-events",
        layout=FirehoseStream,
        arrival=FIREHOSE_DELIVERY,
        producer="Amazon SES event publishing (send, delivery, bounce, complaint, open, click, "
        "...) in SES's own format, delivered by Kinesis Data Firehose",
        object_name="theletter-ses-events-1-YYYY-MM-DD-HH-MM-SS-<uuid>.gz",
        format=GZIP_JSON_LINES,
        staged_asset="stg_email_events",
        retention=ARCHIVED,
        checked_against=("appdb_newsletters",),
    ),
    RawSource(
        name="page_views",
        title="page views",
        prefix="pageviews",
        layout=FirehoseStream,
        arrival=FIREHOSE_DELIVERY,
        producer="theLetter's first-party page-view beacon, delivered by Kinesis Data Firehose",
        object_name="theletter-pageviews-1-YYYY-MM-DD-HH-MM-SS-<uuid>.gz",
        format=GZIP_JSON_LINES,
        staged_asset="stg_page_views",
        retention=ARCHIVED,
        checked_against=("appdb_newsletters",),
    ),
    RawSource(
        name="app_logs",
        title="application logs",
        prefix="app-logs",
        layout=LogExportStream,
        arrival=EXACT_DAY,
        producer="the app's services' CloudWatch Logs, exported once a Japan-time day has "
        "ended, one export task per log group",
        format=GZIP_LOG_LINES,
        staged_asset="stg_app_logs",
        retention=ARCHIVED,
    ),
    RawSource(
        name="payment_events",
        title="payment events",
        prefix="payment-events",
        layout=FirehoseStream,
        arrival=FIREHOSE_DELIVERY,
        producer="the payment provider's (Stripe's) webhook events of paid subscriptions "
        "(invoice.paid, invoice.payment_failed, charge.refunded, customer.subscription.deleted), "
        "put unchanged by theLetter's webhook endpoint into Kinesis Data Firehose",
        object_name="theletter-payment-events-1-YYYY-MM-DD-HH-MM-SS-<uuid>.gz",
        format=GZIP_JSON_LINES,
        staged_asset="stg_payment_events",
        retention=ARCHIVED,
        checked_against=("appdb_newsletters",),
    ),
    _app_snapshot("newsletters"),
    _app_snapshot("posts"),
    _app_snapshot("subscriptions"),
)


@dataclass(frozen=True)
class LakeArea:
    """A prefix of the lake that is not a raw source, which IAM and the lifecycle rules know."""

    prefix: str
    retention: Retention
    purpose: str


SERVING = LakeArea(
    "serving", KEPT, "dashboard documents: runs write them, the web app reads them (serving/)"
)
EXTRACTION_WORK = LakeArea(
    "appdb/_extract",
    KEPT,
    "the app-database extraction's cursors and resumable batches (extract/snapshots.py)",
)
AREAS = (SERVING, EXTRACTION_WORK)


_NAME = re.compile(r"[a-z][a-z0-9_]*")
_SEGMENT = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._-]*")


def declaration_problems(sources: Sequence[RawSource], areas: Iterable[LakeArea]) -> list[str]:
    """What makes declarations unusable: a name that cannot be an asset key, a prefix that IAM
    would read as a wildcard or that overlaps another (its rules and grants would too), a
    reference to no source, or line streams whose arrival windows differ (staging binds one
    clock skew and one lateness for all of them)."""
    problems: list[str] = []
    names = [s.name for s in sources]
    prefixes = [s.prefix for s in sources] + [a.prefix for a in areas]
    for name in sorted({n for n in names if names.count(n) > 1}):
        problems.append(f"two sources are named {name!r}")
    for name in names:
        if not _NAME.fullmatch(name):
            problems.append(f"source name {name!r} is not snake_case")
    for prefix in prefixes:
        if not all(_SEGMENT.fullmatch(p) and p.strip(".") for p in prefix.split("/")):
            problems.append(f"prefix {prefix!r} is not folder names joined by '/'")
    for i, a in enumerate(prefixes):
        for b in prefixes[i + 1 :]:
            if a == b or f"{b}/".startswith(f"{a}/") or f"{a}/".startswith(f"{b}/"):
                problems.append(f"prefixes {a!r} and {b!r} overlap")
    for source in sources:
        for other in source.checked_against:
            if other not in names:
                problems.append(f"{source.name} is checked against {other!r}, not a source")
    late = {s.arrival for s in sources if s.stream.late_records_possible}
    if len(late) > 1:
        problems.append(
            "sources whose records can arrive late declare different arrival windows; staging "
            "judges them all by one clock skew and one lateness (IngestEngine)"
        )
    for window in late:
        if window.allowed_lateness % timedelta(hours=1):
            problems.append("an allowed lateness must be whole hours (allowed_lateness_hours)")
    return problems


if _problems := declaration_problems(SOURCES, AREAS):
    raise ValueError("raw/sources.py: " + "; ".join(_problems))

SOURCE_BY_NAME = {s.name: s for s in SOURCES}

LATE_ARRIVALS = next(
    (s.arrival for s in SOURCES if s.stream.late_records_possible), FIREHOSE_DELIVERY
)
"""The arrival window of every source whose records can arrive late."""
CLOCK_SKEW = LATE_ARRIVALS.clock_skew
"""Objects delivered up to this long before a day starts are read for it (producer clock skew)."""
ALLOWED_LATENESS = LATE_ARRIVALS.allowed_lateness
"""The default of `IngestEngine.allowed_lateness_hours`, which overrides it."""


def line_stream(name: str) -> LineStream:
    """The stream of the line source `name`, for its staging module."""
    stream = SOURCE_BY_NAME[name].stream
    if not isinstance(stream, FirehoseStream | LogExportStream):
        raise ValueError(f"{name!r} is not a source of text lines")
    return stream


SES_EVENTS = line_stream("ses_events")
PAGE_VIEWS = line_stream("page_views")
APP_LOGS = line_stream("app_logs")

APPDB_TABLES = tuple(s.app_table for s in SOURCES if s.app_table)


def app_snapshots(table: str) -> DailySnapshots:
    """The snapshots of the app database's `table` in the lake."""
    for source in SOURCES:
        if source.app_table == table and isinstance(source.stream, DailySnapshots):
            return source.stream
    raise ValueError(f"unknown app database table {table!r}")


def appdb_export_prefix(table: str, day: date) -> str:
    """The folder of the app database's export of `table` taken after Japan-time `day` closed."""
    return app_snapshots(table).listing_folder(day)


def appdb_export_days(lake: Lake, table: str) -> list[date]:
    """The days for which the lake holds an export of `table`, in order."""
    return app_snapshots(table).export_days(lake)
