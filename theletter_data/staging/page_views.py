"""stg_page_views: one row per page view, on the Japan-time day it happened. Owner: platform team.

Typed from the site's first-party beacon, first delivered copy of each `event_id`. The URL is
reduced to its path (query strings can carry personal data; UTM tags are kept in their own
columns), the referrer to a normalised domain (lower case, no `www.`) and a traffic-source
category (staging/referrers.py). Automated clients are kept and flagged `is_bot` so that bot
traffic stays countable; metrics exclude it.
"""

from __future__ import annotations

from theletter_data.raw.assets import raw_page_views
from theletter_data.raw.sources import PAGE_VIEWS
from theletter_data.sql import read_sql
from theletter_data.staging import referrers
from theletter_data.staging.lines.asset import line_stream_asset
from theletter_data.staging.lines.declaration import LineStaging
from theletter_data.tables import Column, Table

DEVICE_TYPES = ("mobile", "tablet", "desktop", "bot")

STG_PAGE_VIEWS = Table(
    layer="staging",
    name="stg_page_views",
    grain="one row per page view",
    partition_by="event_date",
    key=("event_date", "event_id"),
    cluster_by=("newsletter_id",),
    columns=(
        Column("event_date", "DATE", "Japan-time day of the page view."),
        Column("event_at", "TIMESTAMP", "When the page was viewed (UTC)."),
        Column("event_id", "STRING", "The beacon's id of the page view."),
        Column("newsletter_id", "STRING", "Newsletter whose site was viewed."),
        Column("post_id", "STRING", "Post viewed; NULL on home and list pages.", required=False),
        Column("url_path", "STRING", "Path of the page, without query string."),
        Column("referrer_domain", "STRING", "Referring domain, no www.", required=False),
        Column(
            "source_category",
            "STRING",
            "Traffic source of this page view (staging/referrers.py).",
            accepted_values=referrers.SOURCE_CATEGORIES,
        ),
        Column("utm_source", "STRING", "utm_source of the URL.", required=False),
        Column("utm_medium", "STRING", "utm_medium of the URL.", required=False),
        Column("utm_campaign", "STRING", "utm_campaign of the URL.", required=False),
        Column("visitor_id", "STRING", "Anonymous first-party visitor id."),
        Column("session_id", "STRING", "Visit id (new after 30 minutes idle)."),
        Column("device_type", "STRING", "Device class.", accepted_values=DEVICE_TYPES),
        Column("is_bot", "BOOL", "An automated client (crawler, preview, script)."),
        Column("source_object", "STRING", "Lake key of the object the view was read from."),
    ),
)

PAGE_VIEW_EVENTS = LineStaging(
    stream=PAGE_VIEWS,
    table=STG_PAGE_VIEWS,
    projection_sql=read_sql(__file__, "page_views"),
    patterns=referrers.sql_patterns(),
)

stg_page_views = line_stream_asset(
    PAGE_VIEW_EVENTS, upstream=raw_page_views, description=__doc__ or ""
)
