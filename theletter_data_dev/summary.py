"""What the demo prints once its runs are done: each newsletter's numbers as its author sees
them, and the platform's sending reputation as SES judges it."""

from __future__ import annotations

import unicodedata
from datetime import date
from typing import TYPE_CHECKING

from theletter_data.metrics.newsletter_engagement_segments import ACTIVE_DAYS
from theletter_data.metrics.newsletter_signup_sources import SIGNUP_LABELS
from theletter_data.metrics.ses_reputation import LONG_WINDOW_DAYS, THRESHOLDS
from theletter_data.resources.warehouse import Warehouse

if TYPE_CHECKING:
    from theletter_data_dev.demo import DemoRange


def newsletter_summary(warehouse: Warehouse, demo_range: DemoRange, top: int = 15) -> str:
    """A per-newsletter table of the numbers an author sees, largest newsletters first."""
    rows = warehouse.query(
        """
        WITH latest AS (
            SELECT newsletter_id, name
            FROM staging.stg_newsletters
            WHERE snapshot_date = @last_day
        ),
        growth AS (
            SELECT newsletter_id,
                SUM(new_subscribers) AS new_subscribers,
                SUM(lost_subscribers) AS lost_subscribers,
                SUM(IF(date = @last_day, total_subscribers, 0)) AS subscribers
            FROM metrics.newsletter_subscriber_growth
            WHERE date BETWEEN @first_day AND @last_day
            GROUP BY newsletter_id
        ),
        traffic AS (
            SELECT newsletter_id, SUM(page_views) AS page_views
            FROM metrics.newsletter_daily_traffic
            WHERE date BETWEEN @first_day AND @last_day
            GROUP BY newsletter_id
        ),
        funnel AS (
            -- Each post's latest cumulative row, for posts sent in the range.
            SELECT newsletter_id, post_id, delivered, unique_human_opens, unique_clicks,
                unique_opens
            FROM metrics.post_email_funnel
            WHERE date BETWEEN @first_day AND @last_day
            QUALIFY ROW_NUMBER() OVER (PARTITION BY post_id ORDER BY date DESC) = 1
        ),
        email AS (
            SELECT newsletter_id, COUNT(*) AS posts_emailed,
                SAFE_DIVIDE(SUM(unique_opens), SUM(delivered)) AS open_rate,
                SAFE_DIVIDE(SUM(unique_human_opens), SUM(delivered)) AS human_open_rate,
                SAFE_DIVIDE(SUM(unique_clicks), SUM(delivered)) AS click_rate
            FROM funnel
            GROUP BY newsletter_id
        ),
        links AS (
            -- Each post's links as on its latest day: clicks by people and by link scanners.
            SELECT newsletter_id, SUM(total_clicks) AS clicks,
                SUM(scanner_clicks) AS scanner_clicks
            FROM (
                SELECT newsletter_id, total_clicks, scanner_clicks
                FROM metrics.post_link_clicks
                WHERE date BETWEEN @first_day AND @last_day
                QUALIFY ROW_NUMBER() OVER (PARTITION BY post_id, link_url ORDER BY date DESC) = 1
            )
            GROUP BY newsletter_id
        ),
        clients AS (
            SELECT newsletter_id,
                SAFE_DIVIDE(SUM(mobile_opens), SUM(human_opens)) AS mobile_share
            FROM (
                SELECT newsletter_id, mobile_opens, human_opens
                FROM metrics.post_email_clients
                WHERE date BETWEEN @first_day AND @last_day
                QUALIFY ROW_NUMBER() OVER (PARTITION BY post_id ORDER BY date DESC) = 1
            )
            GROUP BY newsletter_id
        ),
        engagement AS (
            SELECT newsletter_id, active_share
            FROM metrics.newsletter_engagement_segments
            WHERE date = @last_day
        ),
        signup_sources AS (
            SELECT newsletter_id, source_category, SUM(signups) AS signups,
                SUM(IF(signup_page = 'post', signups, 0)) AS post_signups
            FROM metrics.newsletter_signup_sources
            WHERE date BETWEEN @first_day AND @last_day
            GROUP BY newsletter_id, source_category
        ),
        signups AS (
            -- The share of new subscribers who signed up on a post's page, and the traffic
            -- source that brought most of them.
            SELECT newsletter_id,
                SAFE_DIVIDE(SUM(post_signups) OVER (PARTITION BY newsletter_id),
                    SUM(signups) OVER (PARTITION BY newsletter_id)) AS post_signup_share,
                source_category AS top_source
            FROM signup_sources
            WHERE signups > 0
            QUALIFY ROW_NUMBER() OVER (
                PARTITION BY newsletter_id ORDER BY signups DESC, source_category
            ) = 1
        )
        SELECT l.name, g.subscribers, g.new_subscribers, g.lost_subscribers,
            COALESCE(t.page_views, 0) AS page_views, COALESCE(e.posts_emailed, 0) AS posts,
            e.open_rate, e.human_open_rate, e.click_rate, a.active_share,
            SAFE_DIVIDE(k.scanner_clicks, k.clicks + k.scanner_clicks) AS scanner_share,
            c.mobile_share, s.post_signup_share, s.top_source
        FROM growth AS g
        JOIN latest AS l ON l.newsletter_id = g.newsletter_id
        LEFT JOIN traffic AS t ON t.newsletter_id = g.newsletter_id
        LEFT JOIN email AS e ON e.newsletter_id = g.newsletter_id
        LEFT JOIN engagement AS a ON a.newsletter_id = g.newsletter_id
        LEFT JOIN links AS k ON k.newsletter_id = g.newsletter_id
        LEFT JOIN clients AS c ON c.newsletter_id = g.newsletter_id
        LEFT JOIN signups AS s ON s.newsletter_id = g.newsletter_id
        ORDER BY g.subscribers DESC, l.name
        """,
        {"first_day": demo_range.start, "last_day": demo_range.end},
    ).to_pylist()

    def pct(value: float | None) -> str:
        return "-" if value is None else f"{value:6.1%}"

    lines = [
        f"\nNewsletters, {demo_range.start} to {demo_range.end} "
        f"(top {min(top, len(rows))} of {len(rows)} by subscribers):",
        f"{'newsletter':<32} {'subs':>7} {'new':>6} {'lost':>5} {'page views':>10} "
        f"{'posts':>5} {'opens':>7} {'human':>7} {'clicks':>7} {'active':>7} {'scanned':>7} "
        f"{'mobile':>7} {'on post':>7} {'top source':<16}",
    ]
    for r in rows[:top]:
        lines.append(
            f"{_fit(r['name'] or '', 32)} {r['subscribers']:>7,} {r['new_subscribers']:>6,} "
            f"{r['lost_subscribers']:>5,} {r['page_views']:>10,} {r['posts']:>5} "
            f"{pct(r['open_rate']):>7} {pct(r['human_open_rate']):>7} {pct(r['click_rate']):>7} "
            f"{pct(r['active_share']):>7} {pct(r['scanner_share']):>7} "
            f"{pct(r['mobile_share']):>7} {pct(r['post_signup_share']):>7} "
            f"{SIGNUP_LABELS.get(r['top_source'] or '', '-'):<16}"
        )
    lines.append(
        "opens: unique opens / delivered (privacy-proxy opens included); human: without them; "
        "clicks: unique clickers / delivered; post figures are cumulative over each post's "
        f"first 30 days; active: subscribers who opened (not a privacy-proxy download) or "
        f"clicked in the {ACTIVE_DAYS} days to {demo_range.end}; scanned: clicks by link "
        f"scanners and security proxies, of all clicks (post_link_clicks); mobile: human opens on "
        "a phone or tablet (post_email_clients); on post: new subscribers who signed up on a "
        "post's page; top source: the traffic source that brought most of them (as the app "
        "recorded where each reader signed up).\n"
    )
    return (
        "\n".join(lines)
        + "\n"
        + signup_posts_summary(warehouse, demo_range)
        + deliverability_summary(warehouse, demo_range.end)
    )


