"""newsletter_traffic_sources: one row per newsletter, Japan-time day, traffic source and
referring domain. Owner: creator-experience team (authors' dashboard).

Where readers come from, as Ghost's and Plausible's "Sources" report it: every visit is
attributed to the source of its first page view (its landing page), and all page views of the
visit count for that source. Sources (staging/referrers.py): email (links in theLetter emails or
webmail), direct (no referrer), search, social, other_newsletter (another newsletter or page on
theLetter), referral (any other site), internal (a visit that starts from the newsletter's own
pages, e.g. after 30 idle minutes). `referrer_domain` is '(none)' when there was no referrer.
Human traffic only.

- page views: page views of the visits from this source and domain.
- visits: visits that landed from this source and domain.
- unique visitors: distinct visitors among them (a visitor arriving from two sources counts for
  both, so unique visitors do not add up across sources).
"""

from theletter_data.metrics.metric_asset import Upstream, metric_asset
from theletter_data.serving.fields import category, count, text
from theletter_data.serving.sections import (
    SHORT_PERIOD_DAYS,
    Constant,
    DashboardSection,
    PreviewColumn,
    RankedTable,
)
from theletter_data.staging.page_views import stg_page_views
from theletter_data.staging.referrers import SOURCE_CATEGORIES
from theletter_data.tables import Column, Table

NEWSLETTER_TRAFFIC_SOURCES = Table(
    layer="metrics",
    name="newsletter_traffic_sources",
    grain="one row per newsletter per day per source category per referring domain",
    partition_by="date",
    key=("date", "newsletter_id", "source_category", "referrer_domain"),
    cluster_by=("newsletter_id",),
    columns=(
        Column("date", "DATE", "Japan-time day."),
        Column("newsletter_id", "STRING", "Newsletter."),
        Column("source_category", "STRING", "Traffic source.", accepted_values=SOURCE_CATEGORIES),
        Column("referrer_domain", "STRING", "Referring domain, or '(none)'."),
        Column("page_views", "INT64", "Page views of visits from this source."),
        Column("visits", "INT64", "Visits that landed from this source."),
        Column("unique_visitors", "INT64", "Distinct visitors among those visits."),
    ),
)

TOP_REFERRERS = 10
SOURCE_LABELS = {
    "email": "Email", "direct": "Direct", "internal": "Within the site",
    "other_newsletter": "Other newsletters", "search": "Search", "social": "Social",
    "referral": "Other sites",
}  # fmt: skip
"""What the preview calls each source category."""

newsletter_traffic_sources = metric_asset(
    table=NEWSLETTER_TRAFFIC_SOURCES,
    upstream=[Upstream(stg_page_views)],
    description=__doc__ or "",
    section=DashboardSection(
        name="traffic_sources",
        order=30,
        content=(
            Constant(key="days", constant=SHORT_PERIOD_DAYS),
            RankedTable(
                key="by_category",
                query="traffic_by_category",
                title=f"Where visits came from, last {SHORT_PERIOD_DAYS} days",
                description="Page views and visits by where the visit came from, most first.",
                fields=(
                    category("category", SOURCE_CATEGORIES, "source_category"),
                    count("page_views"),
                    count("visits"),
                ),
                order_by=("-page_views", "source_category"),
                columns=(
                    PreviewColumn("Source", lambda c: SOURCE_LABELS[c["category"]], "text"),
                    PreviewColumn("Page views", "page_views"),
                    PreviewColumn("Visits", "visits"),
                ),
                bar="page_views",
                empty="No visits yet.",
            ),
            RankedTable(
                key="top_referrers",
                query="top_referrers",
                title=f"Top referring sites, last {SHORT_PERIOD_DAYS} days",
                description=f"The {TOP_REFERRERS} referring domains with most page views.",
                fields=(
                    text("domain", "referrer_domain"),
                    text("category", "source_category"),
                    count("page_views"),
                    count("visits"),
                ),
                order_by=("-page_views", "referrer_domain"),
                limit=TOP_REFERRERS,
                columns=(
                    PreviewColumn("Site", "domain", "text"),
                    PreviewColumn("Page views", "page_views"),
                    PreviewColumn("Visits", "visits"),
                ),
                empty="No referring sites.",
            ),
        ),
    ),
)
