"""newsletter_subscriber_cohorts: one row per newsletter, week and signup-week cohort (the last 26
cohorts), measured at the end of the week. Owner: creator-experience team (authors' dashboard).

Weekly cohort retention, as subscription analytics tools chart it: a cohort is the
subscriptions that started in one Monday-to-Sunday week (Japan time); its retention after k
weeks is the share of them still active at the end of the week k weeks later. Each weekly
partition adds one diagonal of the cohort triangle: for every cohort of the last 26 weeks, its
size and how many are still subscribed at the end of this week (`weeks_since_signup` = k). A
reader who leaves and returns starts a new subscription in a later cohort.
"""

from theletter_data.metrics.metric_asset import Upstream, metric_asset
from theletter_data.partitions import weekly_partitions
from theletter_data.serving.sections import CohortTriangle, DashboardSection
from theletter_data.staging.app_exports import stg_subscriptions
from theletter_data.tables import Column, Table

COHORT_WEEKS = 26
"""Each week measures the cohorts of the last 26 weeks."""
COHORT_WEEKS_SHOWN = 12
"""An author's dashboard shows those of the last 12."""

NEWSLETTER_SUBSCRIBER_COHORTS = Table(
    layer="metrics",
    name="newsletter_subscriber_cohorts",
    grain=f"one row per newsletter per week per signup-week cohort (last {COHORT_WEEKS} weeks)",
    partition_by="week_start",
    key=("week_start", "newsletter_id", "cohort_week"),
    cluster_by=("newsletter_id",),
    rate_columns=("retention_rate",),
    columns=(
        Column("week_start", "DATE", "Monday of the week at whose end retention is measured."),
        Column("newsletter_id", "STRING", "Newsletter."),
        Column("cohort_week", "DATE", "Monday of the week the subscriptions started."),
        Column("weeks_since_signup", "INT64", "Weeks from the cohort's week to this week."),
        Column("cohort_size", "INT64", "Subscriptions started in the cohort week."),
        Column("retained_subscribers", "INT64", "Of those, active at the end of this week."),
        Column("retention_rate", "FLOAT64", "retained_subscribers / cohort_size."),
    ),
)

newsletter_subscriber_cohorts = metric_asset(
    table=NEWSLETTER_SUBSCRIBER_COHORTS,
    upstream=[Upstream(stg_subscriptions)],
    params={"cohort_weeks": COHORT_WEEKS},
    description=__doc__ or "",
    partitions_def=weekly_partitions,
    section=DashboardSection(
        name="cohorts",
        order=50,
        params={"cohort_weeks_shown": COHORT_WEEKS_SHOWN},
        content=CohortTriangle(
            query="cohorts",
            title="Subscriber retention by signup week",
            description=f"Weekly signup cohorts of the last {COHORT_WEEKS_SHOWN} weeks, oldest "
            "first: retention[i] is the share still subscribed at the end of the i-th week after "
            "the signup week.",
        ),
    ),
)
