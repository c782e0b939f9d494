"""The constants SQL needs are declared once, in Python, and bound by name as typed query
parameters (`@timezone`, `@funnel_days`, ...): a SQL file never repeats a number or a time zone
that a module declares, so changing the constant changes every query that uses it.

BigQuery types each parameter from its Python value (str -> STRING, int -> INT64, date -> DATE);
DuckDB refuses a parameter its statement does not name, so each statement is sent exactly the
ones it names.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import sqlglot

from theletter_data.partitions import TIMEZONE

STANDARD: Mapping[str, object] = {"timezone": TIMEZONE}
"""Parameters every metric and serving query may name without declaring them: the time zone
whose calendar days the platform counts in (`DATE(event_at, @timezone)`)."""

WINDOW = ("start_date", "end_date")
"""The window every metric query computes: rows of [@start_date, @end_date)."""


def named_parameters(sql: str) -> set[str]:
    """The `@name` parameters a BigQuery statement uses (comments and strings excluded)."""
    tree = sqlglot.parse_one(sql, read="bigquery")
    return {parameter.name for parameter in tree.find_all(sqlglot.exp.Parameter)}


def bind(sql: str, available: Mapping[str, object], *, what: str) -> dict[str, object]:
    """The values of the parameters `sql` names; a clear error for one that nothing declares."""
    named = named_parameters(sql)
    if unknown := sorted(named - set(available)):
        raise ValueError(
            f"{what} uses {', '.join('@' + n for n in unknown)}, which is not declared "
            f"(declared: {', '.join('@' + n for n in sorted(available)) or 'none'})"
        )
    return {name: available[name] for name in sorted(named)}


def check_declared_are_used(
    declared: Iterable[str], statements: Mapping[str, str], *, what: str
) -> None:
    """A declared constant that no statement names is a literal left behind in the SQL (or a
    declaration left behind in Python): either way the two have drifted apart."""
    used = set().union(*(named_parameters(sql) for sql in statements.values()))
    if unused := sorted(set(declared) - used):
        raise ValueError(
            f"{what} declares {', '.join('@' + n for n in unused)}, which its SQL "
            f"({', '.join(statements)}) never uses: a literal where the parameter should be?"
        )
