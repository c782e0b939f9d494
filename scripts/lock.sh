#!/usr/bin/env bash
# Regenerates requirements.lock, the image's pinned and hashed dependencies, from pyproject.toml:
# its runtime dependencies (no extras) and its build requirements (the image installs the
# project itself with --no-build-isolation, so the build backend is hash-checked too).
# Resolved for the image's platform: CPython 3.11 on linux/amd64 (glibc). Needs the index.
#   bash scripts/lock.sh            # after changing pyproject.toml's dependencies
#   bash scripts/lock.sh --upgrade  # move every pin to the newest version the ranges allow
set -euo pipefail
cd "$(dirname "$0")/.."
python="${PYTHON:-.venv/bin/python}"
build_requires="$(mktemp)"
trap 'rm -f "$build_requires"' EXIT
"$python" -c 'import tomllib
for r in tomllib.load(open("pyproject.toml", "rb"))["build-system"]["requires"]:
    print(r)' >"$build_requires"
"$python" -m uv pip compile pyproject.toml "$build_requires" \
  --generate-hashes --python-version 3.11 --python-platform x86_64-unknown-linux-gnu \
  --no-annotate --custom-compile-command "bash scripts/lock.sh" \
  --output-file requirements.lock --quiet "$@"
