"""stg_app_logs on hand-built CloudWatch Logs export objects (day D = 2026-11-20 in Japan, which
runs from 2026-11-19 15:00 to 2026-11-20 15:00 UTC), and `theletter-data trace` over them."""

from __future__ import annotations

import gzip
import json
from datetime import UTC, date, datetime

import pytest

from theletter_data.cli import TRACE_LEVELS, main
from theletter_data.resources.duckdb_warehouse import DuckDBWarehouse
from theletter_data.resources.lake import Lake
from theletter_data.staging.app_logs import APP_LOG_EVENTS, LEVELS
from theletter_data.staging.lines.stage import stage_day
from theletter_data.tracing import trace
from theletter_data_tests.support.rawdata import put_export, put_lines, utc

D = date(2026, 11, 20)


def key(service: str, task: str = "task1", stream: str = "ecs/web/aa11") -> str:
    return f"app-logs/{D}/{service}/{task}/{stream}/000000.gz"


def line(at: str, **message: object) -> str:
    return f"{at} {json.dumps(message)}"


def stage(resources):
    return stage_day(
        APP_LOG_EVENTS,
        D,
        lake=resources["lake"],
        engine=resources["ingest_engine"],
        pseudonymizer=resources["pseudonymizer"],
        warehouse=resources["warehouse"],
    )


def rows(warehouse, where: str = "true") -> list[dict]:
    return warehouse.query(
        f"SELECT * FROM staging.stg_app_logs WHERE {where} ORDER BY event_at, service"
    ).to_pylist()


def test_log_lines_are_typed_masked_deduplicated_or_quarantined(resources) -> None:
    lake, warehouse = resources["lake"], resources["warehouse"]
    # A newsletters export without nl_gone: a log of a request for it is still staged.
    put_export(lake, "newsletters", D, [
        {"newsletter_id": "nl_1", "slug": "a", "created_at": utc("2026-01-01 00:00:00")},
    ])  # fmt: skip
    good = [
        line("2026-11-19T15:00:01.000Z", level="info", message="GET / 200", request_id="r-1",
             newsletter_id="nl_1", method="GET", path="/?ref=x@y.jp", status=200,
             duration_ms=41.5),
        line("2026-11-19T15:00:02.500Z", level="WARN", msg="slow render", request_id="r-1",
             newsletter_id="nl_gone"),
        line("2026-11-20T14:59:59.999Z", level="ERROR", message="reset mail to hanako@example.jp "
             "bounced", user_id="u_7", error_type="SMTPRecipientsRefused"),
    ]  # fmt: skip
    bad = [
        "Traceback (most recent call last):",  # no timestamp
        '2026-11-20T01:00:00.000Z {"level": "INFO", "mess',  # cut off
        line("2026-11-20T01:00:01.000Z", message="no level"),
        line("2026-11-20T01:00:02.000Z", level="LOUD", message="unknown level"),
        line("2026-11-20T01:00:03.000Z", level="INFO"),
        "",
    ]
    put_lines(lake, key("web"), [*good, *bad])
    # The same export task run twice: its lines again under another task id.
    put_lines(lake, key("web", task="task2"), good[:1])

    result = stage(resources)

    assert (result.records_read, result.staged, result.duplicates, result.quarantined) == (
        9, 3, 1, 5,
    )  # fmt: skip
    assert result.blank_lines == 1 and result.reconciles
    assert result.quarantine_reasons == {
        "invalid_timestamp": 1,
        "malformed_json": 1,
        "missing_field:level": 1,
        "missing_field:message": 1,
        "unknown_level": 1,
    }
    first, second, third = rows(warehouse)
    assert (first["service"], first["log_stream"], first["level"], first["http_path"]) == (
        "web", "ecs/web/aa11", "INFO", "/",
    )  # fmt: skip
    assert (first["http_status"], first["duration_ms"], first["source_object"]) == (
        200, 41.5, key("web"),
    )  # fmt: skip
    assert (second["level"], second["message"], second["newsletter_id"]) == (
        "WARNING", "slow render", "nl_gone",
    )  # fmt: skip
    assert third["message"] == "reset mail to <email> bounced"
    assert (third["event_date"], third["user_id"]) == (D, "u_7")
    assert "@" not in json.dumps([first, second, third], default=str)


def test_addresses_without_a_dot_cut_or_in_a_path_are_masked(resources) -> None:
    """The address pattern no longer needs a dot after the `@`, and request paths are masked
    too (a path segment can be an address)."""
    lake, warehouse = resources["lake"], resources["warehouse"]
    put_lines(lake, key("mailer"), [
        line("2026-11-20T01:00:00.000Z", level="ERROR", message="bounce for hanako@localhost"),
        line("2026-11-20T01:00:01.000Z", level="WARNING", message="cut: mail to taro.yamada@ex"),
        line("2026-11-20T01:00:02.000Z", level="INFO", message="GET", method="GET", status=200,
             path="/api/readers/jiro%40example.jp/settings?x=1"),
    ])  # fmt: skip
    assert stage(resources).staged == 3
    masked = [(r["message"], r["http_path"]) for r in rows(warehouse)]
    assert masked == [
        ("bounce for <email>", None),
        ("cut: mail to <email>", None),
        ("GET", "/api/readers/<email>/settings"),
    ]


