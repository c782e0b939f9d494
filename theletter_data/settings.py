"""The one place that reads the process environment to decide which deployment this is.

Nothing else reads `os.environ` to choose behaviour: assets get resources with one interface
everywhere, and only `definitions.py` asks for the settings, when Dagster loads the code location.
Secrets are not read here; resources take them through `dagster.EnvVar`.
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


class Environment(StrEnum):
    """Where this code location runs. Only physical locations differ between them."""

    LOCAL = "local"


@dataclass(frozen=True)
class Settings:
    environment: Environment
    data_dir: Path
    """Local deployments keep the lake and the DuckDB warehouse under this folder."""
    pseudonym_key_set: bool
    """Whether THELETTER_PSEUDONYM_KEY is set (its value is read by the resource, via EnvVar)."""


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
    )
