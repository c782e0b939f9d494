"""A local stand-in for the ECS container credentials endpoint: what a Fargate task's AWS SDK
asks for the task role's temporary credentials.

Fargate sets `AWS_CONTAINER_CREDENTIALS_RELATIVE_URI` (a path on 169.254.170.2); botocore's
ContainerProvider serves that and `AWS_CONTAINER_CREDENTIALS_FULL_URI` alike, and accepts a
full URI on the loopback address, which is how a test points a process at this server.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from theletter_data_tests.support.background_server import serve_in_background

ROLE_ARN = "arn:aws:iam::123456789012:role/theletter-data-run"


class ContainerCredentials:
    """Serves one set of temporary credentials of the run role, as ECS does."""

    def __init__(self) -> None:
        self.access_key_id = "ASIA" + secrets.token_hex(8).upper()
        self.secret_access_key = secrets.token_urlsafe(30)
        self.session_token = secrets.token_urlsafe(60)
        self.requests = 0
        path = f"/v2/credentials/{secrets.token_hex(8)}"
        served = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if self.path != path:
                    self.send_error(404)
                    return
                served.requests += 1
                body = json.dumps(
                    {
                        "RoleArn": ROLE_ARN,
                        "AccessKeyId": served.access_key_id,
                        "SecretAccessKey": served.secret_access_key,
                        "Token": served.session_token,
                        "Expiration": (datetime.now(UTC) + timedelta(hours=6)).strftime(
                            "%Y-%m-%dT%H:%M:%SZ"
                        ),
                    }
                ).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.uri = f"http://127.0.0.1:{self.server.server_port}{path}"
        serve_in_background(self.server)

    @property
    def environment(self) -> dict[str, str]:
        """The variables that point an AWS SDK at this endpoint, and at nothing else."""
        return {
            "AWS_CONTAINER_CREDENTIALS_FULL_URI": self.uri,
            "AWS_CONFIG_FILE": "/nonexistent/aws-config",
            "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent/aws-credentials",
            "AWS_EC2_METADATA_DISABLED": "true",
        }


@pytest.fixture
def container_credentials() -> Iterator[ContainerCredentials]:
    served = ContainerCredentials()
    yield served
    served.server.shutdown()
