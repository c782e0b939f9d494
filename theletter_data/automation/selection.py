"""How jobs, automation, freshness checks and sensors choose their assets: by layer (the asset's
group) and cadence (a tag the shared asset decorators set), never by a list of names. A new
staged table or metric made by those decorators is selected by everything its kind needs,
without an edit here or in definitions.py.

Cadence: `daily` assets hold one partition per Japan-time day, `weekly` ones one per Monday to
Sunday week, `intraday` ones the current day so far (unpartitioned, rebuilt every three hours).
The cadence must agree with the partitions; `cadence_errors` says where it does not, and the
entry point refuses to load then.
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum

import dagster as dg

from theletter_data.partitions import daily_partitions, weekly_partitions

CADENCE_TAG = "theletter/cadence"


class Cadence(StrEnum):
    DAILY = "daily"
    WEEKLY = "weekly"
    INTRADAY = "intraday"

    @property
    def tags(self) -> dict[str, str]:
        """The asset tags that declare this cadence (`tags=Cadence.DAILY.tags`)."""
        return {CADENCE_TAG: self.value}

    @property
    def selection(self) -> dg.AssetSelection:
        return dg.AssetSelection.tag(CADENCE_TAG, self.value)


RAW, STAGING, METRICS, SERVING = "raw", "staging", "metrics", "serving"
"""The layers: one asset group each."""

DAILY_STAGING = dg.AssetSelection.groups(STAGING) & Cadence.DAILY.selection
"""Staged day by day after the raw data arrives (raw_arrivals_sensor, daily_refresh)."""
DAILY_METRICS = dg.AssetSelection.groups(METRICS) & Cadence.DAILY.selection
WEEKLY_METRICS = dg.AssetSelection.groups(METRICS) & Cadence.WEEKLY.selection
DASHBOARDS = dg.AssetSelection.groups(SERVING)
INTRADAY = Cadence.INTRADAY.selection
"""Today so far: the intraday refresh, every three hours."""
DAILY_DEADLINE = Cadence.DAILY.selection - dg.AssetSelection.groups(RAW)
"""Each day's partition due by the daily deadline (partition freshness checks)."""
WEEKLY_DEADLINE = Cadence.WEEKLY.selection - dg.AssetSelection.groups(RAW)
ALERTED_WHEN_LATE = dg.AssetSelection.all() - dg.AssetSelection.groups(RAW)
"""Everything this code location writes: a late one is posted (freshness_alerts)."""


def expected_cadence(partitions_def: dg.PartitionsDefinition | None) -> Cadence | None:
    """The cadence that partitions imply; None for partitions no cadence describes."""
    if partitions_def == daily_partitions:
        return Cadence.DAILY
    if partitions_def == weekly_partitions:
        return Cadence.WEEKLY
    return Cadence.INTRADAY if partitions_def is None else None


def cadence_errors(assets: Iterable[dg.AssetsDefinition | dg.AssetSpec]) -> list[str]:
    """What is wrong with the cadences of materializable assets (external ones have none): a
    missing or unknown tag, or one that disagrees with the asset's partitions. Such an asset
    would be left out of, or wrongly put into, jobs, automation and freshness checks."""
    errors = []
    for asset in assets:
        if not isinstance(asset, dg.AssetsDefinition) or not asset.is_materializable:
            continue
        for spec in asset.specs:
            name = spec.key.to_user_string()
            declared = spec.tags.get(CADENCE_TAG)
            expected = expected_cadence(spec.partitions_def)
            if declared is None:
                errors.append(f"{name} has no `{CADENCE_TAG}` tag (expected {expected})")
            elif declared not in tuple(Cadence):
                errors.append(f"{name}: `{CADENCE_TAG}` {declared!r} is not one of the cadences")
            elif declared != expected:
                errors.append(
                    f"{name} is tagged {declared} but its partitions are "
                    f"{expected or spec.partitions_def}"
                )
    return errors
