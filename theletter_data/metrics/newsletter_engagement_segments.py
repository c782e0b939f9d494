"""newsletter_engagement_segments: one row per newsletter per Japan-time day on which it had a
current subscriber. Owner: creator-experience team (authors' dashboard).

Its current subscribers (readers with an active subscription at the end of the day, from the
app's snapshot of that day; a reader is counted once) by when they last opened or clicked one of
the newsletter's emails:
- active: engaged on the day or on the 29 days before it (the 30 days ending on the day);
- at risk: last engaged 30 to 89 days before the day (days 31 to 90 of the 90 days ending on
  it);
- dormant: not engaged in those 90 days: they last engaged earlier, or never. "Never" means
  never within that lookback: the metric reads 90 days of email events per day, so a reader
  who last opened 200 days ago and one who never opened are both dormant.
- Engaged: a click, or an open that is not a machine open (Apple Mail Privacy Protection's
  proxies open every email on delivery: `is_machine_open`, as post_email_funnel counts human
  opens). A reader whose only opens are machine opens is not active.
- Each segment's count and share of the subscribers, and its change against the same day a
  week before (`*_change_7d`: readers; `*_share_change_7d`: the share's difference, e.g. -0.02
  is two percentage points fewer). NULL when that day was not measured (before the platform's
  first snapshot); a newsletter without subscribers then counts 0 readers and has no share.
- dormant_new_readers: dormant readers whose subscription started in the last 30 days (most
  have not yet been sent an email; Kit does not call a subscriber cold in their first 30 days).
- engagement_days_seen: how many of the 90 days the platform has email events for (from its
  first day with any). Below 90, at risk and dormant include readers who engaged before the
  platform's history began.

How the others define it: Kit's "cold subscribers" have not opened or clicked in 90 days (30
for those subscribed less than 90 days); beehiiv's re-engagement template targets 90 days of
inactivity; Substack's activity stars rate opens and web views over the last 30 days, and its
zero stars, like dormant here, include new sign-ups and readers whose mail app hides opens.
An open is only seen when the email's images load, so a reader who reads with images blocked
and never clicks counts as dormant everywhere.

Acting on a segment: the table holds counts; the readers are pseudonyms, and stay in staging
(stg_subscriptions.reader_hash and stg_email_events.recipient_hash are the same pseudonym of
an address). The app, which holds the addresses, computes the same pseudonym of each of its
subscribers and matches: HMAC-SHA256 (RFC 2104) keyed with the UTF-8 bytes of
THELETTER_PSEUDONYM_KEY, over the UTF-8 bytes of the normalised address, as lower-case hex (64
characters). Normalised: leading and trailing Unicode space separators removed (category Zs:
U+0020, U+00A0, U+3000 and the other spaces; tabs and line breaks are kept), then every code
point mapped to its simple lower case (Unicode's one-to-one mapping, no locale, no final-sigma
rule: capital I with dot above becomes `i`, a final capital sigma the medial small sigma).
`Pseudonymizer.hash` (resources/pseudonymizer.py) is the reference implementation, tested
equal to staging's SQL; rotating the key changes every pseudonym.
"""

from theletter_data.metrics.metric_asset import Upstream, metric_asset
from theletter_data.serving.fields import category, count, day, integer, rate
from theletter_data.serving.sections import (
    SERIES_DAYS,
    DailySeries,
    DashboardSection,
    Figures,
    PreviewColumn,
    RankedTable,
)
from theletter_data.staging.app_exports import stg_subscriptions
from theletter_data.staging.email_events import stg_email_events
from theletter_data.tables import Column, Table

ACTIVE_DAYS = 30
"""Active: engaged within the 30 days ending on the day."""
LOOKBACK_DAYS = 90
"""At risk: last engaged within the 90 days ending on the day, but not the last 30."""
COMPARE_DAYS = 7
"""The week-over-week change compares with the same day this many days before."""

SEGMENTS = ("active", "at_risk", "dormant")
_LABELS = {"active": "Active", "at_risk": "At risk", "dormant": "Dormant"}
_MEANING = {
    "active": f"opened or clicked in the last {ACTIVE_DAYS} days",
    "at_risk": f"not in the last {ACTIVE_DAYS} days, but in the last {LOOKBACK_DAYS}",
    "dormant": f"no open or click in the last {LOOKBACK_DAYS} days",
}

