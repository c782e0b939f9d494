"""A metric is one declaration: its SQL files are found by its table's name, and every constant
its SQL needs is declared once in Python and bound as a parameter, never written in the SQL."""

from __future__ import annotations

import importlib
import pkgutil
from datetime import date, timedelta
from pathlib import Path

import dagster as dg
import pytest
import sqlglot
from sqlglot.tokens import TokenType

import theletter_data
import theletter_data.metrics
from theletter_data.metrics import metric_asset as metric_asset_module
from theletter_data.metrics.metric_asset import MetricSql, statement_windows
from theletter_data.metrics.parameters import named_parameters
from theletter_data.partitions import TIMEZONE
from theletter_data.serving.documents import document_params
from theletter_data.serving.registry import published_sections
from theletter_data.serving.sections import SERIES_DAYS, SHORT_PERIOD_DAYS

PACKAGE = Path(theletter_data.__file__).parent
METRIC_SQL = PACKAGE / "metrics" / "sql"
SERVING_SQL = PACKAGE / "serving" / "sql"


def metric_assets() -> dict[str, dg.AssetsDefinition]:
    """Every metric asset the metrics package declares, by name."""
    found = {}
    for module in pkgutil.walk_packages(theletter_data.metrics.__path__, "theletter_data.metrics."):
        for value in vars(importlib.import_module(module.name)).values():
            if isinstance(value, dg.AssetsDefinition) and value.group_names_by_key == {
                value.key: "metrics"
            }:
                found[value.key.to_user_string()] = value
    return found


def sql_files(asset: dg.AssetsDefinition) -> list[Path]:
    """The metric's SELECT and, if it has one, its expected-rows SELECT."""
    select = PACKAGE / asset.metadata_by_key[asset.key]["sql_file"]
    expected = select.with_name(select.name.replace(".sql", ".expected_rows.sql"))
    return [select, expected] if expected.exists() else [select]


def numbers_in(sql: str) -> set[int]:
    """The integer literals of a BigQuery statement (comments and strings are not tokens)."""
    tokens = sqlglot.tokenize(sql, read="bigquery")
    return {int(t.text) for t in tokens if t.token_type == TokenType.NUMBER and t.text.isdigit()}


def near(value: int) -> set[int]:
    """What a constant looks like when written by hand: itself, its neighbours (an inclusive
    bound, `INTERVAL 29 DAY` for 30 days) and, for weeks, its days."""
    return {value - 1, value, value + 1, 7 * value}


def test_no_sql_file_writes_the_time_zone() -> None:
    files = sorted(PACKAGE.rglob("*.sql"))
    assert len(files) >= 20
    assert [f.relative_to(PACKAGE) for f in files if TIMEZONE in f.read_text()] == []


def test_no_metric_sql_writes_a_constant_its_metric_declares() -> None:
    checked = 0
    for asset in metric_assets().values():
        constants = asset.metadata_by_key[asset.key]["sql_parameters"].value
        numbers = {k: v for k, v in constants.items() if isinstance(v, int)}
        for path in sql_files(asset):
            for parameter, value in numbers.items():
                written = numbers_in(path.read_text()) & near(value)
                assert not written, f"{path.name} writes {written} beside @{parameter}={value}"
                checked += 1
    assert checked >= 6  # funnel_days, top, window_days, cohort_weeks over their files


def test_no_serving_sql_writes_a_constant_the_documents_declare() -> None:
    from datetime import date

    params = document_params(date(2026, 11, 20), published_sections())
    numbers = {k: v for k, v in params.items() if isinstance(v, int)}
    assert {"export_days", "cohort_weeks_shown"} <= set(numbers)
    # The windows are bound as dates (@start_date, @start_30): their days are no SQL's either.
    windows = {"series_days": SERIES_DAYS, "short_period_days": SHORT_PERIOD_DAYS}
    for path in sorted(SERVING_SQL.glob("*.sql")):
        written = numbers_in(path.read_text())
        for parameter, value in {**numbers, **windows}.items():
            assert not written & near(value), f"{path.name} writes {value} beside {parameter}"


def test_every_sql_file_belongs_to_a_declaration() -> None:
    """A misnamed SQL file would be read by nothing (an expected-rows check silently gone)."""
    read = {path for asset in metric_assets().values() for path in sql_files(asset)}
    assert set(METRIC_SQL.glob("*.sql")) == read
    queries = {"newsletters"} | {q for p in published_sections() for q in p.section.queries}
    assert {p.stem for p in SERVING_SQL.glob("*.sql")} == queries


def test_a_metric_checks_its_expected_rows_when_it_has_the_file() -> None:
    for name, asset in metric_assets().items():
        checks = {key.name for key in asset.check_keys}
        assert ("expected_rows_present" in checks) == (len(sql_files(asset)) == 2), name


