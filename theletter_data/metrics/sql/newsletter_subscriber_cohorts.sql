-- newsletter_subscriber_cohorts: for each week of the window (Mondays), one row per newsletter
-- and signup-week cohort of the last cohort_weeks weeks, measured on the snapshot of the week's
-- Sunday.
WITH weeks AS (
    SELECT week_start
    FROM UNNEST(
        GENERATE_DATE_ARRAY(@start_date, DATE_SUB(@end_date, INTERVAL 1 DAY), INTERVAL 7 DAY)
    ) AS week_start
),

days AS (
    -- The Sunday that ends each week (the window is whole weeks).
    SELECT DATE_ADD(week_start, INTERVAL 6 DAY) AS day
    FROM weeks
    WHERE DATE_ADD(week_start, INTERVAL 6 DAY) < @end_date
),

as_of AS (
    -- Each Sunday's subscriptions as of its end (the one definition, put in when the SQL is
    -- read):
    /* include shared/subscriptions_as_of.sql */
),

week_end_snapshots AS (
    -- (CAST: DuckDB's date minus an interval is a timestamp.)
    SELECT
        CAST(DATE_SUB(day, INTERVAL 6 DAY) AS DATE) AS week_start,
        newsletter_id,
        subscribed_on,
        is_active
    FROM as_of
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
                INTERVAL DIV(DATE_DIFF(subscribed_on, DATE '2000-01-03', DAY), 7)
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
