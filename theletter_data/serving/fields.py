"""The fields of the authors' dashboard documents: each knows its JSON type (what the schema says
of it) and how a query's value becomes that JSON (what the document holds)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

JsonType = Literal["count", "integer", "rate", "day", "instant", "text", "category"]

DEFS: dict[str, dict[str, Any]] = {
    "day": {"type": "string", "format": "date"},
    "count": {"type": "integer", "minimum": 0},
    "rate": {"type": ["number", "null"], "minimum": 0, "maximum": 1},
}
"""The schema's shared types (`$defs`): a Japan-time day, a count, a share that may be unknown."""


@dataclass(frozen=True)
class Field:
    """One property of a document's object: `name` in the JSON, `column` in the query's rows."""

    name: str
    type: JsonType
    column: str = ""
    """The query column it comes from; default: `name`."""
    description: str | None = None
    label: str | None = None
    """What the preview calls it (a headline figure's caption)."""
    nullable: bool = False
    minimum: int | None = None
    maximum: int | None = None
    values: tuple[str, ...] = ()
    """A category's values."""

    def __post_init__(self) -> None:
        if not self.column:
            object.__setattr__(self, "column", self.name)
        if self.type == "category" and not self.values:
            raise ValueError(f"category field {self.name!r} without values")

    def schema(self) -> dict[str, Any]:
        if self.type in DEFS:
            schema: dict[str, Any] = {"$ref": f"#/$defs/{self.type}"}
        elif self.type == "integer":
            schema = {"type": ["integer", "null"] if self.nullable else "integer"}
        elif self.type == "instant":
            schema = {"type": "string", "format": "date-time"}
        elif self.type == "category":
            schema = {"enum": list(self.values)}
        else:
            schema = {"type": ["string", "null"] if self.nullable else "string"}
        bounds = {"minimum": self.minimum, "maximum": self.maximum}
        schema.update({k: v for k, v in bounds.items() if v is not None})
        if self.description:
            schema["description"] = self.description
        return schema

    def json(self, row: Mapping[str, Any]) -> Any:
        """The field's JSON value from a query row."""
        value = row[self.column]
        if value is None:
            return None
        if self.type in ("count", "integer"):
            return int(value)
        if self.type == "rate":
            return float(value)
        if self.type == "day":
            return value.isoformat()
        if self.type == "instant":
            return value.isoformat().replace("+00:00", "Z")
        return value

    @property
    def empty(self) -> Any:
        """Its value when the query has no row (a newsletter without activity): counts are 0."""
        return 0 if self.type in ("count", "integer") else None


def count(name: str, column: str = "", **kwargs: Any) -> Field:
    """A count: an integer that cannot be negative."""
    return Field(name, "count", column, **kwargs)


def integer(name: str, column: str = "", **kwargs: Any) -> Field:
    return Field(name, "integer", column, **kwargs)


def rate(name: str, column: str = "", **kwargs: Any) -> Field:
    """A share within [0, 1], null when its denominator is 0."""
    return Field(name, "rate", column, **kwargs)


def day(name: str, column: str = "", **kwargs: Any) -> Field:
    """A Japan-time calendar day, `YYYY-MM-DD`."""
    return Field(name, "day", column, **kwargs)


def instant(name: str, column: str = "", **kwargs: Any) -> Field:
    """A moment in UTC, RFC 3339 (`2026-11-20T00:00:00Z`)."""
    return Field(name, "instant", column, **kwargs)


def text(name: str, column: str = "", **kwargs: Any) -> Field:
    return Field(name, "text", column, **kwargs)


def category(name: str, values: Sequence[str], column: str = "", **kwargs: Any) -> Field:
    return Field(name, "category", column, values=tuple(values), **kwargs)


def object_schema(properties: Mapping[str, dict[str, Any]]) -> dict[str, Any]:
    """An object with exactly these properties, all of them required."""
    return {
        "type": "object",
        "additionalProperties": False,
        "required": list(properties),
        "properties": dict(properties),
    }
