-- newsletter_subscriber_growth: one row per newsletter per day with subscribers or a change.
WITH days AS (
    SELECT day
    FROM UNNEST(GENERATE_DATE_ARRAY(@start_date, DATE_SUB(@end_date, INTERVAL 1 DAY))) AS day
),

as_of AS (
    -- Each day's subscriptions as of its end (the one definition, put in when the SQL is read):
    /* include shared/subscriptions_as_of.sql */
),

subscriptions AS (
    SELECT day AS snapshot_date, newsletter_id, plan, subscribed_on, unsubscribed_on, is_active
    FROM as_of
),

daily AS (
    SELECT
        snapshot_date,
        newsletter_id,
        COUNTIF(subscribed_on = snapshot_date) AS new_subscribers,
        COUNTIF(unsubscribed_on = snapshot_date) AS lost_subscribers,
        COUNTIF(is_active) AS total_subscribers,
        COUNTIF(is_active AND plan = 'paid') AS paid_subscribers
    FROM subscriptions
    GROUP BY snapshot_date, newsletter_id
)

SELECT
    snapshot_date AS date,
    newsletter_id,
    new_subscribers,
    lost_subscribers,
    new_subscribers - lost_subscribers AS net_change,
    total_subscribers,
    paid_subscribers
FROM daily
WHERE total_subscribers > 0 OR new_subscribers > 0 OR lost_subscribers > 0
