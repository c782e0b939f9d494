"""BigQuery's permissions, checked offline: the one role table (bigquery_iam.json) holds what
Google documents; the IAM proxy in front of the emulator grants exactly it and refuses the rest
in BigQuery's own words."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import pytest
from google.api_core import exceptions
from google.cloud import bigquery

from theletter_data_tests.bigquery_deployment import deployed_bigquery
from theletter_data_tests.bigquery_iam_proxy import (
    BadQuery,
    IamProxy,
    NotMapped,
    Resource,
    load_iam,
    query_checks,
)


def test_the_role_table_holds_what_google_documents() -> None:
    roles = {name: set(role["permissions"]) for name, role in load_iam()["roles"].items()}
    assert "bigquery.jobs.create" in roles["roles/bigquery.jobUser"]
    assert not {p for p in roles["roles/bigquery.jobUser"] if p.startswith("bigquery.tables.")}
    # Data Editor holds datasets.create; it is where it is granted that keeps runs from it.
    editor = roles["roles/bigquery.dataEditor"]
    for permission in ("datasets.create", "tables.create", "tables.updateData", "tables.update"):
        assert f"bigquery.{permission}" in editor
    assert "bigquery.datasets.update" not in editor
    assert "bigquery.tables.updateData" not in roles["roles/bigquery.dataViewer"]
    assert "https://cloud.google.com/iam/docs/roles-permissions/bigquery" in json.dumps(
        load_iam()["sources"]
    )


# --- the proxy -----------------------------------------------------------------------------


def test_a_refusal_is_bigquerys_own_403(bigquery_emulator) -> None:
    with deployed_bigquery(bigquery_emulator) as deployment:
        request = urllib.request.Request(
            f"{deployment.run_proxy.url}/bigquery/v2/projects/{deployment.project}/datasets",
            data=json.dumps({"datasetReference": {"datasetId": "elsewhere"}}).encode(),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(request)
        client = bigquery_emulator.client(via=deployment.run_proxy.url)
        with pytest.raises(exceptions.Forbidden) as forbidden:
            client.create_dataset(f"{deployment.project}.elsewhere", exists_ok=True)
    message = (
        "Access Denied: Project test-project: User does not have bigquery.datasets.create "
        "permission in project test-project."
    )
    assert refused.value.code == 403
    assert json.loads(refused.value.read()) == {
        "error": {
            "code": 403,
            "message": message,
            "errors": [{"message": message, "domain": "global", "reason": "accessDenied"}],
            "status": "PERMISSION_DENIED",
        }
    }
    assert forbidden.value.errors[0]["reason"] == "accessDenied"


def test_a_dataset_grant_reaches_its_tables_only_once_the_dataset_exists(
    bigquery_emulator,
) -> None:
    with deployed_bigquery(bigquery_emulator, set_up=False) as deployment:
        run = bigquery_emulator.client(via=deployment.run_proxy.url)
        table = f"{deployment.project}.{deployment.dataset_prefix}staging.t"
        with pytest.raises(exceptions.Forbidden, match=r"bigquery\.tables\.get denied on table"):
            run.get_table(table)  # no dataset, so no grant on it: 403, not 404
        setup = bigquery_emulator.client(via=deployment.setup_proxy.url)
        setup.create_dataset(f"{deployment.project}.{deployment.dataset_prefix}staging")
        with pytest.raises(exceptions.NotFound):
            run.get_table(table)  # now the grant applies, and the table is simply missing
        run.create_table(bigquery.Table(table, schema=[bigquery.SchemaField("x", "INT64")]))
        with pytest.raises(exceptions.Forbidden, match=r"bigquery\.datasets\.delete denied"):
            run.delete_dataset(f"{deployment.project}.{deployment.dataset_prefix}staging")
        assert [d.permission for d in deployment.run_proxy.refused()] == [
            "bigquery.tables.get",
            "bigquery.datasets.delete",
        ]


def test_a_job_is_readable_by_its_creator_only(bigquery_emulator) -> None:
    with deployed_bigquery(bigquery_emulator) as deployment:
        job = bigquery_emulator.client(via=deployment.run_proxy.url).query("SELECT 1 AS x")
        assert [dict(row) for row in job.result()] == [{"x": 1}]
        readers = IamProxy.for_identity(
            bigquery_emulator.api_endpoint, "dashboard_readers", deployment.project, "x_"
        )
        try:
            other = bigquery_emulator.client(via=readers.url)
            with pytest.raises(exceptions.Forbidden, match=r"bigquery\.jobs\.get"):
                other.get_job(job.job_id, location=job.location)
        finally:
            readers.stop()


def test_a_call_the_proxy_does_not_map_fails_instead_of_passing(bigquery_emulator) -> None:
    with deployed_bigquery(bigquery_emulator) as deployment:
        client = bigquery_emulator.client(via=deployment.run_proxy.url)
        with pytest.raises(exceptions.GoogleAPICallError, match="Not mapped by the IAM proxy"):
            list(client.list_datasets())


def test_query_checks_find_every_table_a_script_reads_and_writes() -> None:
    script = (
        "BEGIN TRANSACTION;\n"
        "MERGE `p.d.t` AS target USING (SELECT a FROM `p.d._load_t`) AS source ON FALSE "
        "WHEN NOT MATCHED BY SOURCE THEN DELETE WHEN NOT MATCHED THEN INSERT (a) VALUES (a);\n"
        "MERGE `p`.d.q AS target USING (SELECT a FROM (SELECT a FROM e.src) AS _result) AS "
        "source ON FALSE WHEN NOT MATCHED THEN INSERT (a) VALUES (a);\n"
        "COMMIT TRANSACTION;"
    )
    assert query_checks(script, "p", None) == [
        ("bigquery.tables.updateData", Resource("p", "d", "t")),
        ("bigquery.tables.getData", Resource("p", "d", "t")),
        ("bigquery.tables.getData", Resource("p", "d", "_load_t")),
        ("bigquery.tables.updateData", Resource("p", "d", "q")),
        ("bigquery.tables.getData", Resource("p", "d", "q")),
        ("bigquery.tables.getData", Resource("p", "e", "src")),
    ]


def test_query_checks_are_not_fooled_by_names_comments_or_case() -> None:
    # A CTE named like a table hides only unqualified uses of that name.
    sql = "WITH t AS (SELECT 1 AS a) SELECT * FROM t JOIN other.t USING (a)"
    assert query_checks(sql, "p", None) == [
        ("bigquery.tables.getData", Resource("p", "other", "t"))
    ]
    sql = "SELECT * FROM /* d.allowed */ `q.secret.t` -- FROM d.allowed"
    assert query_checks(sql, "p", None) == [
        ("bigquery.tables.getData", Resource("q", "secret", "t"))
    ]
    with pytest.raises(NotMapped, match="INFORMATION_SCHEMA"):
        query_checks("SELECT * FROM d.information_schema.PARTITIONS", "p", None)
    with pytest.raises(BadQuery, match="must be qualified with a dataset"):
        query_checks("SELECT * FROM lonely", "p", None)
    assert query_checks("select * from lonely", "p", "d") == [
        ("bigquery.tables.getData", Resource("p", "d", "lonely"))
    ]
