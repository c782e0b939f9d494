"""The production configuration, end to end: the code location loaded with THELETTER_ENV=
production resources, its raw logs in S3 (a moto server), its tables in BigQuery (the emulator),
and the daily job run over two generated days, reconciled against the generator.

BigQuery is reached as in production: `theletter-data bigquery-setup` creates the datasets with
the administrator's role, then the job runs with the run identity's roles (deploy/README.md),
every call checked by the IAM proxy (bigquery_iam_proxy.py)."""

from __future__ import annotations

import uuid
from datetime import date
from pathlib import Path

import boto3
import dagster as dg
import pytest
from dagster._core.storage.tags import (
    ASSET_PARTITION_RANGE_END_TAG,
    ASSET_PARTITION_RANGE_START_TAG,
)

from theletter_data.cli import main
from theletter_data.definitions import build_definitions
from theletter_data.resources.lake import Lake
from theletter_data.settings import Environment, Settings
from theletter_data_dev.generate import generate_lake
from theletter_data_tests.support.bigquery_deployment import deployed_bigquery

FIRST, LAST = date(2026, 11, 9), date(2026, 11, 10)


@pytest.fixture
def production(moto_endpoint, aws_credentials, bigquery_emulator, monkeypatch):  # type: ignore[no-untyped-def]
    bucket = f"theletter-lake-{uuid.uuid4().hex[:8]}"
    boto3.client("s3", endpoint_url=moto_endpoint).create_bucket(
        Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": "ap-northeast-1"}
    )
    with deployed_bigquery(bigquery_emulator, set_up=False) as deployment:
        for key, value in {
            "THELETTER_LAKE_URL": f"s3://{bucket}/raw",
            "THELETTER_BIGQUERY_PROJECT": bigquery_emulator.project,
            "THELETTER_BIGQUERY_LOCATION": "asia-northeast1",
            "THELETTER_BIGQUERY_DATASET_PREFIX": deployment.dataset_prefix,
            "THELETTER_BIGQUERY_MAXIMUM_BYTES_BILLED": str(10 * 2**30),
            "THELETTER_PSEUDONYM_KEY": "production-test-key",
        }.items():
            monkeypatch.setenv(key, value)
        # The administrator's setup step, once per deployment, with the setup identity's role.
        with monkeypatch.context() as administrator:
            administrator.setenv("THELETTER_ENV", "production")
            administrator.setenv("THELETTER_BIGQUERY_API_ENDPOINT", deployment.setup_proxy.url)
            assert main(["bigquery-setup"]) == 0
        settings = Settings(
            environment=Environment.PRODUCTION,
            data_dir=Path("/nonexistent"),  # production keeps nothing on local disk
            pseudonym_key_set=True,
            lake_endpoint_url=moto_endpoint,
            bigquery_api_endpoint=deployment.run_proxy.url,  # runs act as the run identity
        )
        defs = build_definitions(settings)
        report = generate_lake(
            Lake(url=f"s3://{bucket}/raw", endpoint_url=moto_endpoint),
            FIRST, LAST, newsletters=4, readers=300, seed=5,
        )  # fmt: skip
        yield defs, report, deployment


def test_the_daily_job_runs_on_s3_and_bigquery(production, monkeypatch, capsys) -> None:  # type: ignore[no-untyped-def]
    defs, report, deployment = production
    warehouse = deployment.warehouse
    with dg.instance_for_test() as instance:
        result = defs.resolve_job_def("daily_refresh").execute_in_process(
            instance=instance,
            tags={
                ASSET_PARTITION_RANGE_START_TAG: FIRST.isoformat(),
                ASSET_PARTITION_RANGE_END_TAG: LAST.isoformat(),
            },
        )
        assert result.success
        checks = [
            e.asset_check_evaluation_data
            for e in result.all_events
            if e.event_type_value == "ASSET_CHECK_EVALUATION"
        ]
        assert checks and all(c.passed for c in checks)
        materialization = instance.get_latest_materialization_event(
            dg.AssetKey("post_email_funnel")
        )
    metadata = materialization.asset_materialization.metadata
    assert {"warehouse/estimated_bytes", "warehouse/billed_bytes"} <= set(metadata)

    staged = dict(
        (row["event_date"], row["n"])
        for row in warehouse.query(
            "SELECT event_date, COUNT(*) AS n FROM staging.stg_email_events GROUP BY event_date"
        ).to_pylist()
    )
    for day in (FIRST, LAST):
        counts = report.per_day[day]["ses_events"]
        assert staged[day] == counts.records - counts.late_lines
    kpis = warehouse.query(
        "SELECT date, emails_sent, page_views FROM metrics.platform_daily_kpis ORDER BY date"
    ).to_pylist()
    assert [k["date"] for k in kpis] == [FIRST, LAST]
    assert all(k["emails_sent"] >= 0 and k["page_views"] > 0 for k in kpis)

    # Every BigQuery call of the run was allowed by the run identity's roles, and none of them
    # needed a permission on the project beyond starting jobs.
    run = deployment.run_proxy
    assert run.refused() == []
    checked = run.checked()
    assert checked["bigquery.datasets.create"] == 0
    assert {
        "bigquery.jobs.create", "bigquery.tables.create", "bigquery.tables.get",
        "bigquery.tables.getData", "bigquery.tables.updateData", "bigquery.tables.delete",
    } <= set(checked)  # fmt: skip
    assert {d.resource.kind for d in run.decisions if d.permission != "bigquery.jobs.create"} == {
        "dataset", "table"
    }  # fmt: skip
    assert deployment.setup_proxy.checked()["bigquery.datasets.create"] == 2

    # The commands an operator runs against production read the same settings: `trace` on
    # BigQuery (its project and datasets from THELETTER_BIGQUERY_*, as the run identity).
    (traced,) = warehouse.query(
        "SELECT newsletter_id, COUNT(*) AS n FROM staging.stg_app_logs "
        "WHERE event_date = @day AND newsletter_id IS NOT NULL "
        "GROUP BY newsletter_id ORDER BY n DESC, newsletter_id LIMIT 1",
        {"day": FIRST},
    ).to_pylist()
    monkeypatch.setenv("THELETTER_ENV", "production")
    monkeypatch.setenv("THELETTER_BIGQUERY_API_ENDPOINT", deployment.run_proxy.url)
    monkeypatch.setenv("THELETTER_LAKE_ENDPOINT_URL", settings_endpoint(defs))
    capsys.readouterr()
    assert main(["trace", "--newsletter", traced["newsletter_id"], "--day", str(FIRST)]) == 0
    assert capsys.readouterr().out.startswith(
        f"{traced['n']:,} log events of newsletter {traced['newsletter_id']}"
    )


def settings_endpoint(defs: dg.Definitions) -> str:
    """The S3 endpoint the production lake resource of `defs` was built with (moto's)."""
    return defs.resources["lake"].endpoint_url
