"""What Amazon SES judges an account by, and the guard that judges the platform the same way
before SES does: every newsletter sends through one SES account, so one newsletter's bad list
can get all of them reviewed or paused.

SES's thresholds (Amazon SES Developer Guide, "Amazon SES sending review process FAQs", bounce
Q3-Q5 and complaint Q5-Q6, https://docs.aws.amazon.com/ses/latest/dg/faqs-enforcement.html): an
account goes under review at a bounce rate of 5% or more or a complaint rate of 0.1% or more, and
SES may pause its sending at 10% or 0.5%. The bounce rate counts hard bounces only (permanent
failures such as "address does not exist"; not "mailbox full" nor bounces for blocked IP
addresses), including those of SES's global suppression list, but not emails SES did not attempt
because the address is on the account's own suppression list (bounce sub-type
`OnAccountSuppressionList`, "does not count toward your bounce rate metric": the Developer Guide's
event contents). SES computes both rates over a "representative volume" of the account's recent
email, not a fixed period, and counts complaints only on email to providers that report them.
The guard cannot reproduce either exactly: it judges both a short and a long window and takes the
worse one that holds at least `min_sends` emails, and it divides complaints by all the emails
sent (pseudonymised addresses keep no domain), which understates SES's complaint rate by the
share of email that goes to providers without a feedback loop.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import date, timedelta
from typing import Any

import dagster as dg

from theletter_data.metrics.metric_asset import MetricCheck
from theletter_data.metrics.overview import Overview, markdown_table
from theletter_data.resources.warehouse import Warehouse
from theletter_data.tables import Table

SHORT_WINDOW_DAYS = 7
LONG_WINDOW_DAYS = 30
WINDOWS = (SHORT_WINDOW_DAYS, LONG_WINDOW_DAYS)

STATUSES = ("healthy", "review", "pause", "too_few_sends")
"""A row's status: below both review thresholds, at or above a review (pause) threshold, or too
few emails in both windows to judge."""
CHECK_NAME = "ses_reputation"


@dataclass(frozen=True)
class Thresholds:
    """SES's review and pause thresholds (at or above), and the least emails a window needs to
    be judged at all: 1 bounce in 3 sends is noise, not a bad list."""

    bounce_review_rate: float = 0.05
    bounce_pause_rate: float = 0.10
    complaint_review_rate: float = 0.001
    complaint_pause_rate: float = 0.005
    min_sends: int = 1000

    def params(self) -> dict[str, object]:
        """The query parameters the metric's SQL names."""
        windows = {"short_window_days": SHORT_WINDOW_DAYS, "long_window_days": LONG_WINDOW_DAYS}
        return {**asdict(self), **windows}

    def crossed(self, row: dict[str, Any]) -> list[dict[str, Any]]:
        """Each rate of a row at or above a threshold, in a window with enough emails: the
        reasons behind its status, worst first."""
        found = []
        for window in WINDOWS:
            sends = row[f"sends_{window}d"]
            if sends < self.min_sends:
                continue
            for rate, count, review, pause in (
                ("hard_bounce_rate", "hard_bounces", self.bounce_review_rate,
                 self.bounce_pause_rate),
                ("complaint_rate", "complaints", self.complaint_review_rate,
                 self.complaint_pause_rate),
            ):  # fmt: skip
                value = row[f"{rate}_{window}d"]
                if value is not None and value >= review:
                    level, threshold = ("pause", pause) if value >= pause else ("review", review)
                    found.append({
                        "window_days": window, "rate": rate, "value": value,
                        "count": row[f"{count}_{window}d"], "sends": sends,
                        "level": level, "threshold": threshold,
                    })  # fmt: skip
        return sorted(found, key=lambda f: (f["level"] != "pause", -f["value"] / f["threshold"]))


THRESHOLDS = Thresholds()

_SUMMARY = (
    "newsletter_id", "status", "sends_7d", "hard_bounces_7d", "hard_bounce_rate_7d",
    "complaints_7d", "complaint_rate_7d", "sends_30d", "hard_bounces_30d",
    "hard_bounce_rate_30d", "complaints_30d", "complaint_rate_30d", "platform_send_share_7d",
    "platform_send_share_30d",
)  # fmt: skip


def _rows(warehouse: Warehouse, table: Table, start: date, end: date) -> list[dict[str, Any]]:
    return warehouse.query(
        f"SELECT date, scope, {', '.join(_SUMMARY)} FROM {table.qualified_name} "
        "WHERE date >= @start_date AND date < @end_date",
        {"start_date": start, "end_date": end},
    ).to_pylist()


