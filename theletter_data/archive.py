"""Raw objects in S3 Glacier: finding them and restoring the days a backfill needs.

The lake's lifecycle rules (deploy/s3/lake-lifecycle.json, generated from each source's
retention class in raw/sources.py) move raw objects to Glacier Instant Retrieval after 90 days,
which staging reads like any object, and to Glacier Deep Archive after a year, which nothing can
read until a restore makes a temporary copy (Bulk: within 48 hours, Standard: within 12).
`theletter-data restore-archived` requests those copies for a range of days; staging an archived
day before that fails at once, naming the objects, instead of retrying.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from theletter_data.raw.sources import ALLOWED_LATENESS, SOURCES

UNREADABLE_CLASSES = ("GLACIER", "DEEP_ARCHIVE")
"""Storage classes whose objects need a restore before a GET (Instant Retrieval does not)."""


@dataclass
class Restoration:
    requested: list[str] = field(default_factory=list)
    in_progress: list[str] = field(default_factory=list)
    already_readable: int = 0


def raw_prefixes(first: date, last: date, lateness: timedelta = ALLOWED_LATENESS) -> list[str]:
    """Every lake folder whose objects staging reads for the Japan-time days first..last, by
    the same folder function as staging's listing (raw/layout.py): for a Firehose stream, the
    UTC-date folders of the days' arrival windows with `lateness` (IngestEngine's). A day whose
    window a replay widened reads later folders too: staging names their archived objects."""
    return [folder for s in SOURCES for folder in s.stream.folders(first, last, lateness)]


def restore(
    s3: Any,
    bucket: str,
    root: str,
    prefixes: Iterable[str],
    *,
    days: int = 7,
    tier: str = "Bulk",
) -> Restoration:
    """Ask S3 for a temporary copy, kept `days` days, of every archived object under the
    prefixes (relative to the lake's `root` inside the bucket). Asking again is harmless."""
    result = Restoration()
    for obj in _objects(s3, bucket, [f"{root}{p}" for p in prefixes]):
        if obj.get("StorageClass") not in UNREADABLE_CLASSES:
            result.already_readable += 1
            continue
        try:
            s3.restore_object(
                Bucket=bucket,
                Key=obj["Key"],
                RestoreRequest={"Days": days, "GlacierJobParameters": {"Tier": tier}},
            )
            result.requested.append(obj["Key"])
        except s3.exceptions.ClientError as error:
            if error.response["Error"]["Code"] != "RestoreAlreadyInProgress":
                raise
            result.in_progress.append(obj["Key"])
    return result


def archived(s3: Any, bucket: str, keys: Sequence[str]) -> list[str]:
    """The keys whose objects cannot be read now: archived and not (yet) restored."""
    unreadable = []
    for key in keys:
        head = s3.head_object(Bucket=bucket, Key=key)
        restored = 'ongoing-request="false"' in head.get("Restore", "")
        if head.get("StorageClass") in UNREADABLE_CLASSES and not restored:
            unreadable.append(key)
    return unreadable


def _objects(s3: Any, bucket: str, prefixes: Sequence[str]) -> Iterator[dict[str, Any]]:
    pages = s3.get_paginator("list_objects_v2")
    for prefix in prefixes:
        for page in pages.paginate(Bucket=bucket, Prefix=prefix):
            yield from page.get("Contents", [])
