"""A newsletter's dashboard as its author would see it, rendered from its published JSON document
into one self-contained HTML page (inline SVG charts, no script, nothing fetched): to check a
document by eye, or to show what the platform serves without the web app."""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import jinja2

from theletter_data.serving.documents import SERIES_DAYS, Document
from theletter_data.serving.registry import published_sections
from theletter_data.serving.sections import (
    SHORT_PERIOD_DAYS,
    CohortTriangle,
    Constant,
    DailySeries,
    DashboardSection,
    Figures,
    Part,
    PreviewColumn,
    RankedTable,
)

_TEMPLATES = jinja2.Environment(
    loader=jinja2.FileSystemLoader(Path(__file__).parent / "templates"),
    autoescape=True,
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)
WIDTH, HEIGHT, PAD = 640, 180, 32
LEFT = 52
"""The plot's left edge: room for the y axis's labels."""
TICKS = 5
"""About this many intervals on a y axis, at round numbers."""
COLORS = ("#4c7bf3", "#f39c4c", "#2e9e6b", "#9b59b6")


def render_dashboard(document: Document) -> str:
    """The page: every section's headline figures as cards at the top, then its series, tables
    and triangles in the sections' order, each drawn as its kind says."""
    as_of = date.fromisoformat(document["as_of"])
    days = [as_of - timedelta(days=SERIES_DAYS - 1 - i) for i in range(SERIES_DAYS)]
    # A document older than `series_from` starts at the window's first day.
    first = date.fromisoformat(document.get("series_from", days[0].isoformat()))
    days = [d for d in days if d >= first] or days[-1:]
    cards: list[dict[str, Any]] = []
    blocks: list[dict[str, Any]] = []
    colors = itertools.cycle(COLORS)  # every line of the page its own colour
    for published in published_sections():
        section = published.section
        if section.name not in document:  # a document older than the section
            continue
        for part in section.parts:
            value = _part_value(section, part, document[section.name])
            if isinstance(part, Figures):
                cards += _cards(section, part, value)
            elif not isinstance(part, Constant):
                block = _block(part, value, days, colors)
                blocks.append(
                    {"id": _id(section.name, part.key), "part": part, "summary": None, **block}
                )
    return _TEMPLATES.get_template("dashboard.html.j2").render(
        doc=document, cards=cards, blocks=blocks, heat=_heat
    )


def _part_value(section: DashboardSection, part: Part, value: Any) -> Any:
    if not isinstance(section.content, tuple) or (isinstance(part, Figures) and not part.key):
        return value
    return value[part.key]


def _id(*names: str | None) -> str:
    return "-".join(n for n in names if n)


def _cards(section: DashboardSection, part: Figures, value: dict[str, Any]) -> list[dict]:
    return [
        {
            "id": "kpi-" + _id(section.name, part.key, field.name),
            "label": field.label,
            "value": _number(value[field.name]),
        }
        for field in part.fields
        if field.label
    ]


def _block(part: Part, value: Any, days: list[date], colors: Iterator[str]) -> dict[str, Any]:
    if isinstance(part, DailySeries):
        by_day = {row["date"]: row for row in value}
        lines = [(label, _series(by_day, days, name, part.gaps)) for label, name in part.lines]
        recent = {d.isoformat() for d in days[-SHORT_PERIOD_DAYS:]}
        sums = [
            f"{_number(sum(r[name] for r in value if r['date'] in recent))} {label}"
            for label, name in part.summed
        ]
        summary = f"Last {SHORT_PERIOD_DAYS} days: {', '.join(sums)}." if sums else None
        chart = _line_chart(days, lines, colors, part.axis)
        return {"kind": "chart", "chart": chart, "summary": summary}
    if isinstance(part, RankedTable):
        return {"kind": "table", "rows": [_row(part, row, value) for row in value]}
    if isinstance(part, CohortTriangle):
        longest = max((len(c["retention"]) for c in value), default=0)
        cohorts = [
            {**c, "size": _number(c["size"]), "cells": [(r, _percent(r)) for r in c["retention"]]}
            for c in value
        ]
        return {"kind": "triangle", "cohorts": cohorts, "longest": longest}
    raise TypeError(f"no drawing for a {type(part).__name__}")


