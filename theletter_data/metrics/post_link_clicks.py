"""post_link_clicks: one row per emailed post, link and Japan-time day, for the 30 days from the
post's first send (as post_email_funnel), once the link has a click; every count is cumulative
since the send. Owner: creator-experience team (authors' dashboard).

The click map of a post, as beehiiv's, Kit's and Mailchimp's link reports show it:
- a link is the clicked URL without its query string and fragment (staging drops them: they
  can carry a reader's token, and `?utm_...` variants of one page are one link), with the
  email's SES link tags (`ses:tags` on the anchor, e.g. `{"link_type":["post"]}`; the lowest
  JSON text if one URL carries several). A page named only by its query string is one link
  for all its pages: every `youtube.com/watch?v=...` of a post is `youtube.com/watch`;
- unique_clickers: distinct readers who clicked the link (Kit's and beehiiv's "unique clicks");
  total_clicks: every click on it, repeats included (Mailchimp's "total clicks");
- clicker_share: unique_clickers / post_unique_clickers, the readers who clicked any link of
  the post (Mailchimp's "percentage of unique clicks"). The shares of a post's links add up to
  more than 1 when readers click several links.
- scanner_clicks: clicks made by link scanners and security proxies, counted apart and never
  in the figures above. Mail security gateways (Microsoft Defender Safe Links, Mimecast,
  Proofpoint, Barracuda) and some providers follow every link of a message as it arrives, to
  check it; beehiiv ("verified clicks"), Kit and Mailchimp ("bot clicks") filter them the
  same way. A click is a scanner's when
  - it comes within `SCANNER_SECONDS` (60) of the email's delivery to that reader (SES's
    Delivery event; the send when no delivery was seen): a person cannot open and read an
    email and click in that time, a gateway checks links on arrival; or
  - its user agent is empty, or names a crawler, a known scanner or gateway or an HTTP
    library (`SCANNER_AGENT_PATTERN`).
  A person's later click on the same link still counts. Scanners that wait longer and look
  like a browser are not recognised: the figures then count them as readers, as the others'
  do.
- post_scanner_clicks: the post's scanner clicks over all its links.
"""

from theletter_data.metrics.metric_asset import Upstream, metric_asset
from theletter_data.metrics.post_email_funnel import FUNNEL_DAYS
from theletter_data.serving.fields import count, instant, rate, text
from theletter_data.serving.sections import (
    SERIES_DAYS,
    DashboardSection,
    PreviewColumn,
    RankedTable,
)
from theletter_data.staging.app_exports import stg_posts
from theletter_data.staging.email_events import stg_email_events
from theletter_data.tables import Column, Table

SCANNER_SECONDS = 60
"""A click within this many seconds of the email's delivery is a link scanner's."""
ROBOT_SUFFIXES = ("bot", "crawler", "spider")
"""How crawlers name themselves (`Googlebot/2.1`, `bingbot/2.0`, `Baiduspider/2.0`): matched at
a name's end, before `/`, `;` or `)`, or as a word of their own, so that a phone named
`CUBOT P50` in a browser's agent is no robot."""
SCANNER_WORDS = (
    "scanner", "python", "curl", "wget", "java", "go-http-client", "okhttp", "headlesschrome",
    "phantomjs", "barracuda", "mimecast", "proofpoint", "forcepoint", "symantec", "trendmicro",
    "sophos", "fireeye", "urldefense", "safelinks", "existence discovery", "linkchecker",
)  # fmt: skip
"""Whole words of scanners', gateways' and HTTP libraries' agents, never of a mail app or a
browser (`Microsoft Office Existence Discovery` is Office checking a link, not a person)."""
SCANNER_AGENT_PATTERN = (
    rf"(?:{'|'.join(ROBOT_SUFFIXES)})[/;)]"
    rf"|\b(?:{'|'.join((*ROBOT_SUFFIXES, *SCANNER_WORDS))})\b"
)
"""RE2, over the lower-cased user agent (the words hold no regex syntax)."""
LINKS_SHOWN = 60
"""The link report lists at most this many links (the recent posts' most clicked first)."""

