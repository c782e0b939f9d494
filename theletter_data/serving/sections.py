"""The sections of the authors' dashboard documents, each declared by the metric it shows
(`metric_asset(section=...)`): its name in the document, the serving queries that build it
(`serving/sql/<query>.sql`, one query over all newsletters), its fields and their JSON types,
and how the preview draws it. The document, its JSON Schema and the preview are built from these
declarations; adding a section is adding one (and its query).

A section is one part, or an object of parts, of a few kinds:
- `Figures`: headline figures from one row per newsletter (cards at the top of the preview);
- `Constant`: a fixed value the reader needs (the days a table covers);
- `DailySeries`: one object per day, oldest first (a line chart);
- `RankedTable`: rows in a declared order, the first N (a table, optionally with bars);
- `CohortTriangle`: signup cohorts and their retention week by week (a heat-map triangle).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from theletter_data.serving.fields import Field, object_schema

if TYPE_CHECKING:
    from theletter_data.metrics.metric_asset import Upstream

SERIES_DAYS = 90
"""A document's daily series cover the 90 days up to its as-of day: its queries' window is
[@start_date, @end_date), and `@as_of` is the last day."""
SHORT_PERIOD_DAYS = 30
"""Its short period: [@start_30, @end_date)."""
EXPORT_DAYS = 7
"""The newest app export up to the as-of day is looked for over this many days (`@export_days`;
the export is daily)."""

Row = dict[str, Any]
Rows = Mapping[str, Sequence[Row]]
"""One newsletter's rows, by query name."""


@dataclass(frozen=True, kw_only=True)
class Figures:
    """Headline figures: the fields of the one row `query` has for the newsletter (zeros when it
    has none), with `constants` beside them. With no `key`, they are the section's own
    properties. The preview shows each field with a `label` as a card."""

    query: str
    fields: tuple[Field, ...]
    key: str | None = None
    constants: Mapping[str, int | str] = field(default_factory=dict)

    def value(self, rows: Rows) -> dict[str, Any]:
        found = rows.get(self.query, ())
        if len(found) > 1:
            raise ValueError(f"{self.query}: {len(found)} rows for one newsletter, expected one")
        values = {f.name: f.json(found[0]) if found else f.empty for f in self.fields}
        return {**self.constants, **values}

    def schema(self) -> dict[str, Any]:
        return object_schema(self.properties())

    def properties(self) -> dict[str, dict[str, Any]]:
        constants = {name: {"const": value} for name, value in self.constants.items()}
        return {**constants, **{f.name: f.schema() for f in self.fields}}


@dataclass(frozen=True, kw_only=True)
class Constant:
    """A fixed value of the section, e.g. how many days its tables cover."""

    key: str
    constant: int | str

    def value(self, rows: Rows) -> int | str:
        return self.constant

    def schema(self) -> dict[str, Any]:
        return {"const": self.constant}


@dataclass(frozen=True)
class PreviewColumn:
    """A column of a preview table: its heading and its cell, from the document's row (a field
    name, or a function of the row), shown as a number, a percentage or text; `sub` adds a
    muted second line."""

    heading: str
    value: str | Callable[[Row], Any]
    format: Literal["number", "percent", "text"] = "number"
    sub: Callable[[Row], str] | None = None

    def cell(self, row: Row) -> Any:
        return row[self.value] if isinstance(self.value, str) else self.value(row)


@dataclass(frozen=True, kw_only=True)
class _Rows:
    """An array of objects, one per row of `query`, in `order_by` order (query columns; a
    leading `-` sorts descending), the first `limit` of them."""

    query: str
    fields: tuple[Field, ...]
    order_by: tuple[str, ...]
    title: str
    key: str | None = None
    description: str | None = None
    limit: int | None = None
    note: str | None = None
    wide: bool = False

    def value(self, rows: Rows) -> list[dict[str, Any]]:
        ordered = list(rows.get(self.query, ()))
        for column in reversed(self.order_by):  # stable sorts, last key first
            name = column.removeprefix("-")
            ordered.sort(key=lambda row, name=name: row[name], reverse=column.startswith("-"))
        return [{f.name: f.json(row) for f in self.fields} for row in ordered[: self.limit]]

    def schema(self) -> dict[str, Any]:
        schema: dict[str, Any] = {"type": "array"}
        if self.description:
            schema["description"] = self.description
        if self.limit is not None:
            schema["maxItems"] = self.limit
        schema["items"] = object_schema({f.name: f.schema() for f in self.fields})
        return schema


@dataclass(frozen=True, kw_only=True)
class RankedTable(_Rows):
    """Rows in a declared order (the most first, the newest first), drawn as a table of
    `columns`; `bar`: a field drawn as a bar of its share of the table's total; `row_id`: the
    HTML id of a row, to find it on the page."""

    columns: tuple[PreviewColumn, ...] = ()
    empty: str = "Nothing yet."
    bar: str | None = None
    row_id: Callable[[Row], str] | None = None