NEWSLETTER_ENGAGEMENT_SEGMENTS = Table(
    layer="metrics",
    name="newsletter_engagement_segments",
    grain="one row per newsletter per day with a current subscriber",
    partition_by="date",
    key=("date", "newsletter_id"),
    cluster_by=("newsletter_id",),
    rate_columns=tuple(f"{s}_share" for s in SEGMENTS),
    columns=(
        Column("date", "DATE", "Japan-time day, at whose end subscribers are counted."),
        Column("newsletter_id", "STRING", "Newsletter."),
        Column("subscribers", "INT64", "Readers with an active subscription."),
        *(Column(f"{s}_readers", "INT64", f"Subscribers {_MEANING[s]}.") for s in SEGMENTS),
        Column(
            "dormant_new_readers",
            "INT64",
            f"Dormant readers subscribed in the last {ACTIVE_DAYS} days.",
        ),
        *(Column(f"{s}_share", "FLOAT64", f"{s}_readers / subscribers.") for s in SEGMENTS),
        *(
            Column(
                f"{s}_change_7d",
                "INT64",
                f"{s}_readers minus those of {COMPARE_DAYS} days before (NULL: not measured).",
                required=False,
                signed=True,
            )
            for s in SEGMENTS
        ),
        *(
            Column(
                f"{s}_share_change_7d",
                "FLOAT64",
                f"{s}_share minus that of {COMPARE_DAYS} days before (NULL: none then).",
                required=False,
            )
            for s in SEGMENTS
        ),
        Column(
            "engagement_days_seen",
            "INT64",
            f"Days of the {LOOKBACK_DAYS}-day lookback with the platform's email history.",
        ),
    ),
)


def _change(row: dict) -> str:
    change = row["change_7d"]
    return "-" if change is None else f"{change:+,}".replace("-", "\u2212")


newsletter_engagement_segments = metric_asset(
    table=NEWSLETTER_ENGAGEMENT_SEGMENTS,
    upstream=[
        Upstream(stg_subscriptions, days_before=COMPARE_DAYS),
        Upstream(stg_email_events, days_before=LOOKBACK_DAYS - 1 + COMPARE_DAYS),
    ],
    params={
        "active_days": ACTIVE_DAYS,
        "lookback_days": LOOKBACK_DAYS,
        "compare_days": COMPARE_DAYS,
    },
    description=__doc__ or "",
    section=DashboardSection(
        name="engagement",
        order=25,
        description=f"Subscribers by when they last opened (not a privacy-proxy download) or "
        f"clicked an email: active within {ACTIVE_DAYS} days, at risk within {LOOKBACK_DAYS}, "
        "dormant otherwise.",
        content=(
            Figures(
                query="engagement_latest",
                fields=(
                    integer(
                        "history_days",
                        "engagement_days_seen",
                        minimum=0,
                        maximum=LOOKBACK_DAYS,
                        description=f"Days of email history the segments saw (up to "
                        f"{LOOKBACK_DAYS}); fewer while the platform is younger, when readers "
                        "who engaged before its first day count as dormant.",
                    ),
                ),
            ),
            RankedTable(
                key="segments",
                query="engagement_segments",
                title="Reader engagement",
                description="The segments on as_of (empty without subscribers): active, at "
                "risk, dormant.",
                fields=(
                    category("segment", SEGMENTS),
                    count("readers"),
                    rate("share", description="readers / subscribers."),
                    integer(
                        "change_7d",
                        nullable=True,
                        description=f"readers minus those {COMPARE_DAYS} days before "
                        "(null: not measured then).",
                    ),
                ),
                order_by=("position",),
                columns=(
                    PreviewColumn(
                        "Readers",
                        lambda r: _LABELS[r["segment"]],
                        "text",
                        sub=lambda r: _MEANING[r["segment"]],
                    ),
                    PreviewColumn("Subscribers", "readers"),
                    PreviewColumn("Share", "share", "percent"),
                    PreviewColumn(f"vs {COMPARE_DAYS} days before", _change, "text"),
                ),
                bar="readers",
                row_id=lambda r: f"engagement-{r['segment']}",
                empty="No subscribers yet.",
                note="Opened: not counting Apple Mail Privacy Protection's automatic downloads. "
                "A reader who reads with images blocked and never clicks counts as dormant.",
            ),
            DailySeries(
                key="daily",
                query="engagement_daily",
                title=f"Reader engagement, last {SERIES_DAYS} days",
                description=f"The last {SERIES_DAYS} days with subscribers, oldest first.",
                fields=(
                    day("date"),
                    count("subscribers"),
                    count("active", "active_readers"),
                    count("at_risk", "at_risk_readers"),
                    count("dormant", "dormant_readers"),
                    rate("active_share"),
                ),
                lines=(("Active", "active"), ("At risk", "at_risk"), ("Dormant", "dormant")),
            ),
        ),
    ),
)
