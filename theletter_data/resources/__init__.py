"""Resources by environment: the only place where local and production differ.

Every environment provides the same resource keys with the same interfaces; only where data
lives changes. Assets never ask which environment they run in.
"""

from __future__ import annotations

from typing import Any

import dagster as dg

from theletter_data.resources.duckdb_warehouse import DuckDBWarehouse
from theletter_data.resources.ingest_engine import IngestEngine
from theletter_data.resources.lake import Lake
from theletter_data.resources.pseudonymizer import Pseudonymizer
from theletter_data.settings import PSEUDONYM_KEY_VARIABLE, Environment, Settings

LOCAL_PSEUDONYM_KEY = "theletter-local-development-key"
"""Used only locally when THELETTER_PSEUDONYM_KEY is unset: demo data has no real readers."""


def resources_for(settings: Settings) -> dict[str, Any]:
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
    raise ValueError(f"no resources for environment {settings.environment!r}")
