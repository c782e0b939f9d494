-- newsletter_subscriber_cohorts: for each week of the window (Mondays), one row per newsletter
-- and signup-week cohort of the last cohort_weeks weeks, measured on the snapshot of the week's
-- Sunday.
WITH weeks AS (
    SELECT week_start
    FROM UNNEST(
        GENERATE_DATE_ARRAY(@start_date, DATE_SUB(@end_date, INTERVAL 1 DAY), INTERVAL 7 DAY)
    ) AS week_start
),

versions AS (
    -- stg_subscriptions holds each subscription's changes (staging/snapshot_changes.py): a
    -- version is valid from its day until the subscription's next row; a deletion ends it.
    SELECT
        *,
        LEAD(valid_from) OVER (PARTITION BY subscription_id ORDER BY valid_from) AS valid_to
    FROM staging.stg_subscriptions
    WHERE valid_from < @end_date
),

week_end_snapshots AS (
    -- The subscriptions as of the week's Sunday (the versions valid at its end).
    SELECT w.week_start, v.newsletter_id, v.subscribed_at, v.is_active
    FROM weeks AS w
    INNER JOIN versions AS v
        ON v.valid_from <= DATE_ADD(w.week_start, INTERVAL 6 DAY)
        AND (v.valid_to IS NULL OR v.valid_to > DATE_ADD(w.week_start, INTERVAL 6 DAY))
    WHERE DATE_ADD(w.week_start, INTERVAL 6 DAY) < @end_date AND v.change != 'deleted'
),

cohorts AS (
    -- The Monday that starts the Japan-time week of the signup: whole weeks counted from a known
    -- Monday (2000-01-03), which every engine computes alike (DATE_TRUNC(..., WEEK(MONDAY))
    -- differs between BigQuery, DuckDB and the emulator).
    SELECT
        week_start,
        newsletter_id,
        CAST(
            DATE_ADD(
                DATE '2000-01-03',
                INTERVAL DIV(DATE_DIFF(DATE(subscribed_at, @timezone), DATE '2000-01-03', DAY), 7)
                * 7 DAY
            ) AS DATE
        ) AS cohort_week,
        is_active
    FROM week_end_snapshots
)

SELECT
    week_start,
    newsletter_id,
    cohort_week,
    CAST(DATE_DIFF(week_start, cohort_week, DAY) / 7 AS INT64) AS weeks_since_signup,
    COUNT(*) AS cohort_size,
    COUNTIF(is_active) AS retained_subscribers,
    SAFE_DIVIDE(COUNTIF(is_active), COUNT(*)) AS retention_rate
FROM cohorts
WHERE cohort_week > DATE_SUB(week_start, INTERVAL @cohort_weeks WEEK)
    AND cohort_week <= week_start
GROUP BY week_start, newsletter_id, cohort_week
