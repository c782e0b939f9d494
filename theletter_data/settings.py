"""The one place that reads the process environment to decide which deployment this is.

Nothing else reads `os.environ` to choose behaviour: assets get resources with one interface
everywhere, and only `definitions.py` asks for the settings, when Dagster loads the code location.
Secrets and required production values are not read here: resources take them through
`dagster.EnvVar`, so they are resolved when a run starts and never logged.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

ENVIRONMENT_VARIABLE = "THELETTER_ENV"
DATA_DIR_VARIABLE = "THELETTER_DATA_DIR"
PSEUDONYM_KEY_VARIABLE = "THELETTER_PSEUDONYM_KEY"
GCP_CREDENTIALS_VARIABLE = "THELETTER_GCP_CREDENTIALS"
SLACK_WEBHOOK_VARIABLE = "THELETTER_SLACK_WEBHOOK_URL"


class Environment(StrEnum):
    """Where this code location runs. Only physical locations differ between them."""

    LOCAL = "local"
    PRODUCTION = "production"


@dataclass(frozen=True)
class Settings:
    environment: Environment
    data_dir: Path
    """Local deployments keep the lake and the DuckDB warehouse under this folder."""
    pseudonym_key_set: bool
    """Whether THELETTER_PSEUDONYM_KEY is set (its value is read by the resource, via EnvVar)."""
    gcp_credentials_set: bool = False
    """Whether THELETTER_GCP_CREDENTIALS is set (its value is read by the resource, via EnvVar).
    THELETTER_GCP_CREDENTIALS: Secret: base64 of a Google credential JSON, either a Workload
    Identity Federation credential configuration for AWS (preferred: no key, the run task's own
    role signs the exchange) or a service-account key. Unset: Application Default Credentials.
    (resources/gcp_credentials.py builds them.)"""
    lake_endpoint_url: str | None = None
    """THELETTER_LAKE_ENDPOINT_URL: an S3-compatible endpoint instead of AWS (tests: moto)."""
    bigquery_api_endpoint: str | None = None
    """THELETTER_BIGQUERY_API_ENDPOINT: a BigQuery API endpoint instead of Google's (tests: an
    emulator, which takes no credentials)."""
    slack_webhook_set: bool = False
    """Whether THELETTER_SLACK_WEBHOOK_URL is set; if not, alerts are logged."""
    dagster_ui_url: str | None = None
    """THELETTER_DAGSTER_UI_URL: the UI's base URL, for links in alerts."""
    app_database_port: int | None = None
    """THELETTER_APPDB_PORT when THELETTER_APPDB_HOST is set: the app tables are then read from
    MySQL (extract/) instead of arriving as nightly exports."""

    @property
    def reads_app_database(self) -> bool:
        return self.app_database_port is not None

    @property
    def automation_starts_running(self) -> bool:
        """Sensors and schedules run by themselves in production; locally they wait to be
        turned on in the UI, so that a laptop does not start launching runs unasked."""
        return self.environment is Environment.PRODUCTION


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    """Read the deployment settings; an unknown environment name fails loudly."""
    environ = os.environ if environ is None else environ
    name = environ.get(ENVIRONMENT_VARIABLE, Environment.LOCAL.value).strip().lower()
    try:
        environment = Environment(name)
    except ValueError:
        known = ", ".join(e.value for e in Environment)
        raise ValueError(f"{ENVIRONMENT_VARIABLE}={name!r} is not one of: {known}") from None
    data_dir = Path(environ.get(DATA_DIR_VARIABLE, "data")).expanduser().resolve()
    return Settings(
        environment=environment,
        data_dir=data_dir,
        pseudonym_key_set=bool(environ.get(PSEUDONYM_KEY_VARIABLE)),
        gcp_credentials_set=bool(environ.get(GCP_CREDENTIALS_VARIABLE)),
        lake_endpoint_url=environ.get("THELETTER_LAKE_ENDPOINT_URL") or None,
        bigquery_api_endpoint=environ.get("THELETTER_BIGQUERY_API_ENDPOINT") or None,
        slack_webhook_set=bool(environ.get(SLACK_WEBHOOK_VARIABLE)),
        dagster_ui_url=environ.get("THELETTER_DAGSTER_UI_URL") or None,
        app_database_port=(
            int(environ.get("THELETTER_APPDB_PORT") or 3306)
            if environ.get("THELETTER_APPDB_HOST")
            else None
        ),
    )
