"""Lake listings made once for a run: consecutive days share folders (a Firehose day's arrival
window spans two UTC dates' folders; every day's staging lists the newsletters exports to find
the newest), so a backfill lists each folder once instead of once per day that reads it."""

from __future__ import annotations

from typing import cast

from theletter_data.resources.lake import Lake, LakeObject


class ListedOnce:
    """A lake whose folder listings are made once (objects delivered meanwhile are seen by the
    next run); everything else it does as the lake does."""

    def __init__(self, lake: Lake) -> None:
        self._lake = lake
        self._listed: dict[str, list[LakeObject]] = {}

    def list(self, prefix: str) -> list[LakeObject]:
        if prefix not in self._listed:
            self._listed[prefix] = self._lake.list(prefix)
        return self._listed[prefix]

    def __getattr__(self, name: str) -> object:
        return getattr(self._lake, name)


def listed_once(lake: Lake) -> Lake:
    """`lake`, its listings made once (ListedOnce): it answers as the lake does."""
    return cast(Lake, ListedOnce(lake))
