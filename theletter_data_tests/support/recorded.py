"""A test's lake or ingestion engine, recording what staging asks of it: the folders listed, the
objects read and the engine sessions opened. It answers as the resource does."""

from __future__ import annotations

from typing import Any


class Recorded:
    def __init__(self, resource: Any) -> None:
        self.resource = resource
        self.listed: list[str] = []
        self.read: list[str] = []
        self.sessions = 0

    def list(self, prefix: str) -> Any:
        self.listed.append(prefix)
        return self.resource.list(prefix)

    def local_files(self, keys: list[str]) -> Any:
        self.read += keys
        return self.resource.local_files(keys)

    def session(self) -> Any:
        self.sessions += 1
        return self.resource.session()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.resource, name)
