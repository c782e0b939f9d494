"""What the BigQuery warehouse sends, built without a client: the MERGE that replaces a write's
window, several statements as one transaction, this deployment's table names, typed query
parameters, and the tables it creates. The warehouse (bigquery_warehouse.py) sends them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, datetime

import sqlglot
from google.cloud import bigquery
from sqlglot import exp

from theletter_data.resources.warehouse import PartitionWrite
from theletter_data.tables import Table


def merge(target: str, write: PartitionWrite, source: str) -> str:
    """Replace the write's window of `target` by the rows of `source` (a SELECT of the table's
    columns): `ON FALSE` deletes the window's old rows and inserts the new ones, in one DML
    statement that BigQuery applies atomically."""
    columns = write.table.column_names
    return (
        f"MERGE `{target}` AS target "
        f"USING ({source} WHERE {write.predicate()}) AS source ON FALSE "
        f"WHEN NOT MATCHED BY SOURCE AND {write.predicate('target.')} THEN DELETE "
        f"WHEN NOT MATCHED THEN INSERT ({', '.join(columns)}) "
        f"VALUES ({', '.join(f'source.{c}' for c in columns)})"
    )


def atomic(statements: Sequence[str]) -> str:
    """One statement as it is; several as one multi-statement transaction."""
    if len(statements) == 1:
        return statements[0]
    return "\n".join(["BEGIN TRANSACTION;", *(f"{s};" for s in statements), "COMMIT TRANSACTION;"])


def merged_params(params: Mapping[str, object], more: Mapping[str, object]) -> dict[str, object]:
    """Statements of one transaction share their parameters: a name may not mean two values."""
    clashes = {k for k in params.keys() & more.keys() if params[k] != more[k]}
    if clashes:
        raise ValueError(f"writes of one transaction give different values to {sorted(clashes)}")
    return {**params, **more}


def qualify(sql: str, project: str, dataset_prefix: str) -> str:
    """Rewrite `layer.table` names to this deployment's `project.dataset.table`."""
    tree = sqlglot.parse_one(sql, read="bigquery")
    for table in tree.find_all(exp.Table):
        layer = table.args.get("db")
        if layer is not None and not table.args.get("catalog"):
            table.set("db", exp.to_identifier(f"{dataset_prefix}{layer.name}"))
            table.set("catalog", exp.to_identifier(project))
    return tree.sql(dialect="bigquery")


def parameter(name: str, value: object) -> bigquery.ScalarQueryParameter:
    """A named query parameter, typed from its Python value (ZetaSQL checks these types)."""
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


def bigquery_schema(table: Table) -> list[bigquery.SchemaField]:
    return [
        bigquery.SchemaField(c.name, c.type, mode="NULLABLE", description=c.description)
        for c in table.columns
    ]


def table_definition(table_id: str, table: Table) -> bigquery.Table:
    """The table as the API creates it: day-partitioned, clustered, its grain and its columns'
    descriptions kept (DDL through the API keeps them everywhere)."""
    definition = bigquery.Table(table_id, schema=bigquery_schema(table))
    definition.description = table.grain
    definition.time_partitioning = bigquery.TimePartitioning(
        type_=bigquery.TimePartitioningType.DAY, field=table.partition_by
    )
    definition.clustering_fields = list(table.cluster_by) or None
    return definition
