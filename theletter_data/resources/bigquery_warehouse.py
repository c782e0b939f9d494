"""The production warehouse: BigQuery, one dataset per layer (`<prefix>staging`, `<prefix>metrics`).

Rows arrive by load job from Parquet (never streaming inserts) into a scratch table; a window
is then replaced by one MERGE (`ON FALSE`: delete the window's old rows, insert the new ones),
a single DML statement that BigQuery applies atomically, so re-runs and backfills never
duplicate and a failure leaves the old rows. Partition-decorator loads (`table$20261120` with
WRITE_TRUNCATE) cannot be exercised offline; the MERGE is, against an emulator.

Every query carries `maximum_bytes_billed`; the bytes a dry run estimates and the bytes each job
billed are kept in `last_costs`, which assets put in their materialization metadata.
"""

from __future__ import annotations

import base64
import json
import tempfile
import uuid
from collections.abc import Callable, Mapping, Sequence
from datetime import date, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import sqlglot
from google.api_core import exceptions as google_exceptions
from google.cloud import bigquery
from pydantic import Field, PrivateAttr
from sqlglot import exp

from theletter_data.resources.warehouse import PartitionWrite, QueryCost, Warehouse
from theletter_data.tables import Table

_SCRATCH_HOURS = 6
"""Scratch tables expire on their own if a run dies before dropping them."""


