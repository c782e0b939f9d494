"""Google credentials for BigQuery, from THELETTER_GCP_CREDENTIALS.

Preferred in production is Workload Identity Federation from AWS: no Google key exists
anywhere; the run task proves who it is by signing an AWS STS GetCallerIdentity request with
its task role's credentials, which Google's STS exchanges for a token (then, with service
account impersonation, for the service account's token). google-auth's own AWS source reads
keys from the environment or the EC2 instance metadata service only, and a Fargate task has
neither: its role's credentials come from the ECS container credentials endpoint. So the
exchange here gets them from boto3's credential chain, which serves that endpoint (and
refreshes its credentials before they expire).
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping, Sequence
from typing import Any

import boto3
from google.auth import aws, exceptions
from google.auth.credentials import Credentials
from google.oauth2 import service_account

DESCRIPTION = (
    "Secret: base64 of a Google credential JSON, either a Workload Identity Federation "
    "credential configuration for AWS (preferred: no key, the run task's own role signs the "
    "exchange) or a service-account key. Unset: Application Default Credentials."
)
"""What THELETTER_GCP_CREDENTIALS is, worded once: settings.py, README and deploy/README say
exactly this (a test checks)."""

BIGQUERY_SCOPES = ("https://www.googleapis.com/auth/bigquery",)
AWS_SUBJECT_TOKEN_TYPE = "urn:ietf:params:aws:token-type:aws4_request"


class Boto3AwsCredentialsSupplier(aws.AwsSecurityCredentialsSupplier):
    """The AWS identity of this process as boto3 finds it: on Fargate, the task role from the
    container credentials endpoint. boto3 caches and refreshes them, which google-auth leaves
    to the supplier."""

    def __init__(self, session: boto3.Session | None = None) -> None:
        self._session = session or boto3.Session()

    def get_aws_security_credentials(
        self, context: Any, request: Any
    ) -> aws.AwsSecurityCredentials:
        found = self._session.get_credentials()
        if found is None:
            raise exceptions.RefreshError(
                "Workload Identity Federation needs AWS credentials, and boto3 found none "
                "(environment, container credentials endpoint, instance metadata)."
            )
        frozen = found.get_frozen_credentials()
        return aws.AwsSecurityCredentials(frozen.access_key, frozen.secret_key, frozen.token)

    def get_aws_region(self, context: Any, request: Any) -> str:
        if not self._session.region_name:
            raise exceptions.RefreshError(
                "Workload Identity Federation signs for a region: set AWS_DEFAULT_REGION "
                "(Fargate sets it)."
            )
        return self._session.region_name


def load_credentials(
    encoded: str, scopes: Sequence[str] = BIGQUERY_SCOPES, *, session: boto3.Session | None = None
) -> Credentials:
    """Credentials from the base64 JSON of THELETTER_GCP_CREDENTIALS (see DESCRIPTION)."""
    try:
        info = json.loads(base64.b64decode(encoded, validate=True))
    except (binascii.Error, UnicodeDecodeError, json.JSONDecodeError):
        raise ValueError(
            "THELETTER_GCP_CREDENTIALS is not base64 of a JSON document (e.g. `base64 -w0 "
            "credential-config.json`)"
        ) from None
    if not isinstance(info, Mapping):
        raise ValueError("THELETTER_GCP_CREDENTIALS holds JSON, but not an object")
    if is_aws_federation(info):
        return aws_federation(info, scopes, session=session)
    if info.get("type") == "service_account":
        return service_account.Credentials.from_service_account_info(info, scopes=list(scopes))
    raise ValueError(
        f"THELETTER_GCP_CREDENTIALS holds a credential of type {info.get('type')!r}; this "
        "deployment takes a Workload Identity Federation configuration for AWS or a "
        "service-account key"
    )


def is_aws_federation(info: Mapping[str, Any]) -> bool:
    return (
        info.get("type") == "external_account"
        and info.get("subject_token_type") == AWS_SUBJECT_TOKEN_TYPE
    )


def aws_federation(
    info: Mapping[str, Any], scopes: Sequence[str], *, session: boto3.Session | None = None
) -> aws.Credentials:
    """google-auth's AWS credentials from a credential configuration (`gcloud iam
    workload-identity-pools create-cred-config --aws`): its audience, subject token type,
    token URL and service account impersonation, with the AWS identity from boto3 instead of
    its `credential_source`. The request signed is the regional STS GetCallerIdentity that
    google-auth builds (the URL gcloud writes in the configuration)."""
    missing = [key for key in ("audience", "token_url") if not info.get(key)]
    if missing:
        raise ValueError(f"the credential configuration has no {' or '.join(missing)}")
    configuration = {k: v for k, v in info.items() if k != "credential_source"}
    return aws.Credentials.from_info(
        configuration,
        aws_security_credentials_supplier=Boto3AwsCredentialsSupplier(session),
        scopes=list(scopes),
    )
