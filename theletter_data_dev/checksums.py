"""Order-independent checksums of every table of a local DuckDB warehouse, to show that a change
to how tables are computed changes no number in them (issue 17: "No number the platform computes
changes").

`python -m theletter_data_dev.checksums <warehouse.duckdb> [<other.duckdb>]` prints each table's
row count and the sum of its rows' hashes (modulo 2**64, so row order does not matter and, unlike
an XOR, two equal rows do not cancel out); given two warehouses it prints both side by side and
exits 1 when any table differs or is missing from one of them. Columns that record when a run
wrote a row, rather than what the row says (`--ignore`, default: none), can be left out.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path

import duckdb


@dataclass(frozen=True)
class TableChecksum:
    rows: int
    checksum: int


def table_checksums(path: Path, ignore: frozenset[str] = frozenset()) -> dict[str, TableChecksum]:
    """Every base table of the warehouse at `path`, by `layer.table`."""
    result: dict[str, TableChecksum] = {}
    with duckdb.connect(str(path), read_only=True) as con:
        tables = con.execute(
            "SELECT schema_name, table_name FROM duckdb_tables() "
            "WHERE NOT internal ORDER BY schema_name, table_name"
        ).fetchall()
        for schema, table in tables:
            columns = [
                name
                for (name,) in con.execute(
                    "SELECT column_name FROM duckdb_columns() "
                    "WHERE schema_name = $schema AND table_name = $table ORDER BY column_index",
                    {"schema": schema, "table": table},
                ).fetchall()
                if name not in ignore
            ]
            hashed = ", ".join(f'"{c}"' for c in columns)
            rows, checksum = con.execute(
                f"SELECT count(*), coalesce(sum(hash({hashed})::HUGEINT) % 18446744073709551616, 0)"
                f' FROM "{schema}"."{table}"'
            ).fetchone()  # type: ignore[misc]
            result[f"{schema}.{table}"] = TableChecksum(int(rows), int(checksum))
    return result


def compare(
    left: dict[str, TableChecksum], right: dict[str, TableChecksum]
) -> tuple[list[str], list[str]]:
    """The lines of a side-by-side table, and the tables that differ or exist on one side only."""
    lines = [f"{'table':<48} {'rows':>10} {'checksum':>20} {'rows':>10} {'checksum':>20}  same"]
    different: list[str] = []
    for name in sorted(left.keys() | right.keys()):
        a, b = left.get(name), right.get(name)
        same = a == b
        if not same:
            different.append(name)
        cells = [
            f"{t.rows:>10,} {t.checksum:>20x}" if t else f"{'-':>10} {'-':>20}" for t in (a, b)
        ]
        lines.append(f"{name:<48} {cells[0]} {cells[1]}  {'yes' if same else 'NO'}")
    return lines, different


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m theletter_data_dev.checksums")
    parser.add_argument("warehouses", nargs="+", type=Path, help="One or two DuckDB files.")
    parser.add_argument(
        "--ignore", default="", help="Comma-separated column names left out of every hash."
    )
    args = parser.parse_args(argv)
    if len(args.warehouses) > 2:
        parser.error("give one warehouse, or two to compare")
    ignore = frozenset(c for c in args.ignore.split(",") if c)
    sums = [table_checksums(path, ignore) for path in args.warehouses]
    if len(sums) == 1:
        for name, t in sums[0].items():
            print(f"{name:<48} {t.rows:>10,} {t.checksum:>20x}")
        return 0
    lines, different = compare(*sums)
    print("\n".join(lines))
    print(f"{len(different)} of {len(lines) - 1} tables differ" + (":" if different else ""))
    for name in different:
        print(f"  {name}")
    return 1 if different else 0


if __name__ == "__main__":
    sys.exit(main())
