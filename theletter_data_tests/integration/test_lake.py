"""The lake resource on a local folder and on S3 (a moto server, the real S3 protocol)."""

from __future__ import annotations

import gzip
from datetime import date, timedelta

import boto3
import pytest

from theletter_data.raw.sources import SES_EVENTS
from theletter_data.resources.lake import Lake


@pytest.fixture(params=["local", "s3"])
def any_lake(request: pytest.FixtureRequest, lake: Lake) -> Lake:
    return lake if request.param == "local" else request.getfixturevalue("s3_lake")


def test_objects_round_trip_as_stored_bytes(any_lake: Lake) -> None:
    payload = gzip.compress(b'{"a": 1}\n', mtime=0)
    any_lake.write_bytes("ses-events/2026/11/20/01/x.gz", payload)
    assert any_lake.read_bytes("ses-events/2026/11/20/01/x.gz") == payload  # not decompressed
    (obj,) = any_lake.list("ses-events/")
    assert (obj.key, obj.size) == ("ses-events/2026/11/20/01/x.gz", len(payload))
    with any_lake.local_files([obj.key]) as (path,):
        assert path.read_bytes() == payload


def test_listing_a_missing_prefix_is_empty(any_lake: Lake) -> None:
    assert any_lake.list("pageviews/2030/01/01/") == []


def test_s3_listing_pages_past_a_thousand_keys(s3_lake: Lake, moto_endpoint: str) -> None:
    bucket = s3_lake.url.removeprefix("s3://").split("/")[0]
    client = boto3.client("s3", endpoint_url=moto_endpoint)
    for i in range(1_100):
        key = f"theletter/pageviews/2026/11/20/03/{i:05d}.gz"
        client.put_object(Bucket=bucket, Key=key, Body=b"")
    keys = [o.key for o in s3_lake.list("pageviews/2026/11/20/")]
    assert len(keys) == 1_100 and keys[0] == "pageviews/2026/11/20/03/00000.gz"


def test_a_day_reads_the_arrival_hours_that_can_hold_it(lake: Lake) -> None:
    # Japan-time 2026-11-20 is 2026-11-19 15:00 to 2026-11-20 15:00 UTC: read one hour before
    # and three hours after, i.e. delivery hours 14:00 on the 19th to 17:00 on the 20th.
    for hour in range(12, 24):
        lake.write_bytes(f"ses-events/2026/11/19/{hour:02d}/a.gz", b"")
    for hour in range(0, 24):
        lake.write_bytes(f"ses-events/2026/11/20/{hour:02d}/a.gz", b"")
    objects = SES_EVENTS.objects_for_day(lake, date(2026, 11, 20), timedelta(hours=3))
    hours = [o.key.split("/")[3] + "/" + o.key.split("/")[4] for o in objects]
    assert hours[0] == "19/14" and hours[-1] == "20/17" and len(hours) == 10 + 18


def test_a_window_ending_within_an_hour_lists_that_hour_s_folder(lake: Lake) -> None:
    """The folder function answers for any window: one ending at 00:30 UTC holds the objects
    delivered from 00:00. It counted whole hours and stopped at 23:00, never opening the next
    UTC date's folder. (No run met it: staging rounds a replay's instant up to a whole hour.)"""
    lake.write_bytes("ses-events/2026/11/20/23/a.gz", b"")
    lake.write_bytes("ses-events/2026/11/21/00/a.gz", b"")
    lake.write_bytes("ses-events/2026/11/21/01/a.gz", b"")  # after 00:30: not this window
    lateness = timedelta(hours=9, minutes=30)  # 2026-11-20 15:00 UTC + 9.5 h = 00:30 on the 21st
    objects = SES_EVENTS.objects_for_day(lake, date(2026, 11, 20), lateness)
    assert [o.key for o in objects] == [
        "ses-events/2026/11/20/23/a.gz", "ses-events/2026/11/21/00/a.gz"
    ]  # fmt: skip


ESCAPING_KEYS = [
    "../outside.json",
    "serving/v1/newsletters/../../../../outside.json",
    "serving/../../outside.json",
    "..",
    "/etc/outside.json",
    "//outside.json",
    "serving\\..\\..\\outside.json",
    "serving/nl\x00x.json",
]


@pytest.mark.parametrize("key", ESCAPING_KEYS)
def test_a_key_never_resolves_outside_the_lake(tmp_path, key: str) -> None:
    """Defence in depth: whatever built a key, the lake refuses one that would leave its root,
    for every operation, and writes nothing anywhere."""
    root = tmp_path / "deep" / "lake"
    root.mkdir(parents=True)
    lake = Lake(url=str(root))
    operations = [
        lambda: lake.write_bytes(key, b"x"),
        lambda: lake.read_bytes(key),
        lambda: lake.exists(key),
        lambda: lake.list(key),
        lambda: lake.delete(key),
        lambda: lake.path(key),
    ]
    for operation in operations:
        with pytest.raises(ValueError, match="would leave the lake's root: refused"):
            operation()
    assert [p for p in tmp_path.rglob("*") if p.is_file()] == []


def test_keys_inside_the_lake_are_unchanged(any_lake: Lake) -> None:
    """Dots inside a name, a `.`-prefixed partial file and nested folders stay allowed."""
    for key in ("serving/v1/newsletters/nl_1.json", "appdb/posts/dt=2026-11-20/.part.partial",
                "a..b/c...json"):  # fmt: skip
        any_lake.write_bytes(key, b"{}")
        assert any_lake.read_bytes(key) == b"{}"
