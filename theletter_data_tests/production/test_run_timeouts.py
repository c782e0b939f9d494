"""A hung run does not hold its slot forever: every job carries a `dagster/max_runtime` tag,
dagster.yaml a limit for runs of no job, and the daemon's run monitoring enforces them.

The enforcement runs in a real `dagster-daemon` process against a local instance whose run
monitoring and run retries are dagster.yaml's own, with the project's run-failure alert sensor
posting to a local webhook. Only how often the daemon looks is shortened: run monitoring's poll
interval and the queue's (dagster.yaml), the alert sensor's interval (hung_run_location.py) and
the run-retry consumer's (Dagster's DAGSTER_EVENT_LOG_CONSUMER_DAEMON_INTERVAL_SECONDS).
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import TypeVar

import dagster as dg
import pytest
import yaml
from dagster._core.scheduler.instigation import InstigatorType, SensorInstigatorData
from dagster._core.storage.tags import PARENT_RUN_ID_TAG, WILL_RETRY_TAG

from theletter_data.definitions import build_definitions
from theletter_data.settings import Environment, Settings
from theletter_data.sizing import MAX_RUNTIME_TAG, max_runtime
from theletter_data_tests.support import hung_run_location
from theletter_data_tests.support.slack_webhook import Webhook

pytestmark = pytest.mark.slow  # a real dagster-daemon

ROOT = Path(__file__).parents[2]
BIN = Path(sys.executable).parent
INSTANCE = yaml.safe_load((ROOT / "dagster.yaml").read_text())
# Where Dagster's EventLogConsumerDaemon keeps how far it has read the run failures.
RETRY_CURSOR = f"EVENT_LOG_CONSUMER_CURSOR-{dg.DagsterEventType.RUN_FAILURE.value}"

T = TypeVar("T")
_ANSI = re.compile(r"\x1b\[[0-9;]*m")


def test_every_job_has_a_runtime_limit_within_the_instance_s() -> None:
    settings = Settings(
        environment=Environment.PRODUCTION,
        data_dir=Path("unused"),
        pseudonym_key_set=True,
        app_database_port=3306,  # every job, the app database's extract included
    )
    default = INSTANCE["run_monitoring"].get("max_runtime_seconds")
    assert default == 3 * 3600
    limits = {
        job.name: int(job.tags.get(MAX_RUNTIME_TAG, 0))
        for job in build_definitions(settings).resolve_all_job_defs()
        if not job.name.startswith("__")
    }
    assert limits == {
        "daily_refresh": 7200,
        "weekly_cohorts": 3600,
        "publish_dashboards": 3600,
        "intraday_refresh": 3600,
        "appdb_extract_job": 3600,
        "partition_freshness": 600,
    }
    assert all(0 < limit <= default for limit in limits.values())


@pytest.mark.parametrize("limit", [timedelta(0), timedelta(milliseconds=999), timedelta(hours=-1)])
def test_a_limit_that_would_mean_no_limit_is_refused(limit: timedelta) -> None:
    with pytest.raises(ValueError, match="at least a second"):
        max_runtime(limit)


def _wait_for(what: str, probe: Callable[[], T | None], timeout: float, daemon_log: Path) -> T:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = probe()
        if found:
            return found
        time.sleep(0.5)
    said = [line[:300] for line in _ANSI.sub("", daemon_log.read_text()).splitlines()]
    tail = "\n".join(line for line in said if " - dagster.daemon" in line)[-6000:]
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}; the daemon:\n{tail}")


def _listening(instance: dg.DagsterInstance) -> bool:
    """Whether both the run-retry consumer and the alert sensor have stored their cursors. Each
    ignores the failures older than its first pass, which stores it: a run failed before then
    would be neither retried nor alerted."""
    sensors = instance.all_instigator_state(instigator_type=InstigatorType.SENSOR)
    return bool(instance.daemon_cursor_storage.get_cursor_values({RETRY_CURSOR})) and any(
        isinstance(state.instigator_data, SensorInstigatorData) and state.instigator_data.cursor
        for state in sensors
    )


@pytest.fixture
def daemon_home(tmp_path: Path) -> Path:
    """A local instance with dagster.yaml's queue, run monitoring and run retries."""
    home = tmp_path / "home"
    home.mkdir()
    monitoring = {**INSTANCE["run_monitoring"], "poll_interval_seconds": 1}
    config = {
        "run_coordinator": {
            **INSTANCE["run_coordinator"],
            "config": {"dequeue_interval_seconds": 1},
        },
        "run_monitoring": monitoring,
        "run_retries": INSTANCE["run_retries"],
        "telemetry": {"enabled": False},
    }
    (home / "dagster.yaml").write_text(yaml.safe_dump(config))
    with dg.DagsterInstance.from_config(str(home)):
        pass  # its SQLite storage exists before the daemon and the CLI open it together
    (tmp_path / "workspace.yaml").write_text(
        yaml.safe_dump(
            {
                "load_from": [
                    {
                        "python_module": {
                            "module_name": hung_run_location.__name__,
                            "working_directory": str(ROOT),
                            "location_name": "hung",
                        }
                    }
                ]
            }
        )
    )
    return home


