"""The demo-lake generator's arguments and determinism: the same arguments write the same bytes,
with parallel workers too, and a day does not depend on the range it was generated in. Its
layout contract, report, app exports and plausibility: test_generate_*.py.

Everything is checked against the files actually written, the way the platform's loaders will
read them, at a small size; the lake they read is generated once per session (the `generated`
fixture, support/generated_lake.py).
"""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import pytest

from theletter_data.resources.lake import Lake
from theletter_data_dev.generate import generate_lake
from theletter_data_tests.support.generated_lake import (
    END,
    SIZE,
    START,
    Run,
    all_files,
    object_day,
    run,
)

# --- arguments ----------------------------------------------------------------------------------


def test_rejects_days_before_the_first_partition_and_reversed_ranges(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="2025-01-01"):
        generate_lake(Lake(url=str(tmp_path)), date(2024, 12, 31), date(2025, 1, 2))
    with pytest.raises(ValueError, match="before"):
        generate_lake(Lake(url=str(tmp_path)), date(2025, 3, 2), date(2025, 3, 1))
    assert not any(tmp_path.iterdir())


# --- determinism --------------------------------------------------------------------------------


def test_same_arguments_write_the_same_bytes(tmp_path: Path) -> None:
    first = generate_lake(Lake(url=str(tmp_path / "a")), date(2025, 3, 1), date(2025, 3, 2), **SIZE)
    second = generate_lake(
        Lake(url=str(tmp_path / "b")), date(2025, 3, 1), date(2025, 3, 2), **SIZE
    )
    a, b = all_files(tmp_path / "a"), all_files(tmp_path / "b")
    assert a and a == b
    assert first == second


@pytest.mark.slow
def test_parallel_workers_write_the_same_bytes(generated: Run, tmp_path: Path) -> None:
    report = generate_lake(Lake(url=str(tmp_path)), START, END, workers=2, **SIZE)
    assert all_files(tmp_path) == all_files(generated.root)
    assert report == generated.report


def test_a_day_does_not_depend_on_the_range_it_was_generated_in(
    generated: Run, tmp_path: Path
) -> None:
    day = START + timedelta(days=4)
    alone = run(tmp_path, day, day)
    in_range = all_files(generated.root)
    files = all_files(tmp_path)
    assert files and all(in_range.get(key) == data for key, data in files.items())
    # ... and the range wrote no other object holding that day's records.
    of_day = {o.key for o in generated.objects if object_day(o) == day}
    assert of_day == {o.key for o in alone.objects}
    assert alone.report.per_day[day] == generated.report.per_day[day]