# --- The guard, attacked -------------------------------------------------------------------


@pytest.fixture
def sql_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setattr(metric_asset_module, "SQL_DIR", tmp_path)
    return tmp_path


def test_sql_that_names_an_undeclared_parameter_is_refused(sql_dir: Path) -> None:
    (sql_dir / "m.sql").write_text(
        "SELECT day FROM UNNEST(GENERATE_DATE_ARRAY(@start_date, @end_date)) AS day\n"
        "WHERE DATE_DIFF(@end_date, day, DAY) < @funnel_dayz"
    )
    with pytest.raises(ValueError, match=r"metrics/sql/m.sql uses @funnel_dayz, which is not"):
        MetricSql.read("m", {"funnel_days": 30})


def test_a_declared_constant_left_as_a_literal_is_refused(sql_dir: Path) -> None:
    """Declared in Python, but the SQL still says 30 (and names it only in a comment and in a
    string, which are not parameters)."""
    (sql_dir / "m.sql").write_text(
        "-- the funnel's days: funnel_days\n"
        "SELECT '@funnel_days' AS note, DATE_SUB(@start_date, INTERVAL 30 DAY) AS day"
    )
    assert named_parameters((sql_dir / "m.sql").read_text()) == {"start_date"}
    with pytest.raises(ValueError, match=r"declares @funnel_days, which its SQL \(m.sql\) never"):
        MetricSql.read("m", {"funnel_days": 30})


def test_the_expected_rows_file_is_held_to_the_same_rule(sql_dir: Path) -> None:
    (sql_dir / "m.sql").write_text("SELECT @start_date AS d, @end_date AS e")
    (sql_dir / "m.expected_rows.sql").write_text("SELECT DATE(@start_date, 'Asia/Tokyo') AS d")
    assert MetricSql.read("m", {}).expected_rows is not None
    (sql_dir / "m.expected_rows.sql").write_text("SELECT DATE(@start_date, @time_zone) AS d")
    with pytest.raises(ValueError, match=r"m.expected_rows.sql uses @time_zone"):
        MetricSql.read("m", {})


def test_a_metric_cannot_redeclare_a_standard_parameter(sql_dir: Path) -> None:
    (sql_dir / "m.sql").write_text("SELECT DATE(@start_date, @timezone) AS d")
    with pytest.raises(ValueError, match=r"\['timezone'\] are standard parameters"):
        MetricSql.read("m", {"timezone": "UTC"})


# --- Subscriptions as of a day: one definition ---------------------------------------------

SHARED_SQL = METRIC_SQL / "shared"


def own_validity_intervals(sql: str) -> list[str]:
    """Where a statement works out stg_subscriptions' validity intervals itself instead of
    including shared/subscriptions_as_of.sql: a LEAD or LAG over valid_from (a version's end),
    or a CTE named `versions`. Tokens, not text: case, spacing and comments do not matter."""
    tokens = sqlglot.tokenize(sql, read="bigquery")
    found = []
    for i, token in enumerate(tokens):
        following = [t.text.upper() for t in tokens[i + 1 : i + 3]]
        if token.text.upper() in {"LEAD", "LAG"} and following[:1] == ["("]:
            depth, j = 0, i + 1
            while j < len(tokens):
                depth += {"(": 1, ")": -1}.get(tokens[j].text, 0)
                if tokens[j].text.lower() == "valid_from":
                    found.append(f"line {token.line}: {token.text}(... valid_from ...)")
                    break
                if depth == 0:
                    break
                j += 1
        if token.text.lower() == "versions" and following == ["AS", "("]:
            found.append(f"line {token.line}: a CTE named versions")
    return found


def test_no_metric_sql_keeps_its_own_copy_of_subscriptions_as_of() -> None:
    copies = {p.name: own_validity_intervals(p.read_text()) for p in METRIC_SQL.glob("*.sql")}
    assert {name: where for name, where in copies.items() if where} == {}


def test_the_shared_definition_is_the_one_copy_and_is_used() -> None:
    assert own_validity_intervals((SHARED_SQL / "subscriptions_as_of.sql").read_text())
    statements = [p.read_text() for p in METRIC_SQL.glob("*.sql")]
    for part in SHARED_SQL.glob("*.sql"):  # a shared part that nothing includes is dead code
        including = [s for s in statements if f"/* include shared/{part.name} */" in s]
        assert len(including) >= (8 if part.stem == "subscriptions_as_of" else 1), part.name