@dataclass(frozen=True, kw_only=True)
class DailySeries(_Rows):
    """One object per day with activity, oldest first, drawn as a line chart of `lines`
    ((label, field)) over the document's days from its `series_from`; a day without a row is 0,
    or, with `gaps="carry"`, the day before's value (a total). `summed` ((label, field)): sums
    over the short period, said under the chart. `axis`: the y axis from 0 (amounts), or fitted
    to the lines' range (`"fit"`: a level such as a subscriber total, whose day-to-day movement
    a scale from 0 flattens; its labelled ticks say where it starts)."""

    order_by: tuple[str, ...] = ("date",)
    lines: tuple[tuple[str, str], ...] = ()
    gaps: Literal["zero", "carry"] = "zero"
    summed: tuple[tuple[str, str], ...] = ()
    axis: Literal["zero", "fit"] = "zero"


@dataclass(frozen=True, kw_only=True)
class CohortTriangle:
    """Signup cohorts, oldest first: each cohort's size and its share retained at the end of
    every week since (`retention[i]`, null for a week not measured), from rows of (cohort,
    weeks since signup, size, share); drawn as a triangle shaded by share."""

    query: str
    title: str
    description: str
    key: str | None = None
    cohort: str = "cohort_week"
    age: str = "weeks_since_signup"
    size: str = "cohort_size"
    share: str = "retention_rate"
    empty: str = "No cohorts measured yet."
    note: str | None = None
    wide: bool = True

    def value(self, rows: Rows) -> list[dict[str, Any]]:
        by_cohort: dict[Any, dict[int, Row]] = {}
        for row in rows.get(self.query, ()):
            by_cohort.setdefault(row[self.cohort], {})[row[self.age]] = row
        return [
            {
                "cohort_week": cohort.isoformat(),
                "size": weeks[min(weeks)][self.size],
                "retention": [
                    weeks[w][self.share] if w in weeks else None for w in range(max(weeks) + 1)
                ],
            }
            for cohort, weeks in sorted(by_cohort.items())
        ]

    def schema(self) -> dict[str, Any]:
        return {
            "description": self.description,
            "type": "array",
            "items": object_schema(
                {
                    "cohort_week": {"$ref": "#/$defs/day"},
                    "size": {"$ref": "#/$defs/count"},
                    "retention": {"type": "array", "items": {"$ref": "#/$defs/rate"}},
                }
            ),
        }


Part = Figures | Constant | RankedTable | DailySeries | CohortTriangle


def queries_of(part: Part) -> tuple[str, ...]:
    return () if isinstance(part, Constant) else (part.query,)


@dataclass(frozen=True, kw_only=True)
class DashboardSection:
    """`name` in every document: one part (the section is its value) or several (an object of
    them by key; key-less `Figures` give the object's own properties). `reads`: inputs of its
    queries besides the metric (a staged table over more days); `params`: constants its queries
    name, bound as parameters; `order`: its place in the preview."""

    name: str
    content: Part | tuple[Part, ...]
    order: int
    reads: tuple[Upstream, ...] = ()
    params: Mapping[str, object] = field(default_factory=dict)
    description: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.content, tuple):
            if self.content.key is not None:
                raise ValueError(f"section {self.name}: a section of one part names no key")
            return
        keys = [key for part in self.content for key in self._keys(part)]
        if len(keys) != len(set(keys)):
            raise ValueError(f"section {self.name}: two parts give the same key in {keys}")

    @staticmethod
    def _keys(part: Part) -> list[str]:
        if isinstance(part, Figures) and part.key is None:
            return list(part.properties())
        if part.key is None:
            raise ValueError(f"a {type(part).__name__} among several parts needs a key")
        return [part.key]

    @property
    def parts(self) -> tuple[Part, ...]:
        return self.content if isinstance(self.content, tuple) else (self.content,)

    @property
    def queries(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(q for part in self.parts for q in queries_of(part)))

    def value(self, rows: Rows) -> Any:
        if not isinstance(self.content, tuple):
            return self.content.value(rows)
        value: dict[str, Any] = {}
        for part in self.content:
            if isinstance(part, Figures) and part.key is None:
                value.update(part.value(rows))
            else:
                value[part.key] = part.value(rows)  # type: ignore[index]
        return value

    def schema(self) -> dict[str, Any]:
        if not isinstance(self.content, tuple):
            schema = self.content.schema()
        else:
            properties: dict[str, dict[str, Any]] = {}
            for part in self.content:
                if isinstance(part, Figures) and part.key is None:
                    properties.update(part.properties())
                else:
                    properties[part.key] = part.schema()  # type: ignore[index]
            schema = object_schema(properties)
        return {"description": self.description, **schema} if self.description else schema
