#!/usr/bin/env bash
# A local BigQuery emulator (bqemulator, DuckDB-backed) for offline tests of the BigQuery code paths.
#
#   scripts/bqemulator.sh install
#   scripts/bqemulator.sh start <rest_port> <grpc_port> <project> [data_dir]
#   scripts/bqemulator.sh path          # prints the emulator's home (venv, DuckDB extensions, logs)
#
# `install` creates the emulator's OWN virtual environment and installs the exact pins below. It never
# touches the project's .venv: bqemulator registers a pytest plugin that imports testcontainers
# (breaks every pytest run) and pins sqlglot<30.12 (the project needs 30.30). It is idempotent and
# takes well under a second once done (a stamp file holds the hash of the pins and the Python).
#
# The emulator INSTALLs and LOADs DuckDB's `spatial` extension at start (and `avro`, best effort);
# DuckDB would download them, which is impossible here. The PyPI packages duckdb-extension-spatial and
# duckdb-extension-avro ship the extension files; `install` has DuckDB itself INSTALL them from those
# files into a private HOME ($BQEMULATOR_HOME/home/.duckdb/extensions/<version>/<platform>/), so
# DuckDB computes the version and platform directory. `start` runs the emulator with that HOME.
#
# `start` runs the emulator in the foreground (the pytest fixture backgrounds it), REST and gRPC on
# 127.0.0.1 only. Without data_dir it is in-memory; with data_dir it keeps its DuckDB file there, uses data_dir as its working
# directory, stages uploads in data_dir/uploads and resolves gs://bucket/path to
# data_dir/gcs/bucket/path. Log level: $BQEMU_LOG_LEVEL (default warning).
#
# Where: $BQEMULATOR_HOME, default ${XDG_CACHE_HOME:-$HOME/.cache}/theletter-data/bqemulator
# (outside the repo: a venv inside the work tree would be linted by `ruff check .`).
# Python: $PYTHON, else the first of python3.11..3.13/python3 that is 3.11 or newer.
set -euo pipefail

BQEMULATOR_VERSION=1.4.0
# DuckDB must match the extension packages exactly (an extension is built for one DuckDB version).
DUCKDB_VERSION=1.5.5
# The full resolved set (pip freeze of a working install), installed with --no-deps, then `pip check`.
# numpy is not declared by bqemulator 1.4.0 but its built-in UDF registration needs it at start;
# grpcio-tools needs setuptools>=77.0.1 (a fresh Python 3.11 venv has 65.5). No comments inside PINS.
PINS="
bqemulator==${BQEMULATOR_VERSION}
duckdb==${DUCKDB_VERSION}
duckdb-extension-spatial==${DUCKDB_VERSION}
duckdb-extension-avro==${DUCKDB_VERSION}
numpy==2.4.6
setuptools==84.2.1
alembic==1.20.1
annotated-doc==0.0.7
annotated-types==0.8.0
anyio==4.16.0
asgiref==3.13.0
certifi==2026.10.19.post1
cffi==2.1.1
charset-normalizer==3.5.3
click==8.5.1
cryptography==50.0.2
fastapi==0.165.0
fastavro==1.13.1
google-api-core==2.44.0
google-auth==2.63.0
google-cloud-bigquery-storage==2.43.0
googleapis-common-protos==1.76.0
grpcio==1.85.3
grpcio-health-checking==1.80.1
grpcio-status==1.85.3
grpcio-tools==1.80.1
h11==0.16.0
httpcore==1.0.9
httptools==0.9.0
httpx==0.28.1
idna==3.20
mako==1.4.3
markupsafe==3.0.4
opentelemetry-api==1.45.2
opentelemetry-exporter-http-transport==0.66b2
opentelemetry-exporter-otlp==1.45.2
opentelemetry-exporter-otlp-common==0.66b2
opentelemetry-exporter-otlp-proto-common==1.45.2
opentelemetry-exporter-otlp-proto-grpc==1.45.2
opentelemetry-exporter-otlp-proto-http==1.45.2
opentelemetry-instrumentation==0.66b2
opentelemetry-instrumentation-asgi==0.66b2
opentelemetry-instrumentation-fastapi==0.66b2
opentelemetry-instrumentation-grpc==0.66b2
opentelemetry-proto==1.45.2
opentelemetry-sdk==1.45.2
opentelemetry-semantic-conventions==0.66b2
opentelemetry-util-http==0.66b2
orjson==3.13.0
packaging==26.4
prometheus-client==0.26.0
proto-plus==1.29.0
protobuf==6.33.6
pyarrow==26.0.1
pyasn1==0.6.5
pyasn1-modules==0.4.2
pycparser==3.12
pydantic==2.14.4
pydantic-core==2.50.5
pydantic-settings==2.16.3
pyjwt==2.15.1
python-dotenv==1.2.4
pytz==2026.6
pyyaml==6.0.4
requests==2.34.2
sqlalchemy==2.1.9
sqlglot==30.11.0
starlette==1.10.0
structlog==26.1.0
typing-extensions==4.16.0
typing-inspection==0.4.5
urllib3==2.8.0
uvicorn==0.54.0
uvloop==0.23.0
watchfiles==1.3.0
websockets==17.4
wrapt==2.5.2
"

root="${BQEMULATOR_HOME:-${XDG_CACHE_HOME:-$HOME/.cache}/theletter-data/bqemulator}"
venv="$root/venv"
duckdb_home="$root/home"
stamp="$root/.installed"

