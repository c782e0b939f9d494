# theletter-data's image: one image for every service (code server, webserver, daemon) and for
# every run, which the run launcher starts from the code server's DAGSTER_CURRENT_IMAGE.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    DAGSTER_HOME=/opt/dagster/home

WORKDIR /opt/theletter

# Dependency layer: rebuilt only when pyproject.toml changes.
COPY pyproject.toml README.md ./
RUN mkdir theletter_data && touch theletter_data/__init__.py \
    && pip install . \
    && pip uninstall --yes theletter-data \
    && rm -rf theletter_data build

# Code layer.
COPY theletter_data ./theletter_data
COPY workspace.yaml dagster.yaml ./
# The webserver and daemon load the code server over gRPC through this workspace.
COPY deploy/workspace.yaml ./deploy/
RUN pip install --no-deps . \
    && useradd --create-home --uid 10001 dagster \
    && mkdir -p "$DAGSTER_HOME" \
    && cp dagster.yaml "$DAGSTER_HOME/" \
    && chown -R dagster "$DAGSTER_HOME"

USER dagster
EXPOSE 4000
CMD ["dagster", "code-server", "start", "--host", "0.0.0.0", "--port", "4000", \
     "--module-name", "theletter_data.definitions", "--attribute", "defs"]