class BigQueryWarehouse(Warehouse):
    project: str = Field(description="GCP project that runs the jobs and holds the datasets.")
    location: str = Field(default="asia-northeast1", description="BigQuery location.")
    dataset_prefix: str = Field(
        default="theletter_", description="Layer `staging` lives in dataset `<prefix>staging`."
    )
    maximum_bytes_billed: int = Field(
        default=50 * 2**30, description="Every query fails instead of billing more than this."
    )
    gcp_credentials: str | None = Field(
        default=None,
        description="Base64 JSON credentials (service account key or Workload Identity "
        "Federation config); unset: Application Default Credentials.",
    )
    api_endpoint: str | None = Field(
        default=None, description="API endpoint override (a local emulator in tests)."
    )

    _client: bigquery.Client | None = PrivateAttr(default=None)
    _costs: QueryCost = PrivateAttr(default_factory=QueryCost)

    # -- the Warehouse interface --------------------------------------------------------------

    def replace(self, writes: Sequence[PartitionWrite]) -> dict[str, int]:
        """Each write is one MERGE: the window's old rows deleted and the new ones inserted in a
        single DML statement, which BigQuery applies atomically. Every statement is validated by
        a dry run before the first one runs, and the first write's table (the staged table, say,
        before its quarantine rows) is written last, so a failure leaves it as it was."""
        scratch: list[str] = []
        try:
            statements = []
            for write in writes:
                self._ensure_table(write.table)
                loaded = None
                if write.rows is not None:
                    loaded = self._load_scratch(write.table, write.rows)
                    scratch.append(loaded)
                statement, params = self._merge(write, loaded)
                self._dry_run(statement, params)
                statements.append((statement, params))
            for statement, params in reversed(statements):
                self._run(statement, params)
        finally:
            for table_id in scratch:
                self.client.delete_table(table_id, not_found_ok=True)
        return {w.table.qualified_name: self._count(w) for w in writes}

    def _merge(self, write: PartitionWrite, scratch: str | None) -> tuple[str, dict[str, object]]:
        columns = write.table.column_names
        window, params = _window(write)
        if scratch is not None:
            source = f"SELECT {', '.join(columns)} FROM `{scratch}`"
        else:
            assert write.query is not None
            source = f"SELECT {', '.join(columns)} FROM ({self._qualify(write.query)}) AS _result"
            params = {**write.params, **params}
        statement = (
            f"MERGE `{self.table_id(write.table)}` AS target "
            f"USING ({source} WHERE {window('')}) AS source ON FALSE "
            f"WHEN NOT MATCHED BY SOURCE AND {window('target.')} THEN DELETE "
            f"WHEN NOT MATCHED THEN INSERT ({', '.join(columns)}) "
            f"VALUES ({', '.join(f'source.{c}' for c in columns)})"
        )
        return statement, params

    def query(self, sql: str, params: Mapping[str, object] | None = None) -> pa.Table:
        qualified = self._qualify(sql)
        self._dry_run(qualified, params or {})
        job = self._run(qualified, params or {})
        return job.result().to_arrow(create_bqstorage_client=False)

    def permanent_errors(self) -> tuple[type[BaseException], ...]:
        # 400: bad SQL, or the maximum_bytes_billed limit hit; 404: no such table or dataset.
        # Not 403: BigQuery also answers rateLimitExceeded with 403, and that passes.
        return (google_exceptions.BadRequest, google_exceptions.NotFound)

    def has_table(self, table: Table) -> bool:
        try:
            self.client.get_table(self.table_id(table))
        except google_exceptions.NotFound:
            return False
        return True

    def take_costs(self) -> QueryCost:
        costs, self._costs = self._costs, QueryCost()
        return costs

    # -- helpers --------------------------------------------------------------------------------

    @property
    def client(self) -> bigquery.Client:
        if self._client is None:
            from google.api_core.client_options import ClientOptions

            options = ClientOptions(api_endpoint=self.api_endpoint) if self.api_endpoint else None
            credentials = None
            if self.api_endpoint:
                from google.auth.credentials import AnonymousCredentials

                credentials = AnonymousCredentials()  # an emulator takes no credentials
            elif self.gcp_credentials:
                import google.auth

                info = json.loads(base64.b64decode(self.gcp_credentials))
                credentials, _ = google.auth.load_credentials_from_dict(
                    info, scopes=["https://www.googleapis.com/auth/bigquery"]
                )
            self._client = bigquery.Client(
                project=self.project,
                location=self.location,
                credentials=credentials,
                client_options=options,
            )
        return self._client

    def dataset(self, layer: str) -> str:
        return f"{self.project}.{self.dataset_prefix}{layer}"

    def table_id(self, table: Table) -> str:
        return f"{self.dataset(table.layer)}.{table.name}"

    def _ensure_table(self, table: Table) -> None:
        """Create the dataset and the day-partitioned, clustered table if missing (through the
        API, which keeps clustering and column descriptions everywhere)."""
        dataset = bigquery.Dataset(self.dataset(table.layer))
        dataset.location = self.location
        self.client.create_dataset(dataset, exists_ok=True)
        definition = bigquery.Table(self.table_id(table), schema=_bigquery_schema(table))
        definition.description = table.grain
        definition.time_partitioning = bigquery.TimePartitioning(
            type_=bigquery.TimePartitioningType.DAY, field=table.partition_by
        )
        definition.clustering_fields = list(table.cluster_by) or None
        self.client.create_table(definition, exists_ok=True)

    def _load_scratch(self, table: Table, rows: pa.Table | pa.RecordBatchReader) -> str:
        """Load rows into a new scratch table next to the target, by Parquet load job. The
        Parquet file is written batch by batch, so memory stays bounded."""
        scratch = f"{self.dataset(table.layer)}._load_{table.name}_{uuid.uuid4().hex[:12]}"
        schema = table.arrow_schema
        with tempfile.TemporaryDirectory(prefix="theletter-bq-") as folder:
            path = Path(folder) / "rows.parquet"
            batches = rows.to_batches() if isinstance(rows, pa.Table) else rows
            with pq.ParquetWriter(path, schema, compression="zstd") as writer:
                for batch in batches:
                    # Loads match Parquet columns by position: write them in the table's order.
                    ordered = pa.Table.from_batches([batch]).select(table.column_names)
                    writer.write_table(ordered.cast(schema))
            config = bigquery.LoadJobConfig(
                source_format=bigquery.SourceFormat.PARQUET,
                write_disposition=bigquery.WriteDisposition.WRITE_TRUNCATE,
                schema=_bigquery_schema(table),
            )
            with open(path, "rb") as source:
                self.client.load_table_from_file(
                    source, scratch, job_config=config, rewind=True
                ).result()
        expires = datetime.now().astimezone() + timedelta(hours=_SCRATCH_HOURS)
        loaded = self.client.get_table(scratch)
        loaded.expires = expires
        self.client.update_table(loaded, ["expires"])
        return scratch

    def _count(self, write: PartitionWrite) -> int:
        window, params = _window(write)
        job = self._run(
            f"SELECT COUNT(*) AS n FROM `{self.table_id(write.table)}` WHERE {window('')}", params
        )
        return int(next(iter(job.result()))["n"])

    def _qualify(self, sql: str) -> str:
        """Rewrite `layer.table` names to this deployment's `project.dataset.table`."""
        tree = sqlglot.parse_one(sql, read="bigquery")
        for table in tree.find_all(exp.Table):
            layer = table.args.get("db")
            if layer is not None and not table.args.get("catalog"):
                table.set("db", exp.to_identifier(f"{self.dataset_prefix}{layer.name}"))
                table.set("catalog", exp.to_identifier(self.project))
        return tree.sql(dialect="bigquery")

    def _dry_run(self, sql: str, params: Mapping[str, object]) -> None:
        job = self.client.query(
            sql, job_config=self._job_config(params, dry_run=True), location=self.location
        )
        self._costs.add(QueryCost(estimated_bytes=int(job.total_bytes_processed or 0)))

    def _run(self, sql: str, params: Mapping[str, object]) -> bigquery.QueryJob:
        job = self.client.query(sql, job_config=self._job_config(params), location=self.location)
        job.result()
        self._costs.add(QueryCost(billed_bytes=int(job.total_bytes_billed or 0)))
        return job

    def _job_config(
        self, params: Mapping[str, object], dry_run: bool = False
    ) -> bigquery.QueryJobConfig:
        return bigquery.QueryJobConfig(
            query_parameters=[_parameter(k, v) for k, v in params.items()],
            maximum_bytes_billed=self.maximum_bytes_billed,
            dry_run=dry_run,
            use_query_cache=not dry_run,
        )


