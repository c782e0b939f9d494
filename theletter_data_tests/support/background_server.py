"""The tests' stand-in HTTP servers (the BigQuery IAM proxy, the fault proxy, the container
credentials endpoint) serve from a thread. Stopping one waits until its loop next looks at the
shutdown flag, at most one poll interval: with the standard library's 0.5 s, every BigQuery
test's teardown waited for the IAM proxy (a sixth of the main thread's time in those tests,
sampled with py-spy in the full suite)."""

from __future__ import annotations

import socketserver
import threading

POLL_SECONDS = 0.02


def serve_in_background(server: socketserver.BaseServer) -> None:
    threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": POLL_SECONDS}, daemon=True
    ).start()
