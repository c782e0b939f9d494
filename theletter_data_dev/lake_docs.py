"""The tables of raw sources in docs/lake-layout.md and the README, generated from the
declarations in theletter_data/raw/sources.py, between two marker lines:

    .venv/bin/python -m theletter_data_dev.lake_docs            # rewrite the tables
    .venv/bin/python -m theletter_data_dev.lake_docs --check    # fail, naming a file that differs

A test runs the check, so a table edited by hand, or a declaration changed without running
this, fails the suite.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

from theletter_data.raw.sources import SOURCES, RawSource

ROOT = Path(__file__).parents[1]
BEGIN = (
    "<!-- generated from theletter_data/raw/sources.py by "
    "`python -m theletter_data_dev.lake_docs`: edit the declarations, not this table -->"
)
END = "<!-- end of the generated table -->"


def _hours(span: timedelta) -> str:
    return f"{span // timedelta(hours=1)} h"


def arrival(source: RawSource) -> str:
    """The arrival window in words."""
    window = source.arrival
    if source.stream.late_records_possible:
        return (
            f"delivered from {_hours(window.clock_skew)} before the Japan-time day to "
            f"{_hours(window.allowed_lateness)} after it (`allowed_lateness_hours`)"
        )
    return "written once the Japan-time day has ended, holding exactly that day"


def lake_layout_table() -> str:
    rows = [
        "| source | key | written by | format | arrival | staged as | retention |",
        "|---|---|---|---|---|---|---|",
    ]
    rows += [
        f"| {s.title} | `{s.key_pattern}` | {s.producer} | {s.format.detail} | {arrival(s)} "
        f"| `{s.staged_asset}` | {s.retention.summary} |"
        for s in SOURCES
    ]
    return "\n".join(rows)


def readme_table() -> str:
    rows = ["| asset | lake keys | producer | staged as |", "|---|---|---|---|"]
    rows += [
        f"| `{s.asset_key}` | `{s.key_pattern}` | {s.producer} | `{s.staged_asset}` |"
        for s in SOURCES
    ]
    return "\n".join(rows)


TABLES: dict[str, Callable[[], str]] = {
    "docs/lake-layout.md": lake_layout_table,
    "README.md": readme_table,
}


def with_table(text: str, table: str, name: str) -> str:
    """`text` with the lines between its one pair of markers replaced by `table`."""
    if text.count(BEGIN) != 1 or text.count(END) != 1 or text.index(BEGIN) > text.index(END):
        raise ValueError(f"{name}: expected one `{BEGIN}` line, then one `{END}` line")
    head, rest = text.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    return f"{head}{BEGIN}\n\n{table}\n\n{END}{tail}"


def main(argv: list[str], root: Path = ROOT) -> int:
    check = argv == ["--check"]
    if argv not in ([], ["--check"]):
        print("usage: python -m theletter_data_dev.lake_docs [--check]", file=sys.stderr)
        return 2
    differing = []
    for name, table in TABLES.items():
        path = root / name
        text = path.read_text()
        wanted = with_table(text, table(), name)
        if wanted != text:
            differing.append(name)
            if not check:
                path.write_text(wanted)
    verb = "differs from theletter_data/raw/sources.py" if check else "rewritten"
    for name in differing:
        print(f"{name}: {verb}", file=sys.stderr)
    return 1 if check and differing else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
