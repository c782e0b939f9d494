"""Publishing's faults: ids that are not ids never become paths (refused, the other documents
published), and a publish killed between its documents and its manifest is repaired by the
next run."""

from __future__ import annotations

import multiprocessing
import os
import shutil
import signal
import time
from datetime import date, timedelta
from pathlib import Path

import dagster as dg
import duckdb

from theletter_data.cli import main
from theletter_data.resources.lake import Lake
from theletter_data.serving.documents import content_hash
from theletter_data.serving.publish import (
    MANIFEST_KEY,
    SCHEMA_KEY,
    document_key,
    publish,
    read_document,
    read_manifest,
)
from theletter_data_tests.support.week import SUNDAY, Week, definitions, documents, run

# --- Ids that are not ids never become paths --------------------------------------------------

BAD_IDS = ["../../etc/x", "a/b", "../../../../../x", "x" * 5_000, "nl\x00x", "nl_1\n"]


def files_under(root: Path) -> set[Path]:
    return {p for p in root.rglob("*") if p.is_file()}


def test_documents_of_invalid_ids_are_refused_and_the_others_published(
    week: Week, tmp_path: Path
) -> None:
    good = dict(list(documents(week.data).items())[:2])
    template = next(iter(good.values()))
    bad = {i: {**template, "newsletter": {**template["newsletter"], "id": i}} for i in BAD_IDS}
    root = tmp_path / "a" / "b" / "c" / "d" / "e"
    lake = Lake(url=str(root / "lake"))
    started = time.monotonic()

    published = publish(lake, {**bad, **good}, SUNDAY)

    assert time.monotonic() - started < 10
    assert sorted(published.rewritten) == sorted(good) and len(published.refused) == 6
    assert all(len(r) <= 80 and "\x00" not in r for r in published.refused)
    expected = {root / "lake" / key for key in (MANIFEST_KEY, SCHEMA_KEY)}
    assert files_under(tmp_path) == expected | {root / "lake" / document_key(i) for i in good}
    assert sorted(read_manifest(lake)["documents"]) == sorted(good)


def test_a_bad_newsletter_in_the_warehouse_blocks_no_other_document(
    week: Week, tmp_path: Path
) -> None:
    """The asset, over a copy of the week whose stg_newsletters holds rows with bad ids (as if
    staged before ids were validated): the 8 documents are published, the bad ones refused and
    named by the failed `every_document_published` check, and no file appears anywhere else."""
    data = tmp_path / "x" / "y" / "z" / "data"
    shutil.copytree(week.data, data)
    with duckdb.connect(str(data / "warehouse.duckdb")) as con:
        for i in BAD_IDS:
            con.execute(
                "INSERT INTO staging.stg_newsletters (snapshot_date, newsletter_id, slug, "
                "created_at) VALUES (?, ?, 'bad', TIMESTAMPTZ '2026-01-01 00:00:00+00')",
                [SUNDAY, i],
            )
    before = files_under(tmp_path)
    defs = definitions(data)
    with dg.instance_for_test() as instance:
        result = run(defs, "publish_dashboards", instance, SUNDAY, SUNDAY)
    assert result.success
    (check,) = [
        e.asset_check_evaluation_data
        for e in result.all_events
        if e.event_type_value == "ASSET_CHECK_EVALUATION"
    ]
    assert check.check_name == "every_document_published" and not check.passed
    assert len(check.metadata["refused_ids"].value) == 6
    assert files_under(tmp_path) == before  # the manifest rewritten in place, nothing new
    assert len(documents(data)) == 8


