-- newsletter_subscriber_growth: one row per newsletter per day with subscribers or a change.
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
),

subscriptions AS (
    SELECT day AS snapshot_date, newsletter_id, plan, subscribed_at, unsubscribed_at, is_active
    FROM as_of
),

daily AS (
    SELECT
        snapshot_date,
        newsletter_id,
        COUNTIF(DATE(subscribed_at, @timezone) = snapshot_date) AS new_subscribers,
        COUNTIF(DATE(unsubscribed_at, @timezone) = snapshot_date) AS lost_subscribers,
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
