"""A local HTTP proxy in front of the BigQuery emulator that a test can make answer like BigQuery.

The emulator answers every call it understands; production BigQuery also refuses calls (IAM) and
fails jobs that collide (concurrent DML). `BigQueryProxy` forwards each REST request to the
emulator unless `answer` returns a response of its own, and lets `adjust` change a forwarded
response. `bigquery_iam_proxy.py` and `bigquery_conflicts.py` build on it. Errors are written as
BigQuery writes them (`error_response`), so the client raises what it would raise in production.
"""

from __future__ import annotations

import http.client
import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from theletter_data_tests.support.background_server import serve_in_background

API = "/bigquery/v2"
UPLOAD_API = "/upload/bigquery/v2"

STATUS_NAMES = {400: "INVALID_ARGUMENT", 403: "PERMISSION_DENIED", 404: "NOT_FOUND"}


@dataclass
class Request:
    method: str
    target: str
    """Path and query string as sent."""
    headers: dict[str, str]
    body: bytes

    @property
    def path(self) -> str:
        return urlsplit(self.target).path

    @property
    def params(self) -> dict[str, list[str]]:
        return parse_qs(urlsplit(self.target).query)

    def json(self) -> Any:
        return json.loads(self.body or b"{}")


@dataclass
class Response:
    status: int
    body: bytes
    headers: list[tuple[str, str]] = field(default_factory=list)

    def json(self) -> Any:
        return json.loads(self.body or b"{}")


def json_response(status: int, payload: Any) -> Response:
    return Response(status, json.dumps(payload).encode(), [("Content-Type", "application/json")])


def error_body(code: int, message: str, reason: str, **extra: str) -> dict[str, Any]:
    """BigQuery's error body: `{"error": {"code", "message", "errors": [...], "status"}}`."""
    detail = {"message": message, "domain": "global", "reason": reason, **extra}
    return {
        "error": {
            "code": code,
            "message": message,
            "errors": [detail],
            "status": STATUS_NAMES.get(code, "UNKNOWN"),
        }
    }


def error_response(code: int, message: str, reason: str, **extra: str) -> Response:
    return json_response(code, error_body(code, message, reason, **extra))


class BigQueryProxy:
    """Start with `Proxy(upstream)`; `.url` is the endpoint to give the client; `.stop()`."""

    def __init__(self, upstream: str) -> None:
        self.upstream = urlsplit(upstream)
        self.lock = threading.Lock()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                request = Request(
                    method=self.command,
                    target=self.path,
                    headers={k: v for k, v in self.headers.items()},
                    body=self.rfile.read(length) if length else b"",
                )
                try:
                    response = proxy.answer(request) or proxy.adjust(
                        request, proxy.forward(request)
                    )
                except Exception as error:  # a bug in a test proxy must fail loudly
                    response = error_response(500, f"test proxy failed: {error!r}", "internalError")
                self.send_response(response.status)
                for key, value in response.headers:
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(response.body)))
                self.end_headers()
                self.wfile.write(response.body)

            do_GET = do_PUT = do_POST = do_PATCH = do_DELETE = _handle

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        serve_in_background(self.server)

    def answer(self, request: Request) -> Response | None:
        """A response of the proxy's own instead of the emulator's, or None to forward."""
        return None

    def adjust(self, request: Request, response: Response) -> Response:
        """Change a response the emulator gave."""
        return response

    def forward(self, request: Request) -> Response:
        connection = http.client.HTTPConnection(self.upstream.hostname, self.upstream.port)
        try:
            headers = {
                k: v
                for k, v in request.headers.items()
                if k.lower() not in {"host", "content-length", "transfer-encoding"}
            }
            headers["Host"] = self.upstream.netloc
            connection.request(request.method, request.target, body=request.body, headers=headers)
            upstream = connection.getresponse()
            body = upstream.read()
            kept = [
                (key, self._through_proxy(value) if key.lower() == "location" else value)
                for key, value in upstream.getheaders()
                if key.lower() not in {"transfer-encoding", "connection", "content-length"}
            ]
            return Response(upstream.status, body, kept)
        finally:
            connection.close()

    def upstream_json(self, path: str) -> tuple[int, Any]:
        """GET a REST resource from the emulator directly (the proxy's own look-ups)."""
        response = self.forward(Request("GET", path, {}, b""))
        return response.status, response.json() if response.body else {}

    def _through_proxy(self, location: str) -> str:
        """A resumable upload's session URL points at the emulator: keep it on the proxy."""
        parts = urlsplit(location)
        if parts.netloc == self.upstream.netloc:
            return location.replace(f"{parts.scheme}://{parts.netloc}", self.url, 1)
        return location

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
