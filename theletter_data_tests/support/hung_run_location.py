"""The code location test_run_timeouts.py serves to a real daemon: a job whose step never ends,
limited as the project's jobs are (sizing.max_runtime), and the project's own run-failure alert
sensor, posting to the webhook in THELETTER_SLACK_WEBHOOK_URL."""

import time
from datetime import timedelta

import dagster as dg

from theletter_data.automation.alerts import run_failure_alerts
from theletter_data.resources.alerts import Alerts
from theletter_data.sizing import max_runtime

LIMIT = timedelta(seconds=3)


@dg.op
def wait_for_a_reply_that_never_comes() -> None:
    while True:
        time.sleep(0.5)


@dg.job(tags=max_runtime(LIMIT))
def hung() -> None:
    wait_for_a_reply_that_never_comes()


defs = dg.Definitions(
    jobs=[hung],
    # Evaluated at every pass of the sensor daemon (5 s) rather than Dagster's default 30 s:
    # the alert is the same, the test waits less for it.
    sensors=[run_failure_alerts(dg.DefaultSensorStatus.RUNNING, minimum_interval_seconds=1)],
    resources={
        "alerts": Alerts(
            webhook_url=dg.EnvVar("THELETTER_SLACK_WEBHOOK_URL"),
            ui_url="https://dagster.theletter.example",
        )
    },
)