def signup_posts_summary(warehouse: Warehouse, demo_range: DemoRange, top: int = 5) -> str:
    """The platform's posts that brought most subscribers in the range: what an author asks
    after "how many joined" (post_web_performance)."""
    rows = warehouse.query(
        """
        WITH posts AS (
            SELECT newsletter_id, post_id, SUM(signups) AS signups,
                SUM(paid_signups + paid_conversions) AS paid, SUM(page_views) AS page_views
            FROM metrics.post_web_performance AS w
            WHERE date BETWEEN @first_day AND @last_day
            GROUP BY newsletter_id, post_id
            HAVING SUM(w.signups) > 0  -- qualified: `signups` alone is the aggregate above
        )
        SELECT p.*, t.title, n.name
        FROM posts AS p
        LEFT JOIN staging.stg_posts AS t ON t.post_id = p.post_id AND t.snapshot_date = @last_day
        LEFT JOIN staging.stg_newsletters AS n
            ON n.newsletter_id = p.newsletter_id AND n.snapshot_date = @last_day
        ORDER BY p.signups DESC, p.page_views DESC, p.post_id
        LIMIT @top
        """,
        {"first_day": demo_range.start, "last_day": demo_range.end, "top": top},
    ).to_pylist()
    if not rows:
        return ""
    lines = [f"Posts that brought most subscribers, {demo_range.start} to {demo_range.end}:"]
    for r in rows:
        lines.append(
            f"  {r['signups']:>4,} signed up on {_fit(r['title'] or r['post_id'], 40).rstrip()} "
            f"({_fit(r['name'] or '', 24).rstrip()}): {r['paid']:,} paid, "
            f"{r['page_views']:,} page views"
        )
    return "\n".join(lines) + "\n\n"


