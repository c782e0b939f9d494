"""newsletter_deliverability: per Japan-time day, one row for the platform and one per newsletter
that sent email in the 30 days ending on it. Owner: business team (business overview; authors do
not see it).

Counts are emails (one message to one recipient) sent in the 7 and in the 30 days ending on the
day, and what had become of them by the end of the day, the way SES's reputation metrics and
the email tools count them (ses_reputation.py says how SES judges them):
- sends: emails SES accepted (any event but a Rendering Failure: SES publishes a Send before it
  rejects one, and a Send line lost upstream loses no email);
- bounces: emails that bounced, whatever the kind; hard bounces: those that count toward SES's
  bounce rate (permanent: the address does not exist, or is on SES's global suppression list;
  not the emails SES skipped for the account's own suppression list). Soft bounces (mailbox
  full, temporary failures) are bounces but not hard;
- complaints: emails a recipient reported as spam (feedback loops; Gmail reports none);
- rejects: emails SES refused to send (a virus in them);
- delivery delays: emails whose delivery SES had to retry (beehiiv's "deferred", a soft bounce
  that may still be delivered).
- rates: each of those / sends of the same window (NULL without sends). The hard bounce rate
  and the complaint rate are what SES judges; platform_daily_kpis's daily rates divide all
  bounces by sends and complaints by deliveries, as Substack and beehiiv report them per post.
- platform_send_share: the newsletter's share of the platform's sends in the window.
- status: `pause` if a window with at least 1,000 sends (`Thresholds.min_sends`) has a hard
  bounce rate of 10% or a complaint rate of 0.5% or more; else `review` at 5% or 0.1%; else
  `healthy`; `too_few_sends` when neither window has enough sends to judge.

An email counts in the windows of the day it was sent; an outcome counts from the day it was
seen, so re-computing a past day gives the same row.

The platform's own row (scope `platform`, no newsletter) sums the newsletters and is the SES
account's view: it is here rather than in platform_daily_kpis because it is these same figures
over the same windows, computed by the same query, which the `ses_reputation` check judges in
one step (platform_daily_kpis holds one-day figures, and adding columns to a deployed table
would need a migration of both warehouses). Filter `scope = 'newsletter'` to compare or sum
newsletters. The business overview shows the platform's 14 days and the newsletters at a
threshold on every partition; `deliverability_alerts` posts the check's findings to Slack.
"""

from theletter_data.metrics.metric_asset import BUSINESS, Upstream, metric_asset
from theletter_data.metrics.ses_reputation import (
    LONG_WINDOW_DAYS,
    STATUSES,
    THRESHOLDS,
    WINDOWS,
    reputation_check,
    reputation_overview,
)
from theletter_data.staging.email_events import stg_email_events
from theletter_data.tables import Column, Table

_OUTCOMES = (
    ("sends", "Emails sent (accepted by SES) in the {w} days ending on the day."),
    ("bounces", "Of those, emails that bounced (any kind) by the end of the day."),
    ("hard_bounces", "Of those, bounces that count toward SES's bounce rate."),
    ("complaints", "Of those, emails reported as spam."),
    ("rejects", "Of those, emails SES rejected."),
    ("delivery_delays", "Of those, emails whose delivery was delayed."),
)
_RATES = ("bounce", "hard_bounce", "complaint", "reject", "delivery_delay")
_PLURAL = {"bounce": "bounces", "hard_bounce": "hard_bounces", "complaint": "complaints",
           "reject": "rejects", "delivery_delay": "delivery_delays"}  # fmt: skip

NEWSLETTER_DELIVERABILITY = Table(
    layer="metrics",
    name="newsletter_deliverability",
    grain="one row per day for the platform, and per newsletter with email in the 30 days",
    partition_by="date",
    key=("date", "scope", "newsletter_id"),
    cluster_by=("scope", "newsletter_id"),
    rate_columns=(
        *(f"{r}_rate_{w}d" for w in WINDOWS for r in _RATES),
        *(f"platform_send_share_{w}d" for w in WINDOWS),
    ),
    columns=(
        Column("date", "DATE", "Japan-time day the windows end on (inclusive)."),
        Column(
            "scope", "STRING", "platform or newsletter.", accepted_values=("platform", "newsletter")
        ),
        Column(
            "newsletter_id", "STRING", "Newsletter (NULL on the platform's row).", required=False
        ),
        *(
            Column(f"{name}_{w}d", "INT64", meaning.format(w=w))
            for w in WINDOWS
            for name, meaning in _OUTCOMES
        ),
        *(
            Column(f"{r}_rate_{w}d", "FLOAT64", f"{_PLURAL[r]}_{w}d / sends_{w}d.", required=False)
            for w in WINDOWS
            for r in _RATES
        ),
        *(
            Column(
                f"platform_send_share_{w}d",
                "FLOAT64",
                f"sends_{w}d / the platform's sends_{w}d.",
                required=False,
            )
            for w in WINDOWS
        ),
        Column(
            "status",
            "STRING",
            "SES's judgement of the rates: healthy, review, pause or too_few_sends.",
            accepted_values=STATUSES,
        ),
    ),
)

newsletter_deliverability = metric_asset(
    table=NEWSLETTER_DELIVERABILITY,
    upstream=[Upstream(stg_email_events, days_before=LONG_WINDOW_DAYS - 1)],
    params=THRESHOLDS.params(),
    description=__doc__ or "",
    owner=BUSINESS,
    overview=reputation_overview(NEWSLETTER_DELIVERABILITY),
    checks=[reputation_check(NEWSLETTER_DELIVERABILITY)],
)