def _window(write: PartitionWrite) -> tuple[Callable[[str], str], dict[str, object]]:
    """The write's window as a predicate (for a column qualifier) and its parameters."""
    column = write.table.partition_by
    scope = sorted(write.scope.items())
    params: dict[str, object] = {"_window_start": write.start, "_window_end": write.end}
    params.update({f"_scope_{j}": value for j, (_, value) in enumerate(scope)})

    def predicate(qualifier: str) -> str:
        parts = [f"{qualifier}{column} >= @_window_start", f"{qualifier}{column} < @_window_end"]
        parts += [f"{qualifier}{name} = @_scope_{j}" for j, (name, _) in enumerate(scope)]
        return " AND ".join(parts)

    return predicate, params


def _parameter(name: str, value: object) -> bigquery.ScalarQueryParameter:
    if isinstance(value, bool):
        kind = "BOOL"
    elif isinstance(value, int):
        kind = "INT64"
    elif isinstance(value, float):
        kind = "FLOAT64"
    elif isinstance(value, datetime):
        kind = "TIMESTAMP"
    elif isinstance(value, date):
        kind = "DATE"
    elif isinstance(value, bytes):
        kind = "BYTES"
    else:
        kind = "STRING"
    return bigquery.ScalarQueryParameter(name, kind, value)


def _bigquery_schema(table: Table) -> list[bigquery.SchemaField]:
    return [
        bigquery.SchemaField(c.name, c.type, mode="NULLABLE", description=c.description)
        for c in table.columns
    ]
