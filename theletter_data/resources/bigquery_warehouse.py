"""The production warehouse: BigQuery, one dataset per layer (`<prefix>staging`, `<prefix>metrics`).

The datasets are created once, by `theletter-data bigquery-setup` run by an administrator: the
run identity's roles (deploy/README.md) hold no permission to create datasets, so the write path
only reads what exists and creates a missing table (its dataset role allows that).

Rows arrive by load job from Parquet (never streaming inserts) into a scratch table; a window
is then replaced by one MERGE (`ON FALSE`: delete the window's old rows, insert the new ones;
built in bigquery_sql.py), one DML statement that BigQuery applies atomically, so re-runs and
backfills never duplicate and a failure leaves the old rows. Tables written together (a staged
table and its quarantine rows) are replaced by one multi-statement transaction (`BEGIN
TRANSACTION; MERGE ...; MERGE ...; COMMIT TRANSACTION;`): both or neither. A write that
collides with a concurrent one (BigQuery fails it as a serialization conflict) is run again
after a pause (bigquery_errors.retry_collisions). Partition-decorator loads (`table$20261120`
with WRITE_TRUNCATE) cannot be exercised offline; the MERGE is, against an emulator.

Every query carries `maximum_bytes_billed`; the bytes a dry run estimates and the bytes each job
billed are kept in `last_costs`, which assets put in their materialization metadata.
"""

from __future__ import annotations

import tempfile
import uuid
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from google.api_core import exceptions as google_exceptions
from google.cloud import bigquery
from pydantic import Field, PrivateAttr