def deliverability_summary(warehouse: Warehouse, day: date) -> str:
    """The platform's sending reputation on `day`, as SES judges it, and the newsletters at one
    of its thresholds: what the operator of the platform wants to know before the authors."""
    rows = warehouse.query(
        f"SELECT {', '.join(_DELIVERABILITY)} FROM metrics.newsletter_deliverability "
        "WHERE date = @day AND (scope = 'platform' OR status IN ('review', 'pause')) "
        "ORDER BY scope DESC, status, newsletter_id",
        {"day": day},
    ).to_pylist()
    if not rows:
        return ""
    t = THRESHOLDS
    platform, *flagged = rows
    lines = [
        f"Deliverability (SES judges the whole platform; review at {t.bounce_review_rate:.0%} "
        f"hard bounces or {t.complaint_review_rate:.1%} complaints, pause at "
        f"{t.bounce_pause_rate:.0%} or {t.complaint_pause_rate:.1%}), {LONG_WINDOW_DAYS} days to "
        f"{day}: {_deliverability(platform)}."
    ]
    lines += [f"  {r['newsletter_id']}: {_deliverability(r)}" for r in flagged]
    if not flagged:
        lines.append(
            f"  No newsletter with at least {t.min_sends:,} emails is at a threshold "
            "(newsletter_deliverability, its ses_reputation check and deliverability_alerts)."
        )
    return "\n".join(lines) + "\n"


_DELIVERABILITY = (
    "scope", "newsletter_id", "status", "sends_30d", "hard_bounce_rate_30d",
    "complaint_rate_30d", "platform_send_share_30d",
)  # fmt: skip


def _deliverability(row: dict) -> str:
    def pct(value: float | None, digits: int) -> str:
        return "-" if value is None else f"{value:.{digits}%}"

    text = (
        f"{row['sends_30d']:,} emails, hard bounces {pct(row['hard_bounce_rate_30d'], 2)}, "
        f"complaints {pct(row['complaint_rate_30d'], 3)}: {row['status']}"
    )
    if row["scope"] == "newsletter":
        text += f", {pct(row['platform_send_share_30d'], 1)} of the platform's emails"
    return text


def _fit(text: str, width: int) -> str:
    """Cut and pad `text` to `width` terminal columns (Japanese characters take two)."""
    out, used = "", 0
    for char in text:
        size = 2 if unicodedata.east_asian_width(char) in "WF" else 1
        if used + size > width:
            break
        out, used = out + char, used + size
    return out + " " * (width - used)
