"""Where failures are announced: a Slack incoming webhook, as the original platform posted to
Slack. Without a webhook URL (local runs) an alert is logged instead, so nothing is lost."""

from __future__ import annotations

import json
import logging
import urllib.request
from dataclasses import dataclass

import dagster as dg
from pydantic import Field

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Alert:
    title: str
    lines: tuple[str, ...]
    link: str | None = None

    def text(self) -> str:
        body = "\n".join(f"• {line}" for line in self.lines)
        link = f"\n<{self.link}|Open in Dagster>" if self.link else ""
        return f"*{self.title}*\n{body}{link}"


class Alerts(dg.ConfigurableResource):
    webhook_url: str | None = Field(
        default=None, description="Slack incoming-webhook URL (THELETTER_SLACK_WEBHOOK_URL)."
    )
    ui_url: str | None = Field(
        default=None, description="Base URL of the Dagster UI, for links in alerts."
    )
    timeout_seconds: float = 10.0

    def run_link(self, run_id: str) -> str | None:
        return f"{self.ui_url.rstrip('/')}/runs/{run_id}" if self.ui_url else None

    def asset_link(self, asset_key: dg.AssetKey) -> str | None:
        path = "/".join(asset_key.path)
        return f"{self.ui_url.rstrip('/')}/assets/{path}" if self.ui_url else None

    def send(self, alert: Alert) -> None:
        """Post the alert; a webhook that fails is logged and raised (the sensor retries)."""
        if not self.webhook_url:
            log.warning("alert (no webhook configured): %s", alert.text())
            return
        request = urllib.request.Request(
            self.webhook_url,
            data=json.dumps({"text": alert.text()}).encode(),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=self.timeout_seconds) as response:
            if response.status >= 300:
                raise RuntimeError(f"Slack webhook answered {response.status}")