POST_LINK_CLICKS = Table(
    layer="metrics",
    name="post_link_clicks",
    grain=f"one row per emailed post, link and day, for the {FUNNEL_DAYS} days from its first "
    "send, once the link has a click",
    partition_by="date",
    key=("date", "post_id", "link_url"),
    cluster_by=("newsletter_id", "post_id"),
    rate_columns=("clicker_share",),
    columns=(
        Column("date", "DATE", "Japan-time day the counts run up to (inclusive)."),
        Column("newsletter_id", "STRING", "Newsletter."),
        Column("post_id", "STRING", "Post."),
        Column("first_sent_at", "TIMESTAMP", "When the first email of the post was sent."),
        Column(
            "days_since_send", "INT64", f"Days from the first send's day (0 to {FUNNEL_DAYS - 1})."
        ),
        Column("link_url", "STRING", "The link: URL without query string or fragment."),
        Column("link_tags", "STRING", "Its SES link tags, JSON text.", required=False),
        Column("unique_clickers", "INT64", "Readers who clicked it (scanners not counted)."),
        Column("total_clicks", "INT64", "Clicks on it, repeats included (scanners not counted)."),
        Column("post_unique_clickers", "INT64", "Readers who clicked any link of the post."),
        Column(
            "clicker_share",
            "FLOAT64",
            "unique_clickers / post_unique_clickers (NULL: no reader clicked yet).",
            required=False,
        ),
        Column("scanner_clicks", "INT64", "Clicks on it by link scanners and security proxies."),
        Column("post_scanner_clicks", "INT64", "The post's scanner clicks, all links."),
    ),
)


def _link(row: dict) -> str:
    return row["link_url"].removeprefix("https://")


post_link_clicks = metric_asset(
    table=POST_LINK_CLICKS,
    upstream=[Upstream(stg_email_events, days_before=FUNNEL_DAYS)],
    params={
        "funnel_days": FUNNEL_DAYS,
        "scanner_seconds": SCANNER_SECONDS,
        "scanner_agent_pattern": SCANNER_AGENT_PATTERN,
    },
    description=__doc__ or "",
    section=DashboardSection(
        name="link_clicks",
        order=45,
        reads=(Upstream(stg_posts),),  # the titles
        content=RankedTable(
            query="link_clicks",
            title="Links clicked",
            description=f"The links of posts emailed in the last {SERIES_DAYS} days, newest "
            f"post first and its most clicked link first (at most {LINKS_SHOWN}), as they "
            f"stood on as_of or on day {FUNNEL_DAYS - 1} after the first send.",
            fields=(
                text("post_id"),
                text("title", nullable=True),
                instant("first_sent_at"),
                text("link_url"),
                text("link_tags", nullable=True, description="SES link tags, JSON text."),
                count("unique_clickers", description="Readers who clicked the link."),
                count("total_clicks", description="Clicks on the link, repeats included."),
                rate(
                    "clicker_share",
                    nullable=True,
                    description="unique_clickers / readers who clicked any link of the post.",
                ),
                count(
                    "scanner_clicks",
                    description=f"Clicks by link scanners and security proxies (within "
                    f"{SCANNER_SECONDS} s of delivery, or a scanner's user agent), not counted "
                    "above.",
                ),
            ),
            order_by=("-first_sent_at", "post_id", "-unique_clickers", "-total_clicks", "link_url"),
            limit=LINKS_SHOWN,
            columns=(
                PreviewColumn(
                    "Link",
                    _link,
                    "text",
                    sub=lambda r: r["title"] or r["post_id"],
                ),
                PreviewColumn("Readers", "unique_clickers"),
                PreviewColumn("Clicks", "total_clicks"),
                PreviewColumn("Share of clickers", "clicker_share", "percent"),
                PreviewColumn("Scanner clicks", "scanner_clicks"),
            ),
            bar="unique_clickers",
            row_id=lambda r: f"link-{r['post_id']}-{_link(r)}",
            empty=f"No link clicked in the last {SERIES_DAYS} days.",
            note=f"Readers: people who clicked. Clicks within {SCANNER_SECONDS} seconds of "
            "delivery, or from a scanner's user agent, are security gateways checking links: "
            "counted apart.",
            wide=True,
        ),
    ),
)
