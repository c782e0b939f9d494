# theletter-data's image: one image for every service (code server, webserver, daemon) and for
# every run, which the run launcher starts from the code server's DAGSTER_CURRENT_IMAGE.
# Reproducible: the base by digest, every Python package from requirements.lock by hash
# (deploy/README.md, "The image": how the digest was chosen, how to move it and the lock).
# python:3.11-slim-bookworm@sha256:2e32f7d302adc1c37428355c1e646897c0c53f4fd60b6a551245fb90ee129f91
FROM python:3.11-slim-bookworm@sha256:2e32f7d302adc1c37428355c1e646897c0c53f4fd60b6a551245fb90ee129f91

# DAGSTER_GRPC_SHUTDOWN_GRACE_PERIOD: on SIGTERM the code server lets calls in flight (a sensor
# tick) finish for this long instead of Dagster's 60 s, so that it stops within ECS's stopTimeout.
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    DAGSTER_HOME=/opt/dagster/home \
    DAGSTER_GRPC_SHUTDOWN_GRACE_PERIOD=10

WORKDIR /opt/theletter

# Dependency layer: the lock alone (rebuilt only when it changes), every file hash-checked,
# wheels only. It also pins the build backend the code layer uses.
COPY requirements.lock ./
RUN pip install --require-hashes --no-deps --only-binary :all: -r requirements.lock

# Code layer: the project itself, without dependencies and without fetching a build backend.
COPY pyproject.toml README.md ./
COPY theletter_data ./theletter_data
COPY workspace.yaml dagster.yaml ./
# The webserver and daemon load the code server over gRPC through this workspace.
COPY deploy/workspace.yaml ./deploy/
RUN pip install --no-deps --no-build-isolation . \
    && rm -rf build theletter_data.egg-info \
    && useradd --create-home --uid 10001 dagster \
    && mkdir -p "$DAGSTER_HOME" \
    && cp dagster.yaml "$DAGSTER_HOME/" \
    && chown -R dagster "$DAGSTER_HOME"

USER dagster
EXPOSE 4000
# The code server. `timeout --kill-after=20 0` (coreutils; 0 = no time limit) passes SIGTERM to
# the server and to its `dagster api grpc` child, and kills both 20 s later if a call is still
# stuck in user code (a sensor blocked on S3): the task then stops within its stopTimeout (30 s).
# It also gives the server a default SIGINT, which Dagster's SIGTERM handler copies.
CMD ["timeout", "--kill-after=20", "0", \
     "dagster", "code-server", "start", "--host", "0.0.0.0", "--port", "4000", \
     "--module-name", "theletter_data.definitions", "--attribute", "defs"]
