"""theletter-data: theLetter's data platform as a Dagster asset graph.

Raw logs in the lake (S3, or a local folder) are staged into typed, deduplicated warehouse tables
(BigQuery, or DuckDB) and aggregated into per-newsletter metric tables for the authors' dashboard.
The code location entry point is `theletter_data.definitions`.
"""

import warnings

import dagster

# Single-run backfills (BackfillPolicy) are a deliberate choice; Dagster marks them beta.
warnings.filterwarnings("ignore", category=dagster.BetaWarning)