@pytest.mark.parametrize(
    "copy",
    [
        "SELECT *, LEAD(valid_from) OVER (PARTITION BY subscription_id ORDER BY valid_from) AS x "
        "FROM staging.stg_subscriptions",
        "select lead ( v.valid_from , 1 ) over (partition by v.subscription_id order by "
        "v.valid_from) as ends from staging.stg_subscriptions as v",
        "SELECT LAG(`valid_from`) OVER (ORDER BY valid_from) AS x FROM staging.stg_subscriptions",
        "WITH versions AS (SELECT * FROM staging.stg_subscriptions) SELECT * FROM versions",
        "with Versions as (select 1 as x) select * from Versions",
    ],
)
def test_a_copy_is_found_however_it_is_written(copy: str) -> None:
    assert own_validity_intervals(copy)


def test_what_is_no_copy_is_not_flagged() -> None:
    no_copy = (
        "-- LEAD(valid_from) in a comment; versions AS ( in a string:\n"
        "SELECT 'versions AS (' AS s, LEAD(day) OVER (ORDER BY day) AS next_day, "
        "MIN(valid_from) AS first FROM staging.stg_subscriptions"
    )
    assert own_validity_intervals(no_copy) == []


# --- Shared parts, attacked ----------------------------------------------------------------

MARKER = "/* include shared/as_of.sql */"


def test_a_shared_part_is_put_in_at_its_marker_and_its_parameters_count(sql_dir: Path) -> None:
    (sql_dir / "shared").mkdir()
    (sql_dir / "shared" / "as_of.sql").write_text(
        "-- days before the end\nSELECT day FROM days WHERE day < DATE_ADD(@end_date, INTERVAL "
        "@lag_days DAY)\n"
    )
    (sql_dir / "m.sql").write_text(
        f"WITH days AS (SELECT @start_date AS day),\n\nas_of AS (\n    -- the shared part:\n"
        f"    {MARKER}\n)\n\nSELECT * FROM as_of"
    )
    sql = MetricSql.read("m", {"lag_days": 1})  # declared, and used in the shared part only
    assert "    -- days before the end\n    SELECT day FROM days" in sql.select
    assert MARKER not in sql.select
    assert set(sql.bind(sql.select, date(2026, 11, 1), date(2026, 11, 2))) == {
        "start_date", "end_date", "lag_days",
    }  # fmt: skip


@pytest.mark.parametrize(
    ("statement", "error"),
    [
        # a misspelt part: named, with the parts there are
        (f"WITH a AS (\n    {MARKER.replace('as_of', 'as_off')}\n)\nSELECT * FROM a",
         r"no .*shared/as_off\.sql \(shared parts: \['as_of\.sql'\]\)"),
        # a marker that is not alone on its line would be a silent gap in the statement
        (f"WITH a AS ({MARKER})\nSELECT * FROM a", "is no include marker"),
        # a marker written otherwise
        ("WITH a AS (\n    /*include shared/as_of.sql*/\n)\nSELECT * FROM a",
         "is no include marker"),
        # a path out of the shared folder
        ("WITH a AS (\n    /* include shared/../m.sql */\n)\nSELECT * FROM a",
         "is no include marker"),
        # a marker hidden in a line comment
        (f"-- {MARKER}\nSELECT @start_date AS d", "is no include marker"),
    ],
)  # fmt: skip
def test_a_marker_that_puts_in_nothing_is_refused(
    sql_dir: Path, statement: str, error: str
) -> None:
    (sql_dir / "shared").mkdir()
    (sql_dir / "shared" / "as_of.sql").write_text("SELECT 1 AS day")
    (sql_dir / "m.sql").write_text(statement)
    with pytest.raises(ValueError, match=error):
        MetricSql.read("m", {})


def test_a_shared_part_includes_no_other(sql_dir: Path) -> None:
    (sql_dir / "shared").mkdir()
    (sql_dir / "shared" / "as_of.sql").write_text(
        "SELECT * FROM (\n    /* include shared/b.sql */\n)"
    )
    (sql_dir / "shared" / "b.sql").write_text("SELECT 1 AS day")
    (sql_dir / "m.sql").write_text(f"WITH a AS (\n    {MARKER}\n)\nSELECT @start_date AS d")
    with pytest.raises(ValueError, match="a shared part includes no other"):
        MetricSql.read("m", {})


def test_a_window_is_cut_into_statements_of_at_most_the_warehouses_days() -> None:
    d = date(2026, 11, 2)  # a Monday: parts of 7 days are whole weeks

    def parts(days: int, most: int | None) -> list[tuple[int, int]]:
        cut = statement_windows(d, d + timedelta(days=days), most)
        return [((a - d).days, (b - d).days) for a, b in cut]

    assert parts(28, 28) == [(0, 28)]
    assert parts(29, 28) == [(0, 28), (28, 29)]
    assert parts(365, None) == [(0, 365)]
    assert parts(1, 7) == [(0, 1)]
    assert parts(21, 7) == [(0, 7), (7, 14), (14, 21)]