def judge(rows: list[dict[str, Any]], thresholds: Thresholds = THRESHOLDS) -> dg.AssetCheckResult:
    """The day's verdict from its rows: an error when the platform is at a pause threshold, a
    warning when it is at a review threshold or any newsletter is at either (the early sign: a
    newsletter's list is what drags the account's rates up). Each such newsletter is named
    with its numbers and its share of the platform's emails, worst first."""
    (platform,) = [r for r in rows if r["scope"] == "platform"]
    flagged = [
        {**_figures(r), "reasons": thresholds.crossed(r)}
        for r in rows
        if r["scope"] == "newsletter" and r["status"] in ("review", "pause")
    ]
    flagged.sort(
        key=lambda f: (
            f["status"] != "pause",
            -(f["platform_send_share_30d"] or 0),
            f["newsletter_id"],
        )
    )
    status = platform["status"]
    severity = dg.AssetCheckSeverity.ERROR if status == "pause" else dg.AssetCheckSeverity.WARN
    passed = status != "pause" and status != "review" and not flagged
    lines = [f"platform: {status}" + _reasons(thresholds.crossed(platform))]
    lines += [f"{f['newsletter_id']}: {f['status']}" + _reasons(f["reasons"]) for f in flagged]
    return dg.AssetCheckResult(
        check_name=CHECK_NAME,
        passed=passed,
        severity=severity,
        description=None if passed else "; ".join(lines),
        metadata={
            "day": str(platform["date"]),
            "platform": dg.MetadataValue.json(
                {**_figures(platform), "reasons": thresholds.crossed(platform)}
            ),
            "newsletters_flagged": len(flagged),
            "newsletters": dg.MetadataValue.json(flagged),
            "thresholds": dg.MetadataValue.json(asdict(thresholds)),
        },
    )


def _figures(row: dict[str, Any]) -> dict[str, Any]:
    return {k: row[k] for k in _SUMMARY}


def _reasons(reasons: list[dict[str, Any]]) -> str:
    return "".join(
        f", {r['rate'].replace('_', ' ')} {r['value']:.2%} over {r['window_days']} days "
        f"({r['count']:,} of {r['sends']:,}) >= {r['threshold']:.1%} ({r['level']})"
        for r in reasons
    )


def reputation_check(table: Table, thresholds: Thresholds = THRESHOLDS) -> MetricCheck:
    """Judges the newest day of the window written: the platform's state now, also after a
    backfill of old days. Not blocking: the numbers are right, and an alarm about the world
    must not hold back the tables and dashboards that read them."""

    def evaluate(warehouse: Warehouse, start: date, end: date) -> dg.AssetCheckResult:
        last = end - timedelta(days=1)
        return judge(_rows(warehouse, table, last, end), thresholds)

    return MetricCheck(
        name=CHECK_NAME,
        description="The platform's hard bounce and complaint rates over 7 and 30 days against "
        "SES's thresholds: a warning at a review threshold (5%, 0.1%), or when a newsletter with "
        f"at least {thresholds.min_sends:,} emails is at one; an error at a pause threshold "
        "(10%, 0.5%). Names each newsletter above them.",
        evaluate=evaluate,
    )


def reputation_overview(table: Table, days: int = 14) -> Overview:
    """The business overview of each day: the platform's rows of the last `days` days, the
    newsletters not healthy that day, and the platform's rates as plotted numbers."""

    def overview(warehouse: Warehouse, start: date, end: date) -> dict[date, dict[str, Any]]:
        rows = _rows(warehouse, table, start - timedelta(days=days - 1), end)
        platform = {r["date"]: r for r in rows if r["scope"] == "platform"}
        result: dict[date, dict[str, Any]] = {}
        day = start
        while day < end:
            recent = [platform[d] for d in sorted(platform, reverse=True)
                      if 0 <= (day - d).days < days]  # fmt: skip
            shown = [{k: r[k] for k in ("date", *_SUMMARY[1:-2])} for r in recent]
            flagged = [
                {k: r[k] for k in _SUMMARY}
                for r in rows
                if r["date"] == day and r["scope"] == "newsletter" and r["status"] != "healthy"
                and r["status"] != "too_few_sends"
            ]  # fmt: skip
            text = markdown_table(table, shown)
            if flagged:
                text += "\n\nNewsletters at a threshold:\n\n" + markdown_table(table, flagged)
            metadata: dict[str, Any] = {"overview": dg.MetadataValue.md(text),
                                        "overview_day": str(day)}  # fmt: skip
            if day in platform:
                row = platform[day]
                for name in ("sends_7d", "sends_30d"):
                    metadata[name] = dg.MetadataValue.int(row[name])
                for name in ("hard_bounce_rate_7d", "hard_bounce_rate_30d", "complaint_rate_7d",
                             "complaint_rate_30d"):  # fmt: skip
                    value = row[name]
                    metadata[name] = dg.MetadataValue.float(
                        float("nan") if value is None else float(f"{value:.4g}")
                    )
                metadata["newsletters_at_a_threshold"] = dg.MetadataValue.int(len(flagged))
            result[day] = metadata
            day += timedelta(days=1)
        return result

    return overview
