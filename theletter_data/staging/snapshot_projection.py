"""An app export snapshot projected in the ingestion engine: its rows typed and judged
(staging/sql/appdb_<table>.sql) into the engine table `projected`, and which copy of a key is
kept. Staging a whole snapshot and staging its changes (staging/snapshot_changes.py) share it, so
both stage a snapshot by the same rules."""

from __future__ import annotations

from typing import TYPE_CHECKING

import duckdb
import pyarrow as pa

from theletter_data.partitions import day_bounds_utc
from theletter_data.resources.lake import Lake
from theletter_data.resources.pseudonymizer import Pseudonymizer
from theletter_data.sql import duckdb_params, duckdb_string
from theletter_data.staging.export_snapshot import ExportSnapshot
from theletter_data.staging.known_newsletters import KnownNewsletters
from theletter_data.tables import Table

if TYPE_CHECKING:
    from theletter_data.staging.snapshot_staging import AppExport


def carried_columns(table: Table) -> list[str]:
    """The columns a snapshot's projection yields (neither the partition nor `change`)."""
    return [c for c in table.column_names if c not in (table.partition_by, "change")]


def project(
    con: duckdb.DuckDBPyConnection,
    export: AppExport,
    snapshot: ExportSnapshot,
    lake: Lake,
    known: KnownNewsletters,
    pseudonymizer: Pseudonymizer,
    *,
    into: str = "projected",
) -> None:
    """The export's rows, typed and judged, into the engine table `into` (a table of the
    engine's database, not of the connection, so that another connection can make it:
    staging/projection_ahead.py)."""
    present = snapshot.columns_anywhere
    keys = snapshot.keys
    with lake.local_files(keys) as paths:
        con.register(
            "export_files",
            pa.table({"source_object": keys, "path": [str(p) for p in paths]}),
        )
        files = "[" + ", ".join(duckdb_string(str(p)) for p in paths) + "]"
        con.execute(
            f"CREATE OR REPLACE TEMP VIEW export_file_rows AS SELECT * FROM read_parquet({files}, "
            "union_by_name = true, filename = true, hive_partitioning = false)"
        )
        columns = [*export.required, *export.optional]
        select = ", ".join(c if c in present else f"NULL AS {c}" for c in columns)
        con.execute(
            f"CREATE OR REPLACE TEMP VIEW export_rows AS SELECT f.source_object, {select} "
            "FROM export_file_rows AS r JOIN export_files AS f ON r.filename = f.path"
        )
        con.register("known_newsletters", known.ids)
        params = {
            **pseudonymizer.sql_params(),
            "snapshot_end": day_bounds_utc(snapshot.day)[1],
            "check_newsletters": known.checked,
        }
        sql = export.sql
        con.execute(f"CREATE TABLE {into} AS {sql}", duckdb_params(sql, params))


def first_copies_sql(export: AppExport) -> str:
    """One row per key of `projected`: the newest copy (documented in staging/app_exports.py).
    Only the keys exported more than once are sorted (few: a sort of every row was the largest
    cost of staging subscriptions); a valid row's key is never NULL (the projections reject it)."""
    table = export.table
    key = table.key[1]
    carried = carried_columns(table)
    repeated = repeated_keys_sql(key)
    select = f"SELECT {', '.join(carried)} FROM projected"
    return (
        f"{select} ANTI JOIN {repeated} USING ({key}) WHERE reject_reason IS NULL "
        f"UNION ALL {select} SEMI JOIN {repeated} USING ({key}) WHERE reject_reason IS NULL "
        f"QUALIFY row_number() OVER (PARTITION BY {key} ORDER BY {newest_copy_first(carried)})"
        " = 1"
    )


def repeated_keys_sql(key: str) -> str:
    """The keys of `projected` with more than one valid copy (few), as a subquery: only they
    need sorting (first copies) or comparing (differing copies)."""
    return (
        f"(SELECT {key} FROM projected WHERE reject_reason IS NULL "
        f"GROUP BY {key} HAVING COUNT(*) > 1)"
    )


def newest_copy_first(carried: list[str]) -> str:
    """The order in which copies of one key are kept (the first): documented in the module's
    docstring; it names no file or line, so the files' order cannot change the choice."""
    return ", ".join(f"{c} DESC NULLS LAST" for c in ["updated_at", *carried])
