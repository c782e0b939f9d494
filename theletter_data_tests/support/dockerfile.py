"""The repository's Dockerfile read as Docker reads it (there is no Docker engine here to build
it): instructions with their continuation lines joined and comments dropped, the exec-form
CMD/ENTRYPOINT, and the ENV the image sets."""

from __future__ import annotations

import json
import shlex
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).parents[2]
DOCKERFILE = ROOT / "Dockerfile"


@dataclass(frozen=True)
class Instruction:
    keyword: str
    arguments: str
    line: int


def instructions(text: str | None = None) -> list[Instruction]:
    """Each instruction once, its `\\`-continued lines joined; comment lines inside a
    continuation are dropped, as Docker drops them."""
    text = DOCKERFILE.read_text() if text is None else text
    found: list[Instruction] = []
    pending: list[str] = []
    start = 0
    for number, raw in enumerate(text.splitlines(), start=1):
        stripped = raw.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if not pending:
            start = number
        if stripped.endswith("\\"):
            pending.append(stripped[:-1].strip())
            continue
        pending.append(stripped)
        keyword, _, arguments = " ".join(pending).partition(" ")
        found.append(Instruction(keyword.upper(), arguments.strip(), start))
        pending = []
    assert not pending, "the Dockerfile ends inside a continued instruction"
    return found


def only(keyword: str, text: str | None = None) -> list[Instruction]:
    return [i for i in instructions(text) if i.keyword == keyword]


def exec_form(keyword: str, text: str | None = None) -> list[str]:
    """The last CMD or ENTRYPOINT (the one that counts) in exec (JSON) form; [] when absent."""
    found = only(keyword, text)
    if not found:
        return []
    value = json.loads(found[-1].arguments)  # the shell form would fail here: not JSON
    assert isinstance(value, list) and all(isinstance(v, str) for v in value)
    return value


def image_command(text: str | None = None) -> list[str]:
    """What a container of the image runs when nothing overrides it: ENTRYPOINT + CMD."""
    return [*exec_form("ENTRYPOINT", text), *exec_form("CMD", text)]


def image_environment(text: str | None = None) -> dict[str, str]:
    """The variables the image's ENV instructions set (`ENV A=1 B=2` form)."""
    environment: dict[str, str] = {}
    for instruction in only("ENV", text):
        for pair in shlex.split(instruction.arguments):
            name, equals, value = pair.partition("=")
            assert equals, f"ENV {instruction.arguments!r}: use the NAME=value form"
            environment[name] = value
    return environment