def _row(part: RankedTable, row: dict[str, Any], rows: list[dict[str, Any]]) -> dict[str, Any]:
    cells = [{"text": _format(c, c.cell(row)), "sub": c.sub(row) if c.sub else None}
             for c in part.columns]  # fmt: skip
    bar = None
    if part.bar is not None:
        total = sum(r[part.bar] for r in rows) or 1
        bar = round(100 * row[part.bar] / total, 1)
    return {"id": part.row_id(row) if part.row_id else None, "cells": cells, "bar": bar}


def _format(column: PreviewColumn, value: Any) -> str:
    if column.format == "number":
        return _number(value)
    if column.format == "percent":
        return _percent(value)
    return str(value)


def _series(
    by_day: dict[str, dict[str, Any]], days: list[date], name: str, gaps: str
) -> list[int | None]:
    """A day without a row had no activity (0); a total carries over from the day before, and
    is unknown (no line) before the first."""
    values: list[int | None] = []
    last = None
    for d in days:
        row = by_day.get(d.isoformat())
        if gaps == "carry":
            last = row[name] if row else last
            values.append(last)
        else:
            values.append(row[name] if row else 0)
    return values


def _line_chart(
    days: list[date],
    series: list[tuple[str, list[int | None]]],
    colors: Iterator[str],
    axis: str = "zero",
) -> dict[str, Any]:
    """SVG polyline points for each series on a shared scale, with a labelled tick at every
    round number of the y axis (from 0, or around the lines' range with `axis="fit"`) and the
    first and last days."""
    known = [v for _, values in series for v in values if v is not None]
    low = min(known, default=0) if axis == "fit" else 0
    ticks = nice_ticks(low, max(known, default=0))
    bottom, top = ticks[0], ticks[-1]
    step = (WIDTH - PAD - LEFT) / max(len(days) - 1, 1)

    def y(value: float) -> float:
        return HEIGHT - PAD - (value - bottom) / (top - bottom) * (HEIGHT - 2 * PAD)

    def points(values: list[int | None]) -> str:
        return " ".join(
            f"{LEFT + i * step:.1f},{y(v):.1f}" for i, v in enumerate(values) if v is not None
        )

    return {
        "width": WIDTH,
        "height": HEIGHT,
        "pad": PAD,
        "left": LEFT,
        "ticks": [{"y": f"{y(t):.1f}", "label": _number(t)} for t in ticks],
        "series": [
            {"label": label, "points": points(values), "color": next(colors)}
            for label, values in series
        ],
        "first_day": days[0].isoformat(),
        "last_day": days[-1].isoformat(),
    }


def nice_ticks(low: float, high: float, intervals: int = TICKS) -> list[int]:
    """Round numbers from at or below `low` to at or above `high`, about `intervals` apart: a
    step of 1, 2 or 5 times a power of ten (counts: at least 1)."""
    if high <= low:
        high = low + 1
    rough = (high - low) / intervals
    power = 10 ** math.floor(math.log10(rough)) if rough >= 1 else 1
    step = next(m * power for m in (1, 2, 5, 10) if m * power >= rough)
    first = math.floor(low / step) * step
    count = math.ceil((high - first) / step)
    return [int(first + i * step) for i in range(count + 1)]


def _number(value: int | None) -> str:
    return "-" if value is None else f"{value:,}"


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:.1f}%"


def _heat(value: float | None) -> str:
    """A background for a retention cell: darker green for a higher share."""
    if value is None:
        return "transparent"
    return f"hsl(150, 55%, {95 - value * 55:.0f}%)"
