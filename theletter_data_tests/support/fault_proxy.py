"""An unreliable S3: a local HTTP proxy in front of the moto server that answers every distinct
request first with faults, in turn `500 InternalError`, `503 SlowDown` and a dropped connection,
and only then forwards it.

This is what S3 does when a node fails (InternalError) or is under load (SlowDown), and what a
flaky network does (a reset connection); the lake's client must retry through all three."""

from __future__ import annotations

import http.client
import threading
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

from theletter_data_tests.support.background_server import serve_in_background

ERRORS = {
    500: ("500 InternalError", b"InternalError", b"We encountered an internal error."),
    503: ("503 SlowDown", b"SlowDown", b"Please reduce your request rate."),
}
FAULTS = (500, 503, None)
"""The faults a request meets in turn; None drops the connection."""


class FaultyS3:
    """Start with `FaultyS3(upstream, faults_per_request)`; `.url` is the endpoint to use."""

    def __init__(self, upstream: str, faults_per_request: int = len(FAULTS)) -> None:
        target = urlsplit(upstream)
        self.injected: Counter[str] = Counter()
        seen: Counter[tuple[str, str]] = Counter()
        lock = threading.Lock()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                with lock:
                    seen[(self.command, self.path)] += 1
                    attempt = seen[(self.command, self.path)]
                if attempt <= faults_per_request:
                    status = FAULTS[(attempt - 1) % len(FAULTS)]
                    if status is None:
                        proxy.injected["dropped connection"] += 1
                        self.close_connection = True
                        self.connection.shutdown(2)
                        return
                    name, code, message = ERRORS[status]
                    proxy.injected[name] += 1
                    error = (
                        b'<?xml version="1.0" encoding="UTF-8"?><Error><Code>' + code
                        + b"</Code><Message>" + message + b"</Message></Error>"
                    )  # fmt: skip
                    self.send_response(status)
                    self.send_header("Content-Type", "application/xml")
                    self.send_header("Content-Length", str(len(error)))
                    self.end_headers()
                    self.wfile.write(error)
                    return
                upstream_connection = http.client.HTTPConnection(target.hostname, target.port)
                headers = {k: v for k, v in self.headers.items() if k.lower() != "host"}
                headers["Host"] = target.netloc
                upstream_connection.request(self.command, self.path, body=body, headers=headers)
                response = upstream_connection.getresponse()
                payload = response.read()
                self.send_response(response.status)
                for key, value in response.getheaders():
                    if key.lower() not in {"transfer-encoding", "connection", "content-length"}:
                        self.send_header(key, value)
                # A HEAD answer has no body but the object's length, which the client needs.
                length = response.getheader("Content-Length") if self.command == "HEAD" else None
                self.send_header("Content-Length", length or str(len(payload)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(payload)
                upstream_connection.close()

            do_GET = do_PUT = do_POST = do_HEAD = do_DELETE = _handle

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        serve_in_background(self.server)

    def stop(self) -> None:
        self.server.shutdown()
