-- Weekly signup cohorts of the weeks shown up to the as-of day: each cohort's retention at the end
-- of every week since it signed up (a triangle).
SELECT
    newsletter_id,
    cohort_week,
    week_start,
    weeks_since_signup,
    cohort_size,
    retained_subscribers,
    retention_rate
FROM metrics.newsletter_subscriber_cohorts
WHERE week_start <= @as_of
    AND week_start > DATE_SUB(@as_of, INTERVAL @cohort_weeks_shown WEEK)
    AND cohort_week > DATE_SUB(@as_of, INTERVAL @cohort_weeks_shown WEEK)
