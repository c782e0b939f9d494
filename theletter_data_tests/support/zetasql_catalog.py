"""The catalog ZetaSQL analyses BigQuery statements against (support/zetasql_bigquery.py): this
deployment's datasets holding every `Table` the project declares, found by importing every module
of the package, plus the tables load jobs created; and BigQuery's type names as ZetaSQL types.
"""

from __future__ import annotations

import functools
import importlib
import pkgutil
import re
from collections.abc import Iterator, Sequence
from dataclasses import fields, is_dataclass
from typing import TYPE_CHECKING, Any

import theletter_data
from theletter_data.tables import Table
from theletter_data_tests.support.bigquery_statements import LoadedTable

if TYPE_CHECKING:
    from zetasql.types import LanguageOptions, SimpleCatalog, SimpleTable, Type

_TYPE_KINDS = {
    "STRING": "TYPE_STRING", "INT64": "TYPE_INT64", "FLOAT64": "TYPE_DOUBLE", "BOOL": "TYPE_BOOL",
    "DATE": "TYPE_DATE", "TIMESTAMP": "TYPE_TIMESTAMP", "BYTES": "TYPE_BYTES",
    "NUMERIC": "TYPE_NUMERIC", "BIGNUMERIC": "TYPE_BIGNUMERIC", "DATETIME": "TYPE_DATETIME",
    "TIME": "TYPE_TIME", "JSON": "TYPE_JSON", "GEOGRAPHY": "TYPE_GEOGRAPHY",
    "INTERVAL": "TYPE_INTERVAL",
}  # fmt: skip


def zetasql_type(bigquery_type: str) -> Type:
    """A BigQuery type name (as a table declaration or a job's parameter spells it)."""
    from zetasql.api import TypeFactory
    from zetasql.types import TypeKind

    if match := re.fullmatch(r"ARRAY<(.+)>", bigquery_type):
        return TypeFactory.create_array_type(zetasql_type(match.group(1)))
    if bigquery_type not in _TYPE_KINDS:
        raise ValueError(f"no ZetaSQL type for BigQuery type {bigquery_type!r}")
    return TypeFactory.create_simple_type(TypeKind[_TYPE_KINDS[bigquery_type]])


def bigquery_catalog(
    project: str,
    dataset_prefix: str,
    tables: Sequence[Table],
    loads: Sequence[LoadedTable],
    language: LanguageOptions,
) -> SimpleCatalog:
    """The deployment's datasets (`<prefix><layer>` in `project`) with every declared table, and
    every table a load job created (scratch tables) with the schema the load sent.

    BigQuery reads a name path however it is quoted: `p.d.t`, `p`.d.t and `p.d`.t name the same
    table, and `d.t` names it in the job's project. ZetaSQL's SimpleCatalog takes a quoted
    identifier as one name, so each table is entered under every grouping of its path."""
    from zetasql.types import SimpleCatalog, ZetaSQLBuiltinFunctionOptions

    entries: dict[tuple[str, str, str], list[tuple[str, str]]] = {}
    for table in tables:
        path = (project, f"{dataset_prefix}{table.layer}", table.name)
        entries[path] = [(c.name, c.type) for c in table.columns]
    for load in loads:
        path = tuple(load.table_id.split("$")[0].split("."))  # without a partition decorator
        if len(path) != 3:
            raise ValueError(f"a load into {load.table_id!r}: expected project.dataset.table")
        entries.setdefault(path, list(load.columns))  # type: ignore[arg-type]

    root = SimpleCatalog(
        name="bigquery",
        builtin_function_options=ZetaSQLBuiltinFunctionOptions(language_options=language),
    )
    for (p, d, t), columns in entries.items():
        groupings = [[p, d, t], [f"{p}.{d}", t], [p, f"{d}.{t}"], [f"{p}.{d}.{t}"]]
        if p == project:
            groupings += [[d, t], [f"{d}.{t}"]]
        for grouping in groupings:
            *catalogs, name = grouping
            _nested(root, catalogs).table.append(_simple_table(name, f"{p}.{d}.{t}", columns))
    return root


def _nested(root: SimpleCatalog, names: Sequence[str]) -> SimpleCatalog:
    from zetasql.types import SimpleCatalog

    catalog = root
    for name in names:
        found = next((c for c in catalog.catalog if c.name == name), None)
        if found is None:
            found = SimpleCatalog(name=name)
            catalog.catalog.append(found)
        catalog = found
    return catalog


def _simple_table(name: str, full_name: str, columns: Sequence[tuple[str, str]]) -> SimpleTable:
    from zetasql.types import SimpleColumn, SimpleTable

    return SimpleTable(
        name=name,
        full_name=full_name,
        column=[SimpleColumn(name=c, type=zetasql_type(kind)) for c, kind in columns],
    )


@functools.cache
def declared_tables() -> tuple[Table, ...]:
    """Every `Table` the project declares: module-level ones and those held by a module-level
    dataclass (a staging spec's `table`), found by importing every module of the package."""
    found: dict[str, Table] = {}
    for module_info in pkgutil.walk_packages(theletter_data.__path__, "theletter_data."):
        module = importlib.import_module(module_info.name)
        for value in vars(module).values():
            for table in _tables_in(value):
                known = found.setdefault(table.qualified_name, table)
                if known.columns != table.columns:
                    raise ValueError(f"{table.qualified_name} is declared twice, differently")
    return tuple(sorted(found.values(), key=lambda t: t.qualified_name))


def _tables_in(value: Any) -> Iterator[Table]:
    if isinstance(value, Table):
        yield value
    elif is_dataclass(value) and not isinstance(value, type):
        for f in fields(value):
            if isinstance(held := getattr(value, f.name), Table):
                yield held
