"""A run keeps the DuckDB file open from its first statement to its end (opening it per
statement cost 35-45 ms each time): what that must not change."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import duckdb
import pytest

from theletter_data.resources.duckdb_warehouse import DuckDBWarehouse
from theletter_data.resources.warehouse import PartitionWrite
from theletter_data_tests.support.warehouse_tables import DAY, NEXT, T, rows


def run(path: Path, *steps: dg.AssetsDefinition) -> None:
    with dg.instance_for_test() as instance:
        result = dg.materialize(
            list(steps), instance=instance, resources={"warehouse": DuckDBWarehouse(path=str(path))}
        )
    assert result.success


@dg.asset
def first(warehouse: DuckDBWarehouse) -> None:
    warehouse.replace([PartitionWrite(T, DAY, NEXT, rows=rows((DAY, "first", 1)))])


def test_the_file_stays_open_between_steps_and_is_closed_whole_at_the_run_end(
    tmp_path: Path,
) -> None:
    path = tmp_path / "warehouse.duckdb"

    @dg.asset(deps=[first])
    def second(warehouse: DuckDBWarehouse) -> None:
        # Open in this process still: a read-only connection is refused for its other settings.
        with pytest.raises(duckdb.ConnectionException, match="different configuration"):
            duckdb.connect(str(path), read_only=True)
        assert warehouse.query(f"SELECT thing FROM {T.qualified_name}").to_pylist() == [
            {"thing": "first"}
        ]

    run(path, first, second)
    assert not Path(f"{path}.wal").exists()  # checkpointed as the run closed it
    with duckdb.connect(str(path), read_only=True) as con:
        assert con.sql(f"SELECT thing, n FROM {T.qualified_name}").fetchall() == [("first", 1)]


def test_an_append_sets_the_memory_limit_back_for_the_rest_of_the_run(tmp_path: Path) -> None:
    """An append lowers the limit (`append_memory_limit`), a setting of the database and not
    of the connection: the run's later statements must get `memory_limit` again."""
    with duckdb.connect(config={"memory_limit": DuckDBWarehouse(path="x").memory_limit}) as con:
        ((expected,),) = con.sql("SELECT current_setting('memory_limit')").fetchall()
    seen = []

    @dg.asset(deps=[first])
    def second(warehouse: DuckDBWarehouse) -> None:
        seen.extend(warehouse.query("SELECT current_setting('memory_limit') AS m").to_pylist())

    run(tmp_path / "warehouse.duckdb", first, second)
    assert seen == [{"m": expected}]


def test_a_file_removed_during_the_run_is_made_again_not_written_unseen(tmp_path: Path) -> None:
    """Writing on into the open database would put the rest of the run into a deleted file."""
    path = tmp_path / "warehouse.duckdb"

    @dg.asset(deps=[first])
    def second(warehouse: DuckDBWarehouse) -> None:
        path.unlink()
        Path(f"{path}.wal").unlink(missing_ok=True)
        warehouse.replace([PartitionWrite(T, DAY, NEXT, rows=rows((DAY, "second", 2)))])

    run(path, first, second)
    with duckdb.connect(str(path), read_only=True) as con:
        assert con.sql(f"SELECT thing, n FROM {T.qualified_name}").fetchall() == [("second", 2)]