def test_the_preview_refuses_an_id_before_touching_the_filesystem(
    week: Week, tmp_path: Path, monkeypatch, capsys
) -> None:
    data = tmp_path / "a" / "b" / "c" / "data"
    lake = data / "lake"
    shutil.copytree(week.data / "lake" / "serving", lake / "serving")
    # What the unvalidated publish wrote: `serving/v1/newsletters/../../etc/x.json`.
    (lake / "serving" / "etc").mkdir()
    shutil.copy(next((lake / "serving" / "v1" / "newsletters").glob("*.json")),
                lake / "serving" / "etc" / "x.json")  # fmt: skip
    monkeypatch.setenv("THELETTER_DATA_DIR", str(data))
    before = files_under(tmp_path)
    for bad in ("../../etc/x", "../../../../../x", "a/b", "x" * 5_000):
        assert main(["preview", bad, "--lake", str(lake)]) == 2
        assert main(["preview", bad]) == 2
        assert "invalid newsletter id" in capsys.readouterr().err
    assert files_under(tmp_path) == before
    good = sorted(documents(week.data))[0]
    assert main(["preview", good, "--lake", str(lake)]) == 0
    assert files_under(tmp_path) - before == {data / "previews" / f"{good}.html"}


# --- A publish killed between its documents and its manifest -----------------------------------


class _DiesBeforeItsManifest(Lake):
    """A lake on which the publish hangs when it comes to the manifest, to be killed there."""

    marker: str

    def write_bytes(self, key: str, data: bytes) -> None:
        if key == MANIFEST_KEY:
            Path(self.marker).touch()
            time.sleep(120)
        super().write_bytes(key, data)


def _publish_and_hang(url: str, marker: str, docs: dict, as_of: date) -> None:
    publish(_DiesBeforeItsManifest(url=url, marker=marker), docs, as_of)


def assert_manifest_describes_documents(lake: Lake) -> dict[str, dict]:
    entries = read_manifest(lake)["documents"]
    for newsletter_id, entry in entries.items():
        stored = read_document(lake, newsletter_id)
        assert (entry["sha256"], entry["as_of"]) == (content_hash(stored), stored["as_of"])
    return entries


def test_a_publish_killed_before_its_manifest_is_repaired_by_the_next_run(
    week: Week, tmp_path: Path
) -> None:
    lake = Lake(url=str(tmp_path / "lake"))
    monday = dict(list(documents(week.data).items())[:3])
    tuesday = {
        i: {**d, "as_of": str(SUNDAY + timedelta(days=1)), "traffic": {
            **d["traffic"], "last_30_days": {**d["traffic"]["last_30_days"], "page_views": 10**6}}}
        for i, d in monday.items()
    }  # fmt: skip
    assert publish(lake, monday, SUNDAY).rewritten == sorted(monday)

    marker = tmp_path / "writing-the-manifest"
    publisher = multiprocessing.get_context("spawn").Process(
        target=_publish_and_hang,
        args=(lake.url, str(marker), tuesday, SUNDAY + timedelta(days=1)),
    )
    publisher.start()
    deadline = time.monotonic() + 60
    while not marker.exists():
        assert time.monotonic() < deadline and publisher.is_alive(), "never reached the manifest"
        time.sleep(0.05)
    os.kill(publisher.pid, signal.SIGKILL)
    publisher.join()
    # The crash: every document holds Monday+1's numbers, the manifest still Sunday's hashes.
    entries = read_manifest(lake)["documents"]
    assert all(
        entries[i]["sha256"] != content_hash(read_document(lake, i))
        and read_document(lake, i)["as_of"] == str(SUNDAY + timedelta(days=1))
        for i in monday
    )

    # Re-running the older day: not "unchanged" (the stored hash differs), not rolled back
    # (the stored documents hold a later day), and the manifest now describes them.
    again = publish(lake, monday, SUNDAY)
    assert (again.rewritten, again.unchanged, sorted(again.newer_kept)) == ([], 0, sorted(monday))
    assert sorted(again.repaired) == sorted(monday)
    entries = assert_manifest_describes_documents(lake)
    assert {e["current_through"] for e in entries.values()} == {str(SUNDAY + timedelta(days=1))}
    # And the interrupted day, run again, finds its documents already there.
    finished = publish(lake, tuesday, SUNDAY + timedelta(days=1))
    assert (finished.rewritten, finished.unchanged, finished.repaired) == ([], 3, [])
    assert_manifest_describes_documents(lake)
    assert read_manifest(lake)["as_of"] == str(SUNDAY + timedelta(days=1))
