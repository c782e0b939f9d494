"""A BigQuery deployment on the emulator as production has it: the datasets created by the setup
identity, then the warehouse used with the run identity's roles, each through its own IAM proxy
(bigquery_iam_proxy.py, roles and grants from theletter_data/resources/bigquery_iam.json)."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from google.cloud import bigquery

from theletter_data.resources.bigquery_warehouse import BigQueryWarehouse
from theletter_data_tests.support.bigquery_emulator import BigQueryEmulator
from theletter_data_tests.support.bigquery_iam_proxy import IamProxy

LAYERS = ("staging", "metrics")


@dataclass
class BigQueryDeployment:
    warehouse: BigQueryWarehouse
    """Used as a run task uses it: the run identity's roles, through `run_proxy`."""
    run_proxy: IamProxy
    setup_proxy: IamProxy
    project: str
    dataset_prefix: str

    def warehouse_as(self, proxy: IamProxy, **options: Any) -> BigQueryWarehouse:
        return BigQueryWarehouse(
            project=self.project,
            dataset_prefix=self.dataset_prefix,
            api_endpoint=proxy.url,
            **options,
        )


@contextlib.contextmanager
def deployed_bigquery(
    emulator: BigQueryEmulator, *, set_up: bool = True, **options: Any
) -> Iterator[BigQueryDeployment]:
    """A fresh dataset prefix; `set_up` runs the setup step (the datasets) first."""
    prefix = f"t{uuid.uuid4().hex[:10]}_"
    setup_proxy = IamProxy.for_identity(emulator.api_endpoint, "setup", emulator.project, prefix)
    run_proxy = IamProxy.for_identity(emulator.api_endpoint, "run", emulator.project, prefix)
    try:
        deployment = BigQueryDeployment(
            warehouse=BigQueryWarehouse(
                project=emulator.project,
                dataset_prefix=prefix,
                api_endpoint=run_proxy.url,
                **options,
            ),
            run_proxy=run_proxy,
            setup_proxy=setup_proxy,
            project=emulator.project,
            dataset_prefix=prefix,
        )
        if set_up:
            setup = emulator.client(via=setup_proxy.url)  # the administrator's own calls
            for layer in LAYERS:
                dataset = bigquery.Dataset(f"{emulator.project}.{prefix}{layer}")
                dataset.location = deployment.warehouse.location
                setup.create_dataset(dataset)
        yield deployment
    finally:
        run_proxy.stop()
        setup_proxy.stop()