def test_trace_follows_a_request_across_services_in_order(resources, tmp_path, capsys, monkeypatch):
    lake = resources["lake"]
    put_lines(lake, key("api", stream="ecs/api/b1"), [
        line("2026-11-20T03:00:00.000Z", level="INFO", message="post published",
             request_id="req-9", newsletter_id="nl_1", post_id="po_1", method="POST",
             path="/api/posts/po_1/publish", status=200, duration_ms=180),
        line("2026-11-20T03:00:00.500Z", level="INFO", message="other request",
             request_id="req-8", newsletter_id="nl_1"),
    ])  # fmt: skip
    put_lines(lake, key("mailer", stream="ecs/mailer/c1"), [
        line("2026-11-20T03:00:05.000Z", level="INFO", message="send started",
             request_id="req-9", newsletter_id="nl_1"),
        line("2026-11-20T03:00:07.000Z", level="WARNING", message="SES throttled",
             request_id="req-9", error_type="ThrottlingException"),
        line("2026-11-20T03:00:09.000Z", level="INFO", message="send finished",
             request_id="req-9"),
    ])  # fmt: skip
    # The warehouse where the CLI looks: the data dir's DuckDB file.
    data = tmp_path / "data"
    warehouse = DuckDBWarehouse(path=str(data / "warehouse.duckdb"))
    stage({**resources, "warehouse": warehouse, "lake": Lake(url=lake.url)})

    start, end = datetime(2026, 11, 20, 3, tzinfo=UTC), datetime(2026, 11, 20, 4, tzinfo=UTC)
    events = trace(warehouse, start, end, request_id="req-9")
    assert [(e["service"], e["message"]) for e in events] == [
        ("api", "post published"),
        ("mailer", "send started"),
        ("mailer", "SES throttled"),
        ("mailer", "send finished"),
    ]
    assert len(trace(warehouse, start, end, newsletter_id="nl_1")) == 3
    assert [e["message"] for e in trace(warehouse, start, end, request_id="req-9",
                                        min_level="WARNING")] == ["SES throttled"]  # fmt: skip

    monkeypatch.setenv("THELETTER_DATA_DIR", str(data))
    assert main(["trace", "--request-id", "req-9", "--day", str(D)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "4 log events of request req-9, 2026-11-20 00:00 to 2026-11-21 00:00 JST:"
    assert out[1].startswith("2026-11-20 12:00:00.000 JST  api     INFO     post published ")
    assert "[POST /api/posts/po_1/publish -> 200, 180 ms]" in out[1]
    assert "SES throttled (ThrottlingException)" in out[3]
    assert main(["trace", "--request-id", "req-9"]) == 2  # no window


def test_the_same_log_event_with_its_timestamp_written_differently_is_staged_once(resources):
    """A re-run export task writes the event again, its timestamp without milliseconds: the id
    is built from the parsed instant and the message, so it is one event."""
    lake = resources["lake"]
    message = {"level": "INFO", "message": "send started", "request_id": "r-1"}
    put_lines(lake, key("mailer"), [line("2026-11-20T03:00:05.000Z", **message)])
    put_lines(lake, key("mailer", task="task2"), [line("2026-11-20T03:00:05Z", **message)])

    result = stage(resources)

    assert (result.records_read, result.staged, result.duplicates) == (2, 1, 1)


def test_crlf_log_lines_keep_no_carriage_return(resources):
    lake, warehouse = resources["lake"], resources["warehouse"]
    lines = [
        line("2026-11-20T03:00:05.000Z", level="INFO", message="a", path="/x"),
        line("2026-11-20T03:00:06.000Z", level="INFO", message="b"),
    ]
    lake.write_bytes(key("web"), gzip.compress(("\r\n".join(lines) + "\r\n").encode(), mtime=0))

    result = stage(resources)

    assert (result.records_read, result.staged, result.blank_lines) == (2, 2, 0)
    assert not any("\r" in str(value) for r in rows(warehouse) for value in r.values())


def test_trace_refuses_an_unknown_level_naming_the_levels(capsys) -> None:
    assert TRACE_LEVELS == LEVELS
    with pytest.raises(SystemExit) as exited:
        main(["trace", "--request-id", "req-9", "--day", str(D), "--level", "bogus"])
    assert exited.value.code == 2
    error = capsys.readouterr().err.strip().splitlines()[-1]
    assert error == (
        "theletter-data trace: error: argument --level: invalid choice: 'BOGUS' "
        "(choose from 'DEBUG', 'INFO', 'WARNING', 'ERROR', 'CRITICAL')"
    )


@pytest.mark.parametrize("folder", ["empty", "missing"])
def test_trace_in_a_folder_without_a_warehouse_creates_nothing(
    tmp_path, capsys, monkeypatch, folder: str
) -> None:
    data = tmp_path / "elsewhere"
    if folder == "empty":
        data.mkdir()
    monkeypatch.setenv("THELETTER_DATA_DIR", str(data))
    assert main(["trace", "--newsletter", "nl_1", "--day", str(D), "--level", "error"]) == 1
    assert capsys.readouterr().err.splitlines()[0] == (
        f"Cannot trace: No warehouse at {data / 'warehouse.duckdb'}: THELETTER_DATA_DIR points "
        "at a folder without one. Set THELETTER_DATA_DIR to the data folder (default `data`), "
        "or build a warehouse there with `theletter-data demo`."
    )
    assert sorted(tmp_path.rglob("*")) == ([data] if folder == "empty" else [])
