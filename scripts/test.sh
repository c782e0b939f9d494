#!/usr/bin/env bash
# The whole test suite: set up (Python packages, and the Debian packages of the servers the
# tests start), lint, run pytest. Exits non-zero on any failure, including
# pytest's "no tests collected" (exit code 5).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh test
source scripts/system-packages.sh
.venv/bin/ruff check .
.venv/bin/ruff format --check .
.venv/bin/check-jsonschema --builtin-schema vendor.github-workflows .github/workflows/*.yml
.venv/bin/zizmor --offline --persona auditor --quiet .github/workflows/
status=0
.venv/bin/python -m pytest "$@" || status=$?
if [ "$status" -eq 5 ]; then
  echo "pytest collected no tests: failing." >&2
fi
exit "$status"
