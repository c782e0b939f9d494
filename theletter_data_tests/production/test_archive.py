"""Raw objects archived by the lake's lifecycle rules, on the moto S3 server: staging refuses an
archived day at once and says what to do; `restore-archived` asks for exactly the objects a
range of days reads; once restored they stage like any other."""

from __future__ import annotations

import gzip
from datetime import UTC, date, datetime, timedelta

import dagster as dg
import pytest

from theletter_data import cli
from theletter_data.archive import raw_prefixes, restore
from theletter_data.raw.sources import SES_EVENTS
from theletter_data.resources.lake import Lake

DAY = date(2025, 1, 10)  # Japan time: 2025-01-09 15:00 to 2025-01-10 15:00 UTC


def put(lake: Lake, key: str, storage_class: str) -> str:
    lake.s3_client().put_object(
        Bucket=lake.bucket,
        Key=lake.root_in_bucket + key,
        Body=gzip.compress(b'{"eventType": "Send"}\n', mtime=0),
        StorageClass=storage_class,
    )
    return key


def test_an_archived_day_fails_clearly_until_it_is_restored(s3_lake: Lake) -> None:
    deep = put(s3_lake, "ses-events/2025/01/09/16/a.gz", "DEEP_ARCHIVE")
    instant = put(s3_lake, "ses-events/2025/01/10/02/b.gz", "GLACIER_IR")
    logs = put(s3_lake, "app-logs/2025-01-10/web/t/ecs/web/s/000000.gz", "DEEP_ARCHIVE")
    put(s3_lake, "appdb/posts/dt=2025-01-10/part-00000.parquet", "STANDARD")
    put(s3_lake, "ses-events/2025/02/01/00/other-day.gz", "DEEP_ARCHIVE")

    with s3_lake.local_files([instant]) as paths:  # Instant Retrieval reads as it is
        assert gzip.decompress(paths[0].read_bytes()).startswith(b'{"eventType"')
    with (
        pytest.raises(dg.Failure, match="is archived in S3 Glacier and must be restored") as failed,
        s3_lake.local_files([instant, deep]),
    ):
        pass
    assert failed.value.allow_retries is False and deep in str(failed.value.description)

    s3 = s3_lake.s3_client()
    prefixes = raw_prefixes(DAY, DAY)
    result = restore(s3, s3_lake.bucket, s3_lake.root_in_bucket, prefixes, days=3)
    root = s3_lake.root_in_bucket
    assert sorted(result.requested) == sorted([root + deep, root + logs])
    assert result.already_readable == 2  # the Instant Retrieval object and the export
    head = s3.head_object(Bucket=s3_lake.bucket, Key=root + deep)
    assert 'ongoing-request="false"' in head["Restore"]  # moto restores at once

    with s3_lake.local_files([deep, logs]) as paths:
        assert all(p.stat().st_size > 0 for p in paths)


def test_a_range_of_days_reads_these_folders() -> None:
    prefixes = raw_prefixes(date(2025, 1, 10), date(2025, 1, 11), timedelta(hours=3))
    # Japan-time days start at 15:00 UTC the day before: the 10th's window opens at 14:00 UTC
    # on the 9th (clock skew), the 11th's closes at 18:00 UTC on the 11th (lateness).
    assert [p for p in prefixes if p.startswith("ses-events/")] == [
        f"ses-events/2025/01/{d:02d}/" for d in (9, 10, 11)
    ]
    assert "app-logs/2025-01-10/" in prefixes and "app-logs/2025-01-12/" not in prefixes
    assert "appdb/subscriptions/dt=2025-01-11/" in prefixes
    # The lateness staging is configured with reaches the next UTC date: so does the restore.
    later = raw_prefixes(date(2025, 1, 10), date(2025, 1, 11), timedelta(hours=10))
    assert "ses-events/2025/01/12/" in later and "pageviews/2025/01/12/" in later


def test_a_restore_asks_for_exactly_the_objects_staging_reads(s3_lake: Lake) -> None:
    """It used to restore a UTC date more on either side of the days' Firehose folders: for a
    one-day backfill, twice the objects staging reads (each paid for, Deep Archive's GET)."""
    lateness = timedelta(hours=3)
    for hour in range(0, 24 * 5):  # every delivery hour from 2025-01-08 to 2025-01-12
        at = datetime(2025, 1, 8, tzinfo=UTC) + timedelta(hours=hour)
        put(s3_lake, f"ses-events/{at:%Y/%m/%d/%H}/{at:%H}.gz", "DEEP_ARCHIVE")
    result = restore(
        s3_lake.s3_client(), s3_lake.bucket, s3_lake.root_in_bucket,
        raw_prefixes(DAY, DAY, lateness),
    )  # fmt: skip
    read = {o.key for o in SES_EVENTS.objects_for_day(s3_lake, DAY, lateness)}
    folders = {k.rsplit("/", 2)[0] for k in read}
    restored = {k.removeprefix(s3_lake.root_in_bucket) for k in result.requested}
    # Whole folders: the day reads 14:00 on the 9th to 17:00 on the 10th (28 hours), the
    # restore copies the 48 hours of those two UTC dates, and nothing of the 8th or 11th.
    assert len(read) == 28 and read <= restored
    assert {k.rsplit("/", 2)[0] for k in restored} == folders == {
        "ses-events/2025/01/09", "ses-events/2025/01/10"
    }  # fmt: skip
    assert len(restored) == 48


def test_the_command_restores_a_production_lake(
    s3_lake: Lake, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`theletter-data restore-archived` with the production settings, as an operator runs it:
    it read the lake's URL before resolving its `EnvVar` (the text `THELETTER_LAKE_URL`, no
    `s3://`), said "The lake is a local folder: nothing is ever archived." and exited 2."""
    deep = put(s3_lake, "ses-events/2025/01/09/16/a.gz", "DEEP_ARCHIVE")
    put(s3_lake, "appdb/posts/dt=2025-01-10/part-00000.parquet", "STANDARD")
    monkeypatch.setenv("THELETTER_ENV", "production")
    monkeypatch.setenv("THELETTER_LAKE_URL", s3_lake.url)
    monkeypatch.setenv("THELETTER_LAKE_ENDPOINT_URL", str(s3_lake.endpoint_url))
    monkeypatch.setenv("AWS_DEFAULT_REGION", "ap-northeast-1")

    assert cli.main(["restore-archived", "--from", "2025-01-10", "--to", "2025-01-10"]) == 0
    assert capsys.readouterr().out.startswith(
        "2025-01-10 to 2025-01-10: restore requested for 1 objects, 0 already being restored, "
        "1 readable as they are."
    )
    head = s3_lake.s3_client().head_object(Bucket=s3_lake.bucket, Key=s3_lake.root_in_bucket + deep)
    assert 'ongoing-request="false"' in head["Restore"]