die() { echo "bqemulator.sh: $*" >&2; exit 1; }

pick_python() {
  if [ -n "${PYTHON:-}" ]; then echo "$PYTHON"; return; fi
  local candidate
  for candidate in python3.11 python3.12 python3.13 python3; do
    if command -v "$candidate" >/dev/null 2>&1 &&
       "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
      echo "$candidate"; return
    fi
  done
  die "needs Python 3.11 or newer (set PYTHON=...)"
}

wanted_stamp() {
  { echo "$PINS"; "$1" -c 'import sys; print(sys.version)'; echo "layout 1"; } | sha256sum | cut -d' ' -f1
}

is_installed() {
  [ -x "$venv/bin/bqemulator" ] && [ -x "$venv/bin/python" ] || return 1
  [ "$(cat "$stamp" 2>/dev/null)" = "$(wanted_stamp "$venv/bin/python")" ] || return 1
  compgen -G "$duckdb_home/.duckdb/extensions/v$DUCKDB_VERSION/*/spatial.duckdb_extension" >/dev/null
}

do_install() {
  local python log
  python="$(pick_python)"
  mkdir -p "$root"
  log="$root/install.log"
  echo "bqemulator.sh: installing bqemulator $BQEMULATOR_VERSION into $venv (log: $log)" >&2
  rm -rf "$venv" "$duckdb_home" "$stamp"
  # No stale user-site or PYTHONPATH packages may leak into the emulator's environment.
  if ! {
    PYTHONNOUSERSITE=1 "$python" -m venv "$venv" &&
      printf '%s\n' $PINS > "$root/requirements.txt" &&
      "$venv/bin/python" -m pip install --disable-pip-version-check --no-input --no-deps \
        --only-binary=:all: -r "$root/requirements.txt" &&
      "$venv/bin/python" -m pip check
  } >"$log" 2>&1; then
    grep -v 'is ignored: it is neither a file nor a directory' "$log" | tail -n 30 >&2
    die "pip install failed (full log: $log)"
  fi
  # DuckDB installs its extensions from the packaged files into the private HOME; it names the
  # version and platform directories itself (e.g. v1.5.5/linux_amd64).
  mkdir -p "$duckdb_home"
  if ! HOME="$duckdb_home" "$venv/bin/python" - >>"$log" 2>&1 <<'PY'
import glob
import importlib
import os

import duckdb

con = duckdb.connect()
for name in ("spatial", "avro"):
    package = importlib.import_module(f"duckdb_extension_{name}")
    pattern = os.path.join(os.path.dirname(package.__file__), "extensions", "*", f"{name}.duckdb_extension")
    files = glob.glob(pattern)
    if len(files) != 1:
        raise SystemExit(f"expected one {name} extension file, found {files}")
    con.execute(f"INSTALL '{files[0]}'")
    con.execute(f"LOAD {name}")
    row = con.execute(
        "SELECT install_path FROM duckdb_extensions() WHERE extension_name = ?", [name]
    ).fetchone()
    print(f"installed {name}: {row[0]}")
PY
  then
    grep -v 'is ignored: it is neither a file nor a directory' "$log" | tail -n 30 >&2
    die "placing the DuckDB extensions failed (full log: $log)"
  fi
  wanted_stamp "$venv/bin/python" > "$stamp"
  echo "bqemulator.sh: installed." >&2
}

install() {
  is_installed && return 0
  mkdir -p "$root"
  # Two concurrent first runs (e.g. two pytest sessions) must not build the venv at the same time.
  if command -v flock >/dev/null 2>&1; then
    exec 9>"$root/.lock"
    flock 9
    is_installed || do_install
    flock -u 9
    exec 9>&-
  else
    do_install
  fi
}

start() {
  [ $# -ge 3 ] && [ $# -le 4 ] || die "usage: $0 start <rest_port> <grpc_port> <project> [data_dir]"
  local rest_port="$1" grpc_port="$2" project="$3" data_dir="${4:-}"
  install
  local args=(start --rest-host 127.0.0.1 --rest-port "$rest_port"
              --grpc-host 127.0.0.1 --grpc-port "$grpc_port" --project "$project"
              --log-level "${BQEMU_LOG_LEVEL:-warning}" --log-format "${BQEMU_LOG_FORMAT:-console}")
  if [ -n "$data_dir" ]; then
    mkdir -p "$data_dir/uploads" "$data_dir/gcs"
    data_dir="$(cd "$data_dir" && pwd)"
    args+=(--persistent --data-dir "$data_dir")
    export BQEMU_UPLOAD_STAGING_DIR="${BQEMU_UPLOAD_STAGING_DIR:-$data_dir/uploads}"
    export BQEMU_GCS_LOCAL_ROOT="${BQEMU_GCS_LOCAL_ROOT:-$data_dir/gcs}"
    # The emulator also reads ./.bqemu.toml: run it where no stray one can be.
    cd "$data_dir"
  else
    args+=(--ephemeral)
    cd "$root"
  fi
  unset PYTHONPATH PYTHONHOME VIRTUAL_ENV
  export PYTHONNOUSERSITE=1
  HOME="$duckdb_home" exec "$venv/bin/bqemulator" "${args[@]}"
}

case "${1:-}" in
  install) install ;;
  start) shift; start "$@" ;;
  path) echo "$root" ;;
  *) die "usage: $0 install | start <rest_port> <grpc_port> <project> [data_dir] | path" ;;
esac
