"""Every statement sent to BigQuery, recorded where it leaves the process: the google-cloud-bigquery
client's `query` (and `query_and_wait`), with the SQL text and the parameter types as the job
request carries them, and the line of the project that caused it. Load jobs are recorded too,
with the schema they send, since later statements read the tables they create.

Nothing is replaced: each call is recorded and then made as it would have been, so the statements
run (against the emulator) and the code after them sees real results.

    with recording_bigquery() as recording:
        ...  # run jobs, queries
    recording.statements  # [SentStatement(sql=..., parameters=(("start_date", "DATE"),), ...)]
"""

from __future__ import annotations

import contextlib
import functools
import sys
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

PACKAGE = Path(__file__).resolve().parents[2] / "theletter_data"
RESOURCES = PACKAGE / "resources"


@dataclass(frozen=True)
class SentStatement:
    """One query job as the client sent it."""

    sql: str
    parameters: tuple[tuple[str, str], ...]
    """(name, type) of each named parameter, the type as BigQuery spells it: DATE, ARRAY<STRING>."""
    origin: str
    """The project line that asked for it (`theletter_data/checks.py:88`), outside resources/:
    the caller of the warehouse, not the warehouse."""
    dry_run: bool = False


@dataclass(frozen=True)
class LoadedTable:
    """A load job's destination and the schema it sent."""

    table_id: str
    columns: tuple[tuple[str, str], ...]


@dataclass
class Recording:
    statements: list[SentStatement] = field(default_factory=list)
    loads: list[LoadedTable] = field(default_factory=list)


@contextlib.contextmanager
def recording_bigquery() -> Iterator[Recording]:
    """Record every query and load job any `bigquery.Client` sends in this block."""
    from google.cloud.bigquery import Client

    recording = Recording()
    inside = threading.local()  # query_and_wait may call query: record the outer call only

    def statement(method: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(method)
        def recorded(self: Client, query: str, *args: Any, **kwargs: Any) -> Any:
            if getattr(inside, "depth", 0) == 0:
                config = kwargs.get("job_config", args[0] if args else None)
                recording.statements.append(_sent(query, config))
            inside.depth = getattr(inside, "depth", 0) + 1
            try:
                return method(self, query, *args, **kwargs)
            finally:
                inside.depth -= 1

        return recorded

    def load(method: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(method)
        def recorded(self: Client, source: Any, destination: Any, *args: Any, **kw: Any) -> Any:
            config = kw.get("job_config")
            schema = getattr(config, "schema", None) or ()
            recording.loads.append(
                LoadedTable(
                    table_id=_table_id(destination),
                    columns=tuple((f.name, _field_type(f)) for f in schema),
                )
            )
            return method(self, source, destination, *args, **kw)

        return recorded

    wrapped = {
        "query": statement(Client.query),
        "query_and_wait": statement(Client.query_and_wait),
        "load_table_from_file": load(Client.load_table_from_file),
        "load_table_from_uri": load(Client.load_table_from_uri),
        "load_table_from_dataframe": load(Client.load_table_from_dataframe),
    }
    originals = {name: getattr(Client, name) for name in wrapped}
    try:
        for name, method in wrapped.items():
            setattr(Client, name, method)
        yield recording
    finally:
        for name, method in originals.items():
            setattr(Client, name, method)


def _sent(sql: str, config: Any) -> SentStatement:
    parameters = []
    for parameter in getattr(config, "query_parameters", None) or ():
        body = parameter.to_api_repr()
        if not body.get("name"):
            raise AssertionError(f"a positional parameter was sent with: {sql[:200]}")
        parameters.append((body["name"], parameter_type(body["parameterType"])))
    return SentStatement(
        sql=sql,
        parameters=tuple(parameters),
        origin=_origin(),
        dry_run=bool(getattr(config, "dry_run", False)),
    )


def parameter_type(body: Mapping[str, Any]) -> str:
    """A REST `parameterType` as BigQuery's SQL spells the type."""
    kind = body["type"]
    if kind == "ARRAY":
        return f"ARRAY<{parameter_type(body['arrayType'])}>"
    if kind == "STRUCT":
        fields = ", ".join(f"{f['name']} {parameter_type(f['type'])}" for f in body["structTypes"])
        return f"STRUCT<{fields}>"
    return str(kind)


def _field_type(schema_field: Any) -> str:
    kind = {"INTEGER": "INT64", "FLOAT": "FLOAT64", "BOOLEAN": "BOOL"}.get(
        schema_field.field_type, schema_field.field_type
    )
    return f"ARRAY<{kind}>" if schema_field.mode == "REPEATED" else kind


def _table_id(destination: Any) -> str:
    if isinstance(destination, str):
        return destination
    reference = getattr(destination, "reference", destination)
    return f"{reference.project}.{reference.dataset_id}.{reference.table_id}"


def _origin() -> str:
    """The innermost frame in the project's package outside resources/."""
    frame = sys._getframe(2)
    while frame is not None:
        path = Path(frame.f_code.co_filename)
        if path.is_relative_to(PACKAGE) and not path.is_relative_to(RESOURCES):
            return f"{path.relative_to(PACKAGE.parent)}:{frame.f_lineno}"
        frame = frame.f_back
    return "(outside theletter_data)"
