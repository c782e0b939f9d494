#!/usr/bin/env bash
# The image's install, replayed in a clean virtual environment (no Docker engine needed): the
# dependency layer from requirements.lock alone, hash-checked, wheels only; then the project
# without dependencies from the files the Dockerfile copies; then `pip check` (the lock is
# complete: every requirement of every locked package is locked), every class the production
# dagster.yaml names imports, the code location loads in both environments, and the development
# tools' commands (not in the image) say where they are.
set -euo pipefail
cd "$(dirname "$0")/.."
python="${PYTHON:-$(command -v python3.11 || command -v python3)}"
"$python" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))' ||
  { echo "check-image-install: the image and its lock are CPython 3.11; $python is not" >&2; exit 1; }
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
"$python" -m venv "$work/venv"
# Only the lock and the public index, as in the image: not this machine's pip configuration.
export PIP_CONFIG_FILE=/dev/null
pip=("$work/venv/bin/python" -m pip --quiet --disable-pip-version-check --no-input)
"${pip[@]}" install --require-hashes --no-deps --only-binary :all: -r requirements.lock
# The code layer, from a copy of what the Dockerfile copies (builds nothing in the work tree).
mkdir "$work/src"
cp -r pyproject.toml README.md theletter_data "$work/src/"
"${pip[@]}" install --no-deps --no-build-isolation "$work/src"
"${pip[@]}" check
cd "$work"
mkdir home
printf 'telemetry:\n  enabled: false\n' > home/dagster.yaml
DAGSTER_HOME="$work/home" "$work/venv/bin/python" - "$OLDPWD/dagster.yaml" <<'PY'
import sys
import yaml
from dagster._serdes.config_class import ConfigurableClassData, class_from_code_pointer
def classes(node):
    if isinstance(node, dict):
        if "module" in node and "class" in node:
            yield node["module"], node["class"]
        for value in node.values():
            yield from classes(value)
for module, name in classes(yaml.safe_load(open(sys.argv[1]))):
    data = ConfigurableClassData(module, name, "{}")  # as Dagster names it (dagster.core...)
    class_from_code_pointer(data.module_name, data.class_name)
    print(f"imports {module}.{name}")
PY
for environment in local production; do
  THELETTER_ENV="$environment" DAGSTER_HOME="$work/home" "$work/venv/bin/dagster" definitions \
    validate -m theletter_data.definitions -a defs --log-level warning
  echo "the code location loads (THELETTER_ENV=$environment)"
done
# The development tools are not in the image: their commands say where they are, exit 2.
status=0
message="$("$work/venv/bin/theletter-data" demo --start 2026-10-01 2>&1)" || status=$?
if [ "$status" -ne 2 ] || [[ "$message" != *"is a development tool"* ]]; then
  echo "check-image-install: \`theletter-data demo\` exits $status: $message" >&2
  exit 1
fi
echo "theletter-data demo says it is a development tool (exit 2)"
