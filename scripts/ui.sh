#!/usr/bin/env bash
# The Dagster UI over the demo's instance and data: `dagster dev` on http://127.0.0.1:3000
# (options after the script go to `dagster dev`, e.g. -p 3001). It runs from the instance's own
# folder: started in the repository's top level, `dagster dev` warns that the dagster.yaml it
# finds there (the production instance) is not DAGSTER_HOME's and will not be used.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd -P)"
[ -x "$root/.venv/bin/dagster" ] || {
  echo "No .venv yet: run ./scripts/demo.sh first (it sets it up)." >&2
  exit 1
}
mkdir -p "${DAGSTER_HOME:-$root/dagster_home}"
export DAGSTER_HOME="$(cd "${DAGSTER_HOME:-$root/dagster_home}" && pwd -P)"
# The code location finds its data folder from the working directory: keep it the checkout's.
export THELETTER_DATA_DIR="${THELETTER_DATA_DIR:-$root/data}"
# `dagster dev` also warns that `dg dev` supersedes it; `dg` is another package
# (dagster-dg-cli) that this project does not need: `dagster dev` does the same here.
export PYTHONWARNINGS="${PYTHONWARNINGS:+$PYTHONWARNINGS,}ignore::FutureWarning:click.core"
cd "$DAGSTER_HOME"
exec "$root/.venv/bin/dagster" dev -w "$root/workspace.yaml" "$@"