def test_a_run_past_its_limit_is_failed_alerted_and_retried(
    daemon_home: Path, webhook: Webhook
) -> None:
    workspace = str(daemon_home.parent / "workspace.yaml")
    env = {
        **os.environ,
        "DAGSTER_HOME": str(daemon_home),
        "THELETTER_SLACK_WEBHOOK_URL": webhook.url,
        "DAGSTER_EVENT_LOG_CONSUMER_DAEMON_INTERVAL_SECONDS": "1",  # retries: 5 s by default
    }
    daemon_log = daemon_home.parent / "daemon.log"
    log = daemon_log.open("w")
    daemon = subprocess.Popen(
        [str(BIN / "dagster-daemon"), "run", "-w", workspace],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # its code server and run workers stop with it
    )
    try:
        with dg.DagsterInstance.from_config(str(daemon_home)) as instance:
            _wait_for(
                "the first passes of the run-retry consumer and the alert sensor",
                lambda: _listening(instance),
                timeout=120,
                daemon_log=daemon_log,
            )
            launched = subprocess.run(
                [str(BIN / "dagster"), "job", "launch", "-w", workspace, "-j", "hung"],
                env=env,
                capture_output=True,
                text=True,
                timeout=120,
            )
            assert launched.returncode == 0, launched.stderr[-2000:]

            def failed_run() -> dg.DagsterRun | None:
                runs = instance.get_runs(dg.RunsFilter(statuses=[dg.DagsterRunStatus.FAILURE]))
                return next((r for r in runs if PARENT_RUN_ID_TAG not in r.tags), None)

            run = _wait_for(
                "the hung run to be failed", failed_run, timeout=180, daemon_log=daemon_log
            )
            record = instance.get_run_record_by_id(run.run_id)
            assert record is not None and record.start_time and record.end_time
            ran = record.end_time - record.start_time
            limit = hung_run_location.LIMIT.total_seconds()
            (failure,) = instance.all_logs(run.run_id, of_type=dg.DagsterEventType.RUN_FAILURE)
            assert failure.dagster_event is not None
            assert failure.dagster_event.message == "Exceeded maximum runtime of 3 seconds."
            assert limit <= ran < limit + 30

            texts = _wait_for(
                "the failure alert",
                lambda: [t for t in webhook.texts() if f"run `{run.run_id[:8]}`" in t],
                timeout=180,
                daemon_log=daemon_log,
            )
            retried = _wait_for(
                "the retry",
                lambda: [
                    r for r in instance.get_runs() if r.tags.get(PARENT_RUN_ID_TAG) == run.run_id
                ],
                timeout=60,
                daemon_log=daemon_log,
            )
            run = instance.get_run_by_id(run.run_id)
            assert run is not None
            assert run.tags[WILL_RETRY_TAG] == "true"  # a hang may pass: run retries apply
    finally:
        os.killpg(daemon.pid, signal.SIGTERM)
        try:
            daemon.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(daemon.pid, signal.SIGKILL)
            daemon.wait()
        log.close()
    (text,) = texts
    assert text.startswith(
        f"*Run failed*\n• Job `hung`, run `{run.run_id[:8]}`\n"
        "• Assets: wait_for_a_reply_that_never_comes\n"
        "• Exceeded maximum runtime of 3 seconds.\n"
    )  # then the interrupted step, when its failure was recorded before the alert
    assert f"<https://dagster.theletter.example/runs/{run.run_id}|Open in Dagster>" in text
    assert len(retried) == 1
