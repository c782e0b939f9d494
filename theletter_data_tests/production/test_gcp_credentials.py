"""BigQuery from a Fargate task without a Google key: Workload Identity Federation, against a
local stand-in for Google's STS, IAM Credentials and BigQuery API (support/google_stand_in.py).
The run task's AWS side is a local ECS container credentials endpoint (container_credentials.py).
"""

from __future__ import annotations

import base64
import json
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from google.auth import aws, exceptions
from google.auth.transport.requests import Request
from google.oauth2 import service_account

from theletter_data.resources import gcp_credentials
from theletter_data.resources.bigquery_warehouse import BigQueryWarehouse
from theletter_data.resources.gcp_credentials import load_credentials
from theletter_data_tests.support.container_credentials import ContainerCredentials
from theletter_data_tests.support.google_stand_in import (
    PROJECT,
    REGION,
    SERVICE_ACCOUNT,
    GoogleStandIn,
)

ROOT = Path(__file__).parents[2]


def encoded(info: dict[str, Any]) -> str:
    return base64.b64encode(json.dumps(info).encode()).decode()


@pytest.fixture
def google_side(container_credentials: ContainerCredentials) -> Iterator[GoogleStandIn]:
    stand_in = GoogleStandIn(container_credentials)
    yield stand_in
    stand_in.server.shutdown()


@pytest.fixture
def fargate(container_credentials: ContainerCredentials, monkeypatch: pytest.MonkeyPatch) -> None:
    """This process's AWS side as a Fargate task's: no keys in the environment, no instance
    metadata, the task role's credentials only at the container credentials endpoint."""
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", raising=False)
    for name, value in container_credentials.environment.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("AWS_REGION", REGION)
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)


def test_a_fargate_task_reaches_bigquery_through_workload_identity_federation(
    fargate: None, google_side: GoogleStandIn, container_credentials: ContainerCredentials
) -> None:
    warehouse = BigQueryWarehouse(
        project=PROJECT,
        location="asia-northeast1",
        dataset_prefix="theletter_",
        gcp_credentials=encoded(google_side.credential_configuration()),
        api_endpoint=google_side.url,
    )

    dataset = warehouse.client.get_dataset(warehouse.dataset("staging"))

    assert (dataset.project, dataset.dataset_id) == (PROJECT, "theletter_staging")
    assert google_side.refused == []
    (exchange,) = google_side.exchanges
    assert google_side.problem_with(exchange["subject_token"]) is None
    assert google_side.bigquery_authorizations == [f"Bearer {google_side.access_token}"]
    assert container_credentials.requests >= 1  # the task role's, from the endpoint

    # The check is not a formality: the same request, changed after it was signed, is refused.
    signed = json.loads(urllib.parse.unquote(exchange["subject_token"]))
    for header in signed["headers"]:
        if header["key"] == "x-amz-date":  # another second (the 59th was one in 60 runs)
            second = "58Z" if header["value"].endswith("59Z") else "59Z"
            header["value"] = header["value"][:-3] + second
    tampered = urllib.parse.quote(json.dumps(signed))
    assert google_side.problem_with(tampered) == "signature does not match"
    wrong_host = exchange["subject_token"].replace("sts.ap-northeast-1", "sts.us-east-1")
    assert google_side.problem_with(wrong_host).startswith("not the regional GetCallerIdentity")


def test_google_auth_s_own_aws_source_finds_no_credentials_on_fargate(
    fargate: None, google_side: GoogleStandIn, container_credentials: ContainerCredentials
) -> None:
    """Why the supplier exists: the same configuration through google-auth's own AWS source
    looks for keys in the environment and the instance metadata service, neither of which a
    Fargate task has, and never asks the container endpoint."""
    own = aws.Credentials.from_info(
        google_side.credential_configuration(), scopes=list(gcp_credentials.BIGQUERY_SCOPES)
    )
    with pytest.raises(exceptions.TransportError, match="meta-data/iam/security-credentials"):
        own.refresh(Request())
    assert google_side.exchanges == []
    assert container_credentials.requests == 0


def test_without_aws_credentials_the_exchange_names_what_is_missing(
    google_side: GoogleStandIn, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    for name in (
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_PROFILE",
        "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
        "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    credentials = load_credentials(encoded(google_side.credential_configuration()))
    with pytest.raises(exceptions.RefreshError, match="boto3 found none"):
        credentials.refresh(Request())
    monkeypatch.delenv("AWS_DEFAULT_REGION")
    monkeypatch.delenv("AWS_REGION", raising=False)
    credentials = load_credentials(encoded(google_side.credential_configuration()))
    with pytest.raises(exceptions.RefreshError, match="set AWS_DEFAULT_REGION"):
        credentials.refresh(Request())


def test_a_service_account_key_still_works_and_garbage_is_refused_clearly() -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    info = {
        "type": "service_account",
        "project_id": PROJECT,
        "private_key_id": "0123456789abcdef",
        "private_key": pem,
        "client_email": SERVICE_ACCOUNT,
        "client_id": "1234567890",
        "token_uri": "https://oauth2.googleapis.com/token",
    }
    credentials = load_credentials(encoded(info))
    assert isinstance(credentials, service_account.Credentials)
    assert credentials.service_account_email == SERVICE_ACCOUNT
    assert tuple(credentials.scopes) == gcp_credentials.BIGQUERY_SCOPES
    user = {"type": "authorized_user", "client_id": "x", "refresh_token": "1//secret-token"}
    for garbage in (
        "not base64!",
        base64.b64encode(b"{not json").decode(),
        encoded([1, 2]),  # type: ignore[arg-type]
        encoded(user),  # a person's credentials: not for a deployment
    ):
        with pytest.raises(ValueError, match="THELETTER_GCP_CREDENTIALS") as raised:
            load_credentials(garbage)
        assert "secret-token" not in str(raised.value)
    with pytest.raises(ValueError, match="private_key field was not found"):
        load_credentials(encoded({k: v for k, v in info.items() if k != "private_key"}))
    no_audience = {
        "type": "external_account",
        "subject_token_type": gcp_credentials.AWS_SUBJECT_TOKEN_TYPE,
    }
    with pytest.raises(ValueError, match="no audience or token_url"):
        load_credentials(encoded(no_audience))


def test_thelettter_gcp_credentials_has_one_description_everywhere() -> None:
    """settings.py, the README's environment table and deploy/README say the same."""

    def flat(text: str) -> str:
        return " ".join(text.split())

    description = flat(gcp_credentials.DESCRIPTION)
    settings = (ROOT / "theletter_data" / "settings.py").read_text()
    assert description in flat(settings)
    (row,) = [
        line
        for line in (ROOT / "README.md").read_text().splitlines()
        if line.startswith("| `THELETTER_GCP_CREDENTIALS` |")
    ]
    assert description in row
    assert description in flat((ROOT / "deploy" / "README.md").read_text())
