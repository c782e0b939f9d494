"""The raw streams as external assets: written by Firehose and the app's export job, read here.

They appear in the lineage graph (group `raw`) so that every staged table shows where it comes
from; Dagster does not materialize them.
"""

from __future__ import annotations

import dagster as dg

from theletter_data.partitions import daily_partitions
from theletter_data.raw.layout import APP_LOGS, APPDB_TABLES, PAGE_VIEWS, SES_EVENTS

_OWNER = "team:platform"

raw_ses_events = dg.AssetSpec(
    key="raw_ses_events",
    group_name="raw",
    partitions_def=daily_partitions,
    kinds={"s3", "json"},
    owners=[_OWNER],
    description=(
        "Amazon SES event-publishing records (send, delivery, bounce, complaint, open, click, ...) "
        "delivered by Kinesis Firehose as gzip JSON lines under "
        f"`{SES_EVENTS.prefix}/YYYY/MM/DD/HH/` "
        "(UTC delivery hour). At least once: duplicates happen; late records land in later hours. "
        "Format: docs/lake-layout.md."
    ),
    metadata={"lake_prefix": f"{SES_EVENTS.prefix}/", "format": "gzip JSON lines"},
)

raw_page_views = dg.AssetSpec(
    key="raw_page_views",
    group_name="raw",
    partitions_def=daily_partitions,
    kinds={"s3", "json"},
    owners=[_OWNER],
    description=(
        "Page views from theLetter's first-party beacon, delivered by Kinesis Firehose as gzip "
        f"JSON lines under `{PAGE_VIEWS.prefix}/YYYY/MM/DD/HH/` (UTC delivery hour). "
        "Format: docs/lake-layout.md."
    ),
    metadata={"lake_prefix": f"{PAGE_VIEWS.prefix}/", "format": "gzip JSON lines"},
)

raw_app_logs = dg.AssetSpec(
    key="raw_app_logs",
    group_name="raw",
    partitions_def=daily_partitions,
    kinds={"s3", "text"},
    owners=[_OWNER],
    description=(
        "The app's services' logs, exported from CloudWatch Logs once a Japan-time day has "
        f"ended, one export task per log group: `{APP_LOGS.prefix}/YYYY-MM-DD/<service>/<task "
        "id>/<log stream>/000000.gz`, gzip lines of a timestamp and the JSON message. "
        "Format: docs/lake-layout.md."
    ),
    metadata={"lake_prefix": f"{APP_LOGS.prefix}/", "format": "gzip text lines"},
)

raw_appdb_exports = {
    table: dg.AssetSpec(
        key=f"raw_appdb_{table}",
        group_name="raw",
        partitions_def=daily_partitions,
        kinds={"s3", "parquet"},
        owners=[_OWNER],
        description=(
            f"Nightly full snapshot of the app database's `{table}` table as Parquet under "
            f"`appdb/{table}/dt=YYYY-MM-DD/`, taken after the Japan-time day closed."
        ),
        metadata={"lake_prefix": f"appdb/{table}/", "format": "parquet"},
    )
    for table in APPDB_TABLES
}

raw_assets = [raw_ses_events, raw_page_views, raw_app_logs, *raw_appdb_exports.values()]
