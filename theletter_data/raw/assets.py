"""The raw sources as external assets, one per declaration in raw/sources.py: written by their
producers, read here.

They appear in the lineage graph (group `raw`) so that every staged table shows where it comes
from; Dagster does not materialize them (except the app snapshots where `appdb_extract` writes
them: extract/appdb_assets.py).
"""

from __future__ import annotations

import dagster as dg

from theletter_data.partitions import daily_partitions
from theletter_data.raw.sources import SOURCES, RawSource

_OWNER = "team:platform"


def raw_asset_spec(source: RawSource) -> dg.AssetSpec:
    return dg.AssetSpec(
        key=source.asset_key,
        group_name="raw",
        partitions_def=daily_partitions,
        kinds={"s3", source.format.kind},
        owners=[_OWNER],
        description=(
            f"{source.title[0].upper()}{source.title[1:]}: {source.producer}. Objects "
            f"`{source.key_pattern}` ({source.stream.key_notes}), {source.format.detail}. "
            f"Staged as `{source.staged_asset}`. Format: docs/lake-layout.md."
        ),
        metadata={
            "lake_prefix": f"{source.prefix}/",
            "format": source.format.name,
            "retention": source.retention.summary,
        },
    )


RAW_ASSETS = {source.name: raw_asset_spec(source) for source in SOURCES}
raw_assets = list(RAW_ASSETS.values())

# Named handles for the staged assets' `upstream=`.
raw_ses_events = RAW_ASSETS["ses_events"]
raw_page_views = RAW_ASSETS["page_views"]
raw_app_logs = RAW_ASSETS["app_logs"]
raw_appdb_exports = {s.app_table: RAW_ASSETS[s.name] for s in SOURCES if s.app_table}
