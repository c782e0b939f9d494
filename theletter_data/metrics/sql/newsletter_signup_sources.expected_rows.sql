-- Every newsletter with a subscription started on a day has its rows that day.
WITH days AS (
    SELECT day
    FROM UNNEST(GENERATE_DATE_ARRAY(@start_date, DATE_SUB(@end_date, INTERVAL 1 DAY))) AS day
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

as_of AS (
    -- Each day's subscriptions as of its end: the day's snapshot of the app's.
    SELECT d.day, v.*
    FROM days AS d
    INNER JOIN versions AS v
        ON v.valid_from <= d.day AND (v.valid_to IS NULL OR v.valid_to > d.day)
    WHERE v.change != 'deleted'
)

SELECT DISTINCT day AS date, newsletter_id
FROM as_of
WHERE DATE(subscribed_at, @timezone) = day
