"""Which sections the documents have: each metric that declares one registers it with itself
(`metric_asset(section=...)`), and the serving side imports every module of the metrics package
to find them all. No list to keep: a new metric module's section is in the next documents."""

from __future__ import annotations

import importlib
import pkgutil
from dataclasses import dataclass

import dagster as dg

from theletter_data.partitions import daily_partitions
from theletter_data.serving.sections import DashboardSection
from theletter_data.tables import Table


@dataclass(frozen=True)
class PublishedSection:
    """A section with the metric it shows. A metric of weeks is read at its newest measured
    partition whatever the day, and has none before the first week ends (the section is then
    empty); a daily one at the document's day."""

    section: DashboardSection
    metric: dg.AssetsDefinition
    table: Table
    newest_partition: bool

    def deps(self) -> list[dg.AssetDep]:
        mapping = dg.LastPartitionMapping() if self.newest_partition else None
        return [dg.AssetDep(self.metric, partition_mapping=mapping)] + [
            upstream.dep() for upstream in self.section.reads
        ]


_PUBLISHED: dict[str, PublishedSection] = {}


def register(
    section: DashboardSection,
    metric: dg.AssetsDefinition,
    table: Table,
    partitions_def: dg.PartitionsDefinition | None,
) -> None:
    """Called by `metric_asset` for a metric that declares a section."""
    known = _PUBLISHED.get(section.name)
    if known is not None and known.metric.key != metric.key:
        raise ValueError(
            f"section {section.name!r} is declared by both {known.metric.key.to_user_string()} "
            f"and {metric.key.to_user_string()}"
        )
    newest = partitions_def != daily_partitions  # the documents' own partitions
    _PUBLISHED[section.name] = PublishedSection(section, metric, table, newest)


def published_sections() -> list[PublishedSection]:
    """Every section a metric declares, in the preview's order: the modules of the metrics
    package are imported, so that each metric has registered its own."""
    import theletter_data.metrics as metrics

    for module in pkgutil.walk_packages(metrics.__path__, f"{metrics.__name__}."):
        importlib.import_module(module.name)
    return sorted(_PUBLISHED.values(), key=lambda p: (p.section.order, p.section.name))
