"""Assets are selected by layer and cadence: a cadence that disagrees with the partitions is
named, and the raw-arrivals sensor's requests pass Dagster's own evaluation."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import dagster as dg

from theletter_data.automation.selection import CADENCE_TAG, Cadence, cadence_errors
from theletter_data.definitions import build_definitions
from theletter_data.partitions import TOKYO, daily_partitions, weekly_partitions
from theletter_data.resources.ingest_engine import IngestEngine
from theletter_data.settings import Environment, Settings
from theletter_data_tests.rawdata import firehose_key, put_export, put_lines, ses


def _asset(name: str, **kwargs: object) -> dg.AssetsDefinition:
    @dg.asset(name=name, **kwargs)
    def _a() -> None: ...

    return _a


def test_a_cadence_that_disagrees_with_the_partitions_is_named() -> None:
    external = dg.AssetSpec("raw_thing", partitions_def=daily_partitions)  # no cadence: fine

    @dg.multi_asset(
        specs=[dg.AssetSpec("tagged", tags=Cadence.DAILY.tags), dg.AssetSpec("untagged")],
        partitions_def=daily_partitions,
    )
    def both():  # type: ignore[no-untyped-def]
        yield from ()

    errors = cadence_errors(
        [
            external,
            _asset("daily_ok", partitions_def=daily_partitions, tags=Cadence.DAILY.tags),
            _asset("weekly_ok", partitions_def=weekly_partitions, tags=Cadence.WEEKLY.tags),
            _asset("intraday_ok", tags=Cadence.INTRADAY.tags),
            _asset("daily_as_weekly", partitions_def=daily_partitions, tags=Cadence.WEEKLY.tags),
            _asset("unpartitioned_as_daily", tags=Cadence.DAILY.tags),
            _asset("no_tag", partitions_def=weekly_partitions),
            _asset("hourly", tags={CADENCE_TAG: "hourly"}),
            _asset(
                "other_partitions",
                partitions_def=dg.StaticPartitionsDefinition(["a"]),
                tags=Cadence.DAILY.tags,
            ),
            both,
        ]
    )
    assert errors == [
        "daily_as_weekly is tagged weekly but its partitions are daily",
        "unpartitioned_as_daily is tagged daily but its partitions are intraday",
        "no_tag has no `theletter/cadence` tag (expected weekly)",
        "hourly: `theletter/cadence` 'hourly' is not one of the cadences",
        "other_partitions is tagged daily but its partitions are "
        + str(dg.StaticPartitionsDefinition(["a"])),
        "untagged has no `theletter/cadence` tag (expected daily)",
    ]


def test_the_raw_arrivals_sensor_requests_runs_dagster_accepts(lake, tmp_path: Path) -> None:
    """The sensor daemon evaluates a sensor through `evaluate_tick`, which refuses a RunRequest
    of a sensor that declares no target. Objects of every raw prefix request every daily staged
    table, inside the sensor's target."""
    now = datetime.now(UTC)
    arrival = now.replace(minute=5, second=0, microsecond=0) - timedelta(hours=30)
    day = (arrival - timedelta(minutes=2)).astimezone(TOKYO).date()
    put_lines(lake, firehose_key("ses-events", arrival), [ses("Send", arrival)])
    put_lines(lake, firehose_key("pageviews", arrival), [{"event_id": "x"}])
    put_lines(lake, f"app-logs/{day.isoformat()}/web/t1/ecs/web/a/000000.gz", ["x"])
    for table in ("newsletters", "posts", "subscriptions"):
        put_export(lake, table, day, [{"id": "1"}])
    settings = Settings(environment=Environment.LOCAL, data_dir=tmp_path, pseudonym_key_set=False)
    repository = build_definitions(settings).get_repository_def()
    sensor = repository.get_sensor_def("raw_arrivals_sensor")
    with (
        dg.instance_for_test() as instance,
        dg.build_sensor_context(
            instance=instance,
            repository_def=repository,
            resources={"lake": lake, "ingest_engine": IngestEngine()},
        ) as context,
    ):
        tick = sensor.evaluate_tick(context)
    requested = {key.to_user_string() for r in tick.run_requests for key in r.asset_selection}
    assert requested == {
        "stg_email_events", "stg_page_views", "stg_app_logs", "stg_newsletters", "stg_posts",
        "stg_subscriptions",
    }  # fmt: skip
    assert sensor.asset_selection is not None
    targeted = sensor.asset_selection.resolve(repository.asset_graph)
    assert {key.to_user_string() for key in targeted} == requested
    assert {r.job_name for r in tick.run_requests} == {"__ASSET_JOB"}
    assert day.isoformat() in {r.partition_key for r in tick.run_requests}
