"""Resources by environment: the only place where local and production differ.

Every environment provides the same resource keys with the same interfaces; only where data
lives changes. Assets never ask which environment they run in.
"""

from __future__ import annotations

from typing import Any

import dagster as dg

from theletter_data.extract.app_database import AppDatabase
from theletter_data.resources.alerts import Alerts
from theletter_data.resources.bigquery_warehouse import BigQueryWarehouse
from theletter_data.resources.duckdb_warehouse import DuckDBWarehouse
from theletter_data.resources.ingest_engine import IngestEngine
from theletter_data.resources.lake import Lake
from theletter_data.resources.pseudonymizer import Pseudonymizer
from theletter_data.settings import (
    GCP_CREDENTIALS_VARIABLE,
    PSEUDONYM_KEY_VARIABLE,
    SLACK_WEBHOOK_VARIABLE,
    Environment,
    Settings,
)
from theletter_data.sizing import INGESTION

LOCAL_PSEUDONYM_KEY = "theletter-local-development-key"
"""Used only locally when THELETTER_PSEUDONYM_KEY is unset: demo data has no real readers."""


def resources_for(settings: Settings) -> dict[str, Any]:
    resources = {**_data_resources(settings), "alerts": _alerts(settings)}
    if settings.app_database_port is not None:
        resources["app_database"] = AppDatabase(
            host=dg.EnvVar("THELETTER_APPDB_HOST"),
            port=settings.app_database_port,
            user=dg.EnvVar("THELETTER_APPDB_USER"),
            password=dg.EnvVar("THELETTER_APPDB_PASSWORD"),
            database=dg.EnvVar("THELETTER_APPDB_DATABASE"),
        )
    return resources


def _alerts(settings: Settings) -> Alerts:
    webhook = dg.EnvVar(SLACK_WEBHOOK_VARIABLE) if settings.slack_webhook_set else None
    return Alerts(webhook_url=webhook, ui_url=settings.dagster_ui_url)


def _data_resources(settings: Settings) -> dict[str, Any]:
    if settings.environment is Environment.LOCAL:
        data = settings.data_dir
        key = (
            dg.EnvVar(PSEUDONYM_KEY_VARIABLE) if settings.pseudonym_key_set else LOCAL_PSEUDONYM_KEY
        )
        return {
            "lake": Lake(url=str(data / "lake")),
            "warehouse": DuckDBWarehouse(path=str(data / "warehouse.duckdb")),
            "ingest_engine": IngestEngine(temp_directory=str(data / "tmp")),
            "pseudonymizer": Pseudonymizer(key=key),
        }
    if settings.environment is Environment.PRODUCTION:
        return {
            "lake": Lake(
                url=dg.EnvVar("THELETTER_LAKE_URL"), endpoint_url=settings.lake_endpoint_url
            ),
            "warehouse": BigQueryWarehouse(
                project=dg.EnvVar("THELETTER_BIGQUERY_PROJECT"),
                location=dg.EnvVar("THELETTER_BIGQUERY_LOCATION"),
                dataset_prefix=dg.EnvVar("THELETTER_BIGQUERY_DATASET_PREFIX"),
                maximum_bytes_billed=dg.EnvVar.int("THELETTER_BIGQUERY_MAXIMUM_BYTES_BILLED"),
                gcp_credentials=(
                    dg.EnvVar(GCP_CREDENTIALS_VARIABLE) if settings.gcp_credentials_set else None
                ),
                api_endpoint=settings.bigquery_api_endpoint,
            ),
            # Ingestion runs in its own task (sizing.INGESTION); DuckDB gets most of it.
            "ingest_engine": IngestEngine(
                memory_limit=INGESTION.memory_limit_for_engine,
                temp_directory="/tmp/theletter-engine",
            ),
            "pseudonymizer": Pseudonymizer(key=dg.EnvVar(PSEUDONYM_KEY_VARIABLE)),
        }
    raise ValueError(f"no resources for environment {settings.environment!r}")
