"""BigQuery's permissions, checked offline: the one role table (bigquery_iam.json) is the one
deploy/README.md states; the IAM proxy in front of the emulator grants exactly it and refuses
the rest in BigQuery's own words; the setup command creates the datasets as the administrator,
which the run identity cannot."""

from __future__ import annotations

import json
import re
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from google.api_core import exceptions
from google.cloud import bigquery

from theletter_data.cli import main
from theletter_data_tests.support.bigquery_deployment import deployed_bigquery
from theletter_data_tests.support.bigquery_iam_proxy import (
    BadQuery,
    IamProxy,
    NotMapped,
    Resource,
    load_iam,
    query_checks,
)

ROOT = Path(__file__).resolve().parents[2]


def _bigquery_side() -> str:
    text = (ROOT / "deploy" / "README.md").read_text()
    return text.split("## BigQuery side (GCP)", 1)[1].split("\n## ", 1)[0]


def test_deploy_readme_grants_exactly_the_roles_of_the_iam_file() -> None:
    stated = set()
    for identity, role, scope in re.findall(
        r"^\| `(\w+)` \| [^|]+ \| `(roles/[\w.]+)` \| ([^|]+) \|$", _bigquery_side(), re.M
    ):
        layers = tuple(re.findall(r"`<prefix>(\w+)`", scope))
        stated.add((identity, role, layers or "project"))
    expected = {
        (
            identity,
            grant["role"],
            tuple(grant["layers"]) if grant["on"] == "datasets" else "project",
        )
        for identity, who in load_iam()["identities"].items()
        if identity in {"run", "setup"}
        for grant in who["grants"]
    }
    assert stated == expected
    assert len(stated) == 3


def test_every_bigquery_role_the_documents_name_is_in_the_iam_file() -> None:
    text = (ROOT / "README.md").read_text() + (ROOT / "deploy" / "README.md").read_text()
    named = set(re.findall(r"roles/bigquery\.\w+", text))
    assert named == set(load_iam()["roles"])
    # The dashboard readers' grants, as README.md states them.
    grants = load_iam()["identities"]["dashboard_readers"]["grants"]
    readers = {(g["role"], tuple(g.get("layers", ()))) for g in grants}
    assert readers == {("roles/bigquery.jobUser", ()), ("roles/bigquery.dataViewer", ("metrics",))}
    assert "`roles/bigquery.dataViewer`\n  on the `<prefix>metrics` dataset only" in text


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


# --- the setup command ---------------------------------------------------------------------


@pytest.fixture
def production_env(bigquery_emulator, monkeypatch):  # type: ignore[no-untyped-def]
    with deployed_bigquery(bigquery_emulator, set_up=False) as deployment:
        for key, value in {
            "THELETTER_ENV": "production",
            "THELETTER_BIGQUERY_PROJECT": deployment.project,
            "THELETTER_BIGQUERY_LOCATION": "asia-northeast1",
            "THELETTER_BIGQUERY_DATASET_PREFIX": deployment.dataset_prefix,
            "THELETTER_BIGQUERY_MAXIMUM_BYTES_BILLED": str(2**30),
        }.items():
            monkeypatch.setenv(key, value)
        monkeypatch.delenv("THELETTER_GCP_CREDENTIALS", raising=False)
        yield deployment, monkeypatch


def test_bigquery_setup_creates_each_layers_dataset_once(production_env, capsys) -> None:
    deployment, monkeypatch = production_env
    monkeypatch.setenv("THELETTER_BIGQUERY_API_ENDPOINT", deployment.setup_proxy.url)
    assert main(["bigquery-setup"]) == 0
    assert main(["bigquery-setup"]) == 0
    out = capsys.readouterr().out
    for layer in ("metrics", "staging"):
        dataset = f"{deployment.project}.{deployment.dataset_prefix}{layer}"
        assert f"{dataset}: created (asia-northeast1)" in out
        assert f"{dataset}: exists (asia-northeast1)" in out
    assert deployment.setup_proxy.checked()["bigquery.datasets.create"] == 2
    assert deployment.setup_proxy.refused() == []


def test_bigquery_setup_as_the_run_identity_is_refused_and_says_why(production_env) -> None:
    from theletter_data.resources.bigquery_errors import AccessDenied

    deployment, monkeypatch = production_env
    monkeypatch.setenv("THELETTER_BIGQUERY_API_ENDPOINT", deployment.run_proxy.url)
    with pytest.raises(AccessDenied) as refused:
        main(["bigquery-setup"])
    # Reading a dataset that does not exist is refused too: the run identity's dataset grant
    # does not exist either. The message names the permission and the roles that hold it.
    assert "bigquery.datasets.get" in str(refused.value)
    assert "roles/bigquery.dataEditor" in str(refused.value)


def test_bigquery_setup_needs_the_production_environment(monkeypatch, capsys) -> None:
    monkeypatch.setenv("THELETTER_ENV", "local")
    assert main(["bigquery-setup"]) == 2
    assert "THELETTER_ENV=production" in capsys.readouterr().err
