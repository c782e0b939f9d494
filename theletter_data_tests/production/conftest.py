"""Fixtures of the production-path tests that several of their modules share (pytest collects
fixtures imported into a conftest): the deployment on moto of the deploy tests, and the client and
fresh dataset of the BigQuery emulator probe."""

from theletter_data_tests.support.emulator_probe import bq, ds  # noqa: F401
from theletter_data_tests.support.moto_deployment import (  # noqa: F401
    deployment,
    policies,
    task_definitions,
)