from theletter_data.resources.bigquery_errors import (
    SETUP_COMMAND,
    AccessDenied,
    classified_errors,
    retry_collisions,
)
from theletter_data.resources.bigquery_sql import (
    atomic,
    bigquery_schema,
    merge,
    merged_params,
    parameter,
    qualify,
    table_definition,
)
from theletter_data.resources.gcp_credentials import DESCRIPTION as CREDENTIALS_DESCRIPTION
from theletter_data.resources.gcp_credentials import load_credentials
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
        default=None, description=f"THELETTER_GCP_CREDENTIALS. {CREDENTIALS_DESCRIPTION}"
    )
    api_endpoint: str | None = Field(
        default=None, description="API endpoint override (a local emulator in tests)."
    )
    conflict_attempts: int = Field(
        default=5,
        description="Attempts at a write that collides with concurrent writes to the same "
        "table before the step fails (and is retried by its retry policy).",
    )
    conflict_backoff_seconds: float = Field(
        default=2.0, description="Pause before the second attempt; doubled each time, jittered."
    )

    _client: bigquery.Client | None = PrivateAttr(default=None)
    _costs: QueryCost = PrivateAttr(default_factory=QueryCost)
    _ready_tables: set[tuple[str, tuple[str, ...]]] = PrivateAttr(default_factory=set)
    """Tables known to exist with their declared columns (table id, column names)."""

    # -- the Warehouse interface --------------------------------------------------------------

    def replace(self, writes: Sequence[PartitionWrite]) -> dict[str, int]:
        """One table: one MERGE, which BigQuery applies atomically. Several: their MERGEs in one
        transaction. Every statement is validated by a dry run before anything is written."""
        scratch: list[str] = []
        with classified_errors():
            try:
                statements, params = [], {}
                for write in writes:
                    self._ensure_table(write.table)
                    loaded = None
                    if write.rows is not None:
                        loaded = self._load_scratch(write.table, write.rows)
                        scratch.append(loaded)
                    statement = self._merge(write, loaded)
                    self._dry_run(statement, write.params)
                    statements.append(statement)
                    params = merged_params(params, write.params)
                if statements:
                    sql = atomic(statements)
                    retry_collisions(
                        lambda: self._run(sql, params),
                        self.conflict_attempts,
                        self.conflict_backoff_seconds,
                    )
            finally:
                for table_id in scratch:
                    self.client.delete_table(table_id, not_found_ok=True)
            return {w.table.qualified_name: self._count(w) for w in writes}

    def _merge(self, write: PartitionWrite, scratch: str | None) -> str:
        """The write's MERGE, from its scratch table or its query (bigquery_sql.merge)."""
        columns = ", ".join(write.table.column_names)
        if scratch is not None:
            source = f"SELECT {columns} FROM `{scratch}`"
        else:
            assert write.query is not None
            source = f"SELECT {columns} FROM ({self._qualify(write.query)}) AS _result"
        return merge(self.table_id(write.table), write, source)

    def query(self, sql: str, params: Mapping[str, object] | None = None) -> pa.Table:
        with classified_errors():
            qualified = self._qualify(sql)
            self._dry_run(qualified, params or {})
            job = self._run(qualified, params or {})
            return job.result().to_arrow(create_bqstorage_client=False)

    def create_table(self, table: Table) -> None:
        with classified_errors():
            self._ensure_table(table)

    def permanent_errors(self) -> tuple[type[BaseException], ...]:
        # 400: bad SQL, or the maximum_bytes_billed limit hit; 404: no such table or dataset;
        # AccessDenied: a 403 other than rateLimitExceeded/quotaExceeded (bigquery_errors.py).
        # A serialization conflict, also a 400, arrives as ConcurrentUpdate: retried.
        return (google_exceptions.BadRequest, google_exceptions.NotFound, AccessDenied)

    def create_datasets(self, layers: Iterable[str]) -> dict[str, bool]:
        """Create each layer's dataset in `location` if it does not exist (the one call that
        needs `bigquery.datasets.create` on the project: `theletter-data bigquery-setup`).
        Returns each dataset and whether it was created now."""
        created: dict[str, bool] = {}
        with classified_errors():
            for layer in layers:
                dataset_id = self.dataset(layer)
                try:
                    self.client.get_dataset(dataset_id)
                    created[dataset_id] = False
                except google_exceptions.NotFound:
                    dataset = bigquery.Dataset(dataset_id)
                    dataset.location = self.location
                    self.client.create_dataset(dataset, exists_ok=True)
                    created[dataset_id] = True
        return created

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
            credentials = None  # Application Default Credentials
            if self.gcp_credentials:
                credentials = load_credentials(self.gcp_credentials)
            elif self.api_endpoint:
                from google.auth.credentials import AnonymousCredentials

                credentials = AnonymousCredentials()  # an emulator takes no credentials
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
        """Create the day-partitioned, clustered table if it is missing (through the API, which
        keeps clustering and column descriptions everywhere). Reads first: creating needs
        `bigquery.tables.create`, which the run identity holds on its datasets, and never
        creates a dataset."""
        table_id = self.table_id(table)
        if (table_id, table.column_names) in self._ready_tables:
            return
        try:
            existing = self.client.get_table(table_id)
        except google_exceptions.NotFound:
            try:
                self.client.get_dataset(self.dataset(table.layer))
            except google_exceptions.NotFound as error:
                raise google_exceptions.NotFound(
                    f"Dataset {self.dataset(table.layer)} does not exist: create the datasets "
                    f"once with `{SETUP_COMMAND}` (deploy/README.md)"
                ) from error
            self.client.create_table(table_definition(table_id, table), exists_ok=True)
        else:
            self._add_new_columns(existing, table)
        self._ready_tables.add((table_id, table.column_names))

    def _add_new_columns(self, existing: bigquery.Table, table: Table) -> None:
        """A column the declaration gained is added (NULL in the rows written before), so a
        deployment's tables follow an additive change; BigQuery allows appending NULLABLE
        columns (`bigquery.tables.update`, in the run identity's Data Editor role; the test runs it
        through the IAM proxy)."""
        have = {field.name for field in existing.schema}
        new = [field for field in bigquery_schema(table) if field.name not in have]
        if new:
            existing.schema = [*existing.schema, *new]
            self.client.update_table(existing, ["schema"])

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
                schema=bigquery_schema(table),
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
        job = self._run(
            f"SELECT COUNT(*) AS n FROM `{self.table_id(write.table)}` WHERE {write.predicate()}",
            {},
        )
        return int(next(iter(job.result()))["n"])

    def _qualify(self, sql: str) -> str:
        return qualify(sql, self.project, self.dataset_prefix)

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
            query_parameters=[parameter(k, v) for k, v in params.items()],
            maximum_bytes_billed=self.maximum_bytes_billed,
            dry_run=dry_run,
            use_query_cache=not dry_run,
        )
