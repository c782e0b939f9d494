"""A newsletter's dashboard as its author would see it, rendered from its published JSON document
into one self-contained HTML page (inline SVG charts, no script, nothing fetched): to check a
document by eye, or to show what the platform serves without the web app."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path
from typing import Any

import jinja2

from theletter_data.serving.documents import SERIES_DAYS, Document

_TEMPLATES = jinja2.Environment(
    loader=jinja2.FileSystemLoader(Path(__file__).parent / "templates"),
    autoescape=True,
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)
_CATEGORY_LABELS = {
    "email": "Email", "direct": "Direct", "internal": "Within the site",
    "other_newsletter": "Other newsletters", "search": "Search", "social": "Social",
    "referral": "Other sites",
}  # fmt: skip
WIDTH, HEIGHT, PAD = 640, 180, 32


def render_dashboard(document: Document) -> str:
    as_of = date.fromisoformat(document["as_of"])
    days = [as_of - timedelta(days=SERIES_DAYS - 1 - i) for i in range(SERIES_DAYS)]
    traffic = {row["date"]: row for row in document["traffic"]["daily"]}
    subscribers = _filled_subscribers(document["subscribers"]["daily"], days)
    categories = document["traffic_sources"]["by_category"]
    return _TEMPLATES.get_template("dashboard.html.j2").render(
        doc=document,
        traffic_chart=_line_chart(
            days,
            [
                ("Page views", _daily(traffic, days, "page_views")),
                ("Unique visitors", _daily(traffic, days, "unique_visitors")),
            ],
        ),
        subscriber_chart=_line_chart(days, [("Subscribers", subscribers)]),
        categories=[
            {**c, "label": _CATEGORY_LABELS.get(c["category"], c["category"])} for c in categories
        ],
        category_total=sum(c["page_views"] for c in categories) or 1,
        number=_number,
        percent=_percent,
        heat=_heat,
    )


def _daily(rows: dict[str, dict[str, Any]], days: list[date], column: str) -> list[int | None]:
    """A day without a row had no traffic."""
    return [rows.get(d.isoformat(), {}).get(column, 0) for d in days]


def _filled_subscribers(rows: list[dict[str, Any]], days: list[date]) -> list[int | None]:
    """Totals carried forward over days without a row; unknown (no line) before the first."""
    by_day = {row["date"]: row["total"] for row in rows}
    filled: list[int | None] = []
    last = None
    for d in days:
        last = by_day.get(d.isoformat(), last)
        filled.append(last)
    return filled


def _line_chart(days: list[date], series: list[tuple[str, list[int | None]]]) -> dict[str, Any]:
    """SVG polyline points for each series on a shared scale, with axis labels."""
    known = [v for _, values in series for v in values if v is not None]
    top = max(known, default=0) or 1
    step = (WIDTH - 2 * PAD) / max(len(days) - 1, 1)

    def points(values: list[int | None]) -> str:
        return " ".join(
            f"{PAD + i * step:.1f},{HEIGHT - PAD - v / top * (HEIGHT - 2 * PAD):.1f}"
            for i, v in enumerate(values)
            if v is not None
        )

    return {
        "width": WIDTH,
        "height": HEIGHT,
        "pad": PAD,
        "top": top,
        "series": [{"label": label, "points": points(values)} for label, values in series],
        "first_day": days[0].isoformat(),
        "last_day": days[-1].isoformat(),
    }


def _number(value: int | None) -> str:
    return "-" if value is None else f"{value:,}"


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:.1f}%"


def _heat(value: float | None) -> str:
    """A background for a retention cell: darker green for a higher share."""
    if value is None:
        return "transparent"
    return f"hsl(150, 55%, {95 - value * 55:.0f}%)"
