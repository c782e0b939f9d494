"""post_web_performance: one row per post per Japan-time day with a human page view of it, or a
signup on its page. Owner: creator-experience team (authors' dashboard).

How a post does on the web, as Ghost's post analytics ("visitors", "free members", "paid
members" of a post) and Substack's post stats ("views", "subscribers from this post") show it.
A page view is of a post when the beacon names the post (stg_page_views.post_id: a post's page;
the home and list pages name none). Human traffic only.

- page_views: views of the post's page.
- visits: visits (sessions) that viewed it; unique_visitors: distinct visitors among them.
- <source>_visitors: distinct visitors whose visit came from that traffic source, categorised
  as newsletter_traffic_sources does (staging/referrers.py): a visit comes from the source of
  its first page view (its landing page), so a reader who arrives on the home page from search
  and then opens the post counts as a search visitor of the post. A visitor who came twice from
  two sources counts for both: the sources do not add up to unique_visitors.
- signups, free_signups, paid_signups, paid_conversions: the subscriptions that started on the
  post's page that day (free and paid by their plan at the end of the day) and the paid
  conversions, that day, of readers who had signed up there, as newsletter_signup_sources
  attributes them (the app records the page the reader signed up on, as Ghost attributes a
  member to the post they signed up from and Substack counts "subscribers from this post").
  A post's row can hold signups without page views: the reader's browser may block the beacon.
"""

from theletter_data.metrics.metric_asset import Upstream, metric_asset
from theletter_data.metrics.newsletter_signup_sources import newsletter_signup_sources
from theletter_data.serving.fields import count, text
from theletter_data.serving.sections import (
    SHORT_PERIOD_DAYS,
    Constant,
    DashboardSection,
    PreviewColumn,
    RankedTable,
)
from theletter_data.staging.app_exports import stg_posts
from theletter_data.staging.page_views import stg_page_views
from theletter_data.staging.referrers import SOURCE_CATEGORIES
from theletter_data.tables import Column, Table

TOP_POSTS = 10
"""The dashboard lists this many posts that brought subscribers."""

POST_WEB_PERFORMANCE = Table(
    layer="metrics",
    name="post_web_performance",
    grain="one row per post per day with a human page view of it or a signup on its page",
    partition_by="date",
    key=("date", "newsletter_id", "post_id"),
    cluster_by=("newsletter_id",),
    columns=(
        Column("date", "DATE", "Japan-time day."),
        Column("newsletter_id", "STRING", "Newsletter of the post."),
        Column("post_id", "STRING", "Post."),
        Column("page_views", "INT64", "Human views of the post's page."),
        Column("visits", "INT64", "Visits that viewed it."),
        Column("unique_visitors", "INT64", "Distinct visitors among them."),
        *(
            Column(f"{c}_visitors", "INT64", f"Visitors whose visit came from {c}.")
            for c in SOURCE_CATEGORIES
        ),
        Column("signups", "INT64", "Subscriptions started on the post's page."),
        Column("free_signups", "INT64", "Of them, on the free plan at the end of the day."),
        Column("paid_signups", "INT64", "Of them, on the paid plan at the end of the day."),
        Column("paid_conversions", "INT64", "Readers who signed up on the post and turned paid."),
    ),
)


def _post(row: dict) -> str:
    return row["title"] or row["post_id"]


post_web_performance = metric_asset(
    table=POST_WEB_PERFORMANCE,
    upstream=[Upstream(stg_page_views), Upstream(newsletter_signup_sources)],
    description=__doc__ or "",
    section=DashboardSection(
        name="signup_posts",
        order=36,
        reads=(Upstream(stg_posts),),  # the titles
        description="The posts on whose page readers subscribed (as the app recorded it), and "
        "the upgrades to paid of readers who signed up there.",
        content=(
            Constant(key="days", constant=SHORT_PERIOD_DAYS),
            RankedTable(
                key="posts",
                query="signup_posts",
                title=f"Posts that brought subscribers, last {SHORT_PERIOD_DAYS} days",
                description=f"The {TOP_POSTS} posts on whose page most readers subscribed, "
                "with the paid conversions of readers who signed up there.",
                fields=(
                    text("post_id"),
                    text("title", nullable=True),
                    count("signups"),
                    count("free_signups"),
                    count("paid_signups"),
                    count("paid_conversions"),
                    count("page_views"),
                ),
                order_by=("-signups", "-paid_conversions", "-page_views", "post_id"),
                limit=TOP_POSTS,
                columns=(
                    PreviewColumn("Post", _post, "text"),
                    PreviewColumn("Signups", "signups"),
                    PreviewColumn("Free", "free_signups"),
                    PreviewColumn("Paid", "paid_signups"),
                    PreviewColumn("Upgraded to paid", "paid_conversions"),
                    PreviewColumn("Page views", "page_views"),
                ),
                bar="signups",
                wide=True,  # titles need the page's width
                row_id=lambda r: f"signup-post-{r['post_id']}",
                empty="No subscriber signed up on a post's page yet.",
                note="A reader is credited to the post whose page they subscribed on; upgrades "
                "to paid are credited to where the reader first signed up.",
            ),
        ),
    ),
)
