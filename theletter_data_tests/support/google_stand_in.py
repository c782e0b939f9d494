"""Google's side of Workload Identity Federation, stood in by a local server for the tests of
BigQuery from a Fargate task (production/test_gcp_credentials.py): its STS token endpoint checks
the subject token as AWS STS would check the request it describes (the regional
GetCallerIdentity, a SigV4 signature recomputed here with botocore from the credentials the task
role got, the target resource naming the provider); the IAM Credentials endpoint impersonates
the service account for the STS token; and the BigQuery API answers only with the impersonated
token.
"""

from __future__ import annotations

import base64
import json
import re
import threading
import urllib.parse
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials as AwsCredentials

from theletter_data.resources import gcp_credentials
from theletter_data_tests.support.container_credentials import ContainerCredentials
from theletter_data_tests.support.ports import free_port

REGION = "ap-northeast-1"
PROJECT = "theletter-data"
AUDIENCE = (
    "//iam.googleapis.com/projects/123456789012/locations/global/"
    "workloadIdentityPools/theletter/providers/aws"
)
SERVICE_ACCOUNT = f"theletter-data@{PROJECT}.iam.gserviceaccount.com"
GET_CALLER_IDENTITY = (
    f"https://sts.{REGION}.amazonaws.com?Action=GetCallerIdentity&Version=2011-06-15"
)
SIGNATURE = re.compile(
    r"AWS4-HMAC-SHA256 Credential=(?P<key>[^/]+)/(?P<date>\d{8})/(?P<region>[^/]+)/sts/"
    r"aws4_request, SignedHeaders=(?P<signed>[a-z0-9;-]+), Signature=(?P<signature>[0-9a-f]{64})"
)


