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
from theletter_data.sql import read_sql
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

newsletter_traffic_sources = metric_asset(
    table=NEWSLETTER_TRAFFIC_SOURCES,
    sql=read_sql(__file__, "newsletter_traffic_sources"),
    expected_rows_sql=read_sql(__file__, "newsletter_traffic_sources.expected_rows"),
    upstream=[Upstream(stg_page_views)],
    description=__doc__ or "",
)
