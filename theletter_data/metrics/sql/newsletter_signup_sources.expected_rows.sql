-- Every newsletter with a subscription started on a day has its rows that day.
WITH days AS (
    SELECT day
    FROM UNNEST(GENERATE_DATE_ARRAY(@start_date, DATE_SUB(@end_date, INTERVAL 1 DAY))) AS day
),

as_of AS (
    -- Each day's subscriptions as of its end (the one definition, put in when the SQL is read):
    /* include shared/subscriptions_as_of.sql */
)

SELECT DISTINCT day AS date, newsletter_id
FROM as_of
WHERE subscribed_on = day
