#!/usr/bin/env bash
# The main job on the embedded default: set up, generate a demo lake if there is none, and
# materialize the whole graph for its days (local lake + DuckDB; no cloud account, no Docker).
set -euo pipefail
cd "$(dirname "$0")/.."
# An explicit (empty) extras argument: without one, the sourced script would see the demo's own
# options ("$@") as its extras.
source scripts/setup.sh ""
export DAGSTER_HOME="${DAGSTER_HOME:-$PWD/dagster_home}"
exec .venv/bin/theletter-data demo "$@"
