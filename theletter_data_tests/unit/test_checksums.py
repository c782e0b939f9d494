"""The warehouse checksums (theletter_data_dev/checksums.py) ignore row order and nothing else: a
changed value, rows repeated (which an XOR of hashes would cancel out) or a table on one side
only differ."""

from pathlib import Path

import duckdb

from theletter_data_dev.checksums import compare, main, table_checksums

ROWS = [(1, "a", 1.5), (2, "b", None), (3, "c", 2.25)]


def _warehouse(path: Path, rows: list[tuple], *, extra_table: bool = False) -> Path:
    with duckdb.connect(str(path)) as con:
        con.execute("CREATE SCHEMA staging")
        con.execute(
            "CREATE TABLE staging.t (id INTEGER, name VARCHAR, x DOUBLE, written_at TIMESTAMP)"
        )
        for row in rows:
            con.execute("INSERT INTO staging.t VALUES (?, ?, ?, now())", list(row))
        if extra_table:
            con.execute("CREATE TABLE staging.only_here (id INTEGER)")
    return path


def test_row_order_and_ignored_columns_do_not_matter(tmp_path: Path) -> None:
    a = table_checksums(_warehouse(tmp_path / "a.duckdb", ROWS), frozenset({"written_at"}))
    b = table_checksums(_warehouse(tmp_path / "b.duckdb", ROWS[::-1]), frozenset({"written_at"}))
    assert a == b
    assert a["staging.t"].rows == 3
    assert compare(a, b)[1] == []


def test_a_changed_value_a_duplicate_and_a_missing_table_differ(tmp_path: Path) -> None:
    ignore = frozenset({"written_at"})
    base = table_checksums(_warehouse(tmp_path / "base.duckdb", ROWS), ignore)
    changed = table_checksums(
        _warehouse(tmp_path / "changed.duckdb", [*ROWS[:2], (3, "c", 2.5)]), ignore
    )
    # Same count; an XOR of row hashes would give both the hash of the first row alone.
    pairs = [ROWS[0], ROWS[1], ROWS[1]], [ROWS[0], ROWS[2], ROWS[2]]
    one, other = (
        table_checksums(_warehouse(tmp_path / f"pairs{i}.duckdb", rows), ignore)
        for i, rows in enumerate(pairs)
    )
    extra = table_checksums(_warehouse(tmp_path / "extra.duckdb", ROWS, extra_table=True), ignore)
    assert changed["staging.t"].rows == 3 and changed != base
    assert one["staging.t"].rows == other["staging.t"].rows == 3
    assert one["staging.t"].checksum != other["staging.t"].checksum
    assert compare(base, extra)[1] == ["staging.only_here"]


def test_the_command_exits_1_naming_what_differs(tmp_path: Path, capsys) -> None:
    a = _warehouse(tmp_path / "a.duckdb", ROWS)
    b = _warehouse(tmp_path / "b.duckdb", ROWS[:2])
    assert main([str(a), str(a), "--ignore", "written_at"]) == 0
    assert main([str(a), str(b), "--ignore", "written_at"]) == 1
    assert "1 of 1 tables differ" in capsys.readouterr().out
    # Without --ignore, the write time is part of each row: the same rows written twice differ.
    assert main([str(a), str(_warehouse(tmp_path / "c.duckdb", ROWS))]) == 1
