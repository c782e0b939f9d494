"""SQL is written once, in BigQuery's dialect (production's engine), and transpiled for DuckDB."""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from pathlib import Path

import sqlglot


def read_sql(package_file: str, name: str) -> str:
    """The text of `sql/<name>.sql` next to the module whose `__file__` is given."""
    return (Path(package_file).parent / "sql" / f"{name}.sql").read_text()


_INCLUDE = re.compile(r"/\*\s*include\b.*?\*/", re.DOTALL)
_MARKER = re.compile(r"(?m)^(?P<indent>[ \t]*)/\* include shared/(?P<name>\w+)\.sql \*/[ \t]*$")


def with_shared_parts(sql: str, sql_dir: Path) -> str:
    """`sql` with each `/* include shared/<name>.sql */` marker, alone on its line, replaced by
    the text of `sql_dir/shared/<name>.sql`, indented as the marker: a part that several
    statements need (e.g. a CTE's body) is written once and still sent to every engine as one
    plain statement (no view, no permission, the same bytes scanned). A shared part includes
    no other; a marker written otherwise, or naming no file, is an error, never a silent gap."""

    def part(marker: re.Match[str]) -> str:
        path = sql_dir / "shared" / f"{marker['name']}.sql"
        if not path.is_file():
            known = sorted(p.name for p in (sql_dir / "shared").glob("*.sql"))
            raise ValueError(f"{marker[0].strip()}: no {path} (shared parts: {known or 'none'})")
        text = path.read_text().rstrip()
        lines = (marker["indent"] + line if line.strip() else "" for line in text.splitlines())
        return "\n".join(lines)

    included = _MARKER.sub(part, sql)
    if stray := _INCLUDE.search(included):
        raise ValueError(
            f"{stray[0]!r} is no include marker: write `/* include shared/<name>.sql */` alone "
            "on its line (a shared part includes no other)"
        )
    return included


@functools.cache
def to_duckdb(bigquery_sql: str) -> str:
    """Transpile one BigQuery statement; `@name` parameters become DuckDB's `$name`."""
    statements = sqlglot.parse(bigquery_sql, read="bigquery")
    if len(statements) != 1 or statements[0] is None:
        raise ValueError(f"expected one SQL statement, got {len(statements)}")
    return statements[0].transform(_countif_as_count).sql(dialect="duckdb")


def _countif_as_count(node: sqlglot.exp.Expression) -> sqlglot.exp.Expression:
    """BigQuery's COUNTIF counts the rows where its condition is true: 0 when it is NULL on
    every row. DuckDB's COUNT_IF, which sqlglot writes for it, is a sum since DuckDB 1.3 and
    gives NULL there (sqlglot#7833): a newsletter without a cancelled subscription had NULL
    lost subscribers. COUNT(CASE WHEN condition THEN 1 END) is BigQuery's COUNTIF on both."""
    if not isinstance(node, sqlglot.exp.CountIf):
        return node
    case = sqlglot.exp.Case(
        ifs=[sqlglot.exp.If(this=node.this, true=sqlglot.exp.Literal.number(1))]
    )
    return sqlglot.exp.Count(this=case)


def with_tables(bigquery_sql: str, replacements: Mapping[str, str]) -> str:
    """The same query reading other tables (`layer.table` -> `layer.table`), e.g. a metric of
    the current day that reads the current-day staged table instead of the daily one."""
    tree = sqlglot.parse_one(bigquery_sql, read="bigquery")
    for table in tree.find_all(sqlglot.exp.Table):
        name = f"{table.db}.{table.name}"
        if name in replacements:
            layer, new_name = replacements[name].split(".")
            table.set("db", sqlglot.exp.to_identifier(layer))
            table.set("this", sqlglot.exp.to_identifier(new_name))
    return tree.sql(dialect="bigquery", pretty=True)


_DUCKDB_PARAMETER = re.compile(r"\$([A-Za-z_]\w*)")


def duckdb_params(sql: str, params: Mapping[str, object]) -> dict[str, object]:
    """The subset of `params` that a DuckDB statement names (DuckDB refuses unused ones)."""
    return {name: params[name] for name in set(_DUCKDB_PARAMETER.findall(sql)) if name in params}


def duckdb_string(value: str) -> str:
    """A DuckDB string literal, for the few places that take no parameters (file lists)."""
    return "'" + value.replace("'", "''") + "'"


def with_patterns(sql: str, patterns: Mapping[str, str]) -> tuple[str, set[str]]:
    """`sql` with each `$name` of `patterns` written as a string constant, and the names it
    used. DuckDB compiles a constant regular expression once per statement, and one bound as a
    parameter again for every row it meets."""
    used = set()
    for name, pattern in patterns.items():
        sql, count = re.subn(rf"\${name}\b", lambda _, p=pattern: duckdb_string(p), sql)
        if count:
            used.add(name)
    return sql, used