class GoogleStandIn:
    """Google's STS, IAM Credentials and BigQuery API, as far as this exchange uses them."""

    def __init__(self, aws_identity: ContainerCredentials) -> None:
        self.aws = aws_identity
        self.sts_token = (
            "sts-" + base64.urlsafe_b64encode(threading.get_native_id().to_bytes(8)).decode()
        )
        self.access_token = "ya29.impersonated-theletter-data"
        self.exchanges: list[dict[str, Any]] = []
        self.refused: list[str] = []
        self.bigquery_authorizations: list[str | None] = []
        stand_in = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if self.path == "/v1/token":
                    stand_in._token(self, urllib.parse.parse_qs(body.decode()))
                elif self.path.endswith(f"/serviceAccounts/{SERVICE_ACCOUNT}:generateAccessToken"):
                    stand_in._impersonate(self, json.loads(body))
                else:
                    _answer(self, 404, {"error": {"message": f"no {self.path}"}})

            def do_GET(self) -> None:
                stand_in._bigquery(self)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def credential_configuration(self) -> dict[str, Any]:
        """What `gcloud iam workload-identity-pools create-cred-config --aws
        --service-account=...` writes, with Google's hosts replaced by this server (and the
        instance metadata service, which a Fargate task does not have, by a closed port)."""
        no_metadata_service = f"http://127.0.0.1:{free_port()}"
        return {
            "universe_domain": "googleapis.com",
            "type": "external_account",
            "audience": AUDIENCE,
            "subject_token_type": "urn:ietf:params:aws:token-type:aws4_request",
            "service_account_impersonation_url": (
                f"{self.url}/v1/projects/-/serviceAccounts/{SERVICE_ACCOUNT}:generateAccessToken"
            ),
            "token_url": f"{self.url}/v1/token",
            "credential_source": {
                "environment_id": "aws1",
                "region_url": f"{no_metadata_service}/latest/meta-data/placement/availability-zone",
                "url": f"{no_metadata_service}/latest/meta-data/iam/security-credentials",
                "regional_cred_verification_url": (
                    "https://sts.{region}.amazonaws.com?Action=GetCallerIdentity&Version=2011-06-15"
                ),
            },
        }

    def problem_with(self, subject_token: str) -> str | None:
        """Why AWS STS would refuse the request the subject token describes (None: it would
        answer GetCallerIdentity for the run role)."""
        request = json.loads(urllib.parse.unquote(subject_token))
        if (request.get("url"), request.get("method")) != (GET_CALLER_IDENTITY, "POST"):
            return (
                f"not the regional GetCallerIdentity: {request.get('method')} {request.get('url')}"
            )
        headers = {h["key"].lower(): h["value"] for h in request["headers"]}
        if headers.get("x-goog-cloud-target-resource") != AUDIENCE:
            return "x-goog-cloud-target-resource does not name the provider"
        signed = SIGNATURE.fullmatch(headers.get("authorization", ""))
        if signed is None:
            return "no SigV4 Authorization"
        if signed["key"] != self.aws.access_key_id:
            return "signed with credentials the task role was not given"
        if signed["region"] != REGION or signed["date"] != headers["x-amz-date"][:8]:
            return "credential scope does not match the request"
        if headers.get("x-amz-security-token") != self.aws.session_token:
            return "temporary credentials without their session token"
        names = signed["signed"].split(";")
        if not {"host", "x-amz-date", "x-amz-security-token"} <= set(names):
            return f"signed headers {names} leave the request open to change"
        resigned = AWSRequest(
            method="POST", url=request["url"], data=b"", headers={n: headers[n] for n in names}
        )
        resigned.context["timestamp"] = headers["x-amz-date"]
        signer = SigV4Auth(
            AwsCredentials(
                self.aws.access_key_id, self.aws.secret_access_key, self.aws.session_token
            ),
            "sts",
            REGION,
        )
        canonical = signer.canonical_request(resigned)
        expected = signer.signature(signer.string_to_sign(resigned, canonical), resigned)
        return None if expected == signed["signature"] else "signature does not match"

    def _token(self, handler: BaseHTTPRequestHandler, form: dict[str, list[str]]) -> None:
        fields = {k: v[0] for k, v in form.items()}
        self.exchanges.append(fields)
        expected = {
            "grant_type": "urn:ietf:params:oauth:grant-type:token-exchange",
            "audience": AUDIENCE,
            "subject_token_type": "urn:ietf:params:aws:token-type:aws4_request",
            "requested_token_type": "urn:ietf:params:oauth:token-type:access_token",
        }
        problem = next((f"{k} is not {v}" for k, v in expected.items() if fields.get(k) != v), None)
        problem = problem or self.problem_with(fields.get("subject_token", "%7B%7D"))
        if problem:
            self.refused.append(problem)
            _answer(handler, 403, {"error": "access_denied", "error_description": problem})
            return
        _answer(
            handler,
            200,
            {
                "access_token": self.sts_token,
                "issued_token_type": "urn:ietf:params:oauth:token-type:access_token",
                "token_type": "Bearer",
                "expires_in": 3600,
            },
        )

    def _impersonate(self, handler: BaseHTTPRequestHandler, body: dict[str, Any]) -> None:
        if handler.headers.get("Authorization") != f"Bearer {self.sts_token}":
            _answer(handler, 401, {"error": {"message": "not the federated token"}})
            return
        if body.get("scope") != list(gcp_credentials.BIGQUERY_SCOPES):
            _answer(handler, 400, {"error": {"message": f"scope {body.get('scope')}"}})
            return
        expires = (datetime.now(UTC) + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
        _answer(handler, 200, {"accessToken": self.access_token, "expireTime": expires})

    def _bigquery(self, handler: BaseHTTPRequestHandler) -> None:
        authorization = handler.headers.get("Authorization")
        self.bigquery_authorizations.append(authorization)
        if authorization != f"Bearer {self.access_token}":
            _answer(
                handler,
                401,
                {
                    "error": {
                        "code": 401,
                        "message": "Request is missing required authentication credential.",
                    }
                },
            )
            return
        match = re.fullmatch(
            r"/bigquery/v2/projects/([^/]+)/datasets/([^/?]+)(\?.*)?", handler.path
        )
        if match is None:
            _answer(handler, 404, {"error": {"code": 404, "message": handler.path}})
            return
        project, dataset = match.group(1), match.group(2)
        _answer(
            handler,
            200,
            {
                "kind": "bigquery#dataset",
                "id": f"{project}:{dataset}",
                "datasetReference": {"projectId": project, "datasetId": dataset},
                "location": "asia-northeast1",
            },
        )


def _answer(handler: BaseHTTPRequestHandler, status: int, body: dict[str, Any]) -> None:
    data = json.dumps(body).encode()
    handler.send_response(status)
    handler.send_header("Content-Type", "application/json")
    handler.send_header("Content-Length", str(len(data)))
    handler.end_headers()
    handler.wfile.write(data)
