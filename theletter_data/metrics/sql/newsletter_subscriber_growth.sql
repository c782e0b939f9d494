-- newsletter_subscriber_growth: one row per newsletter per day with subscribers or a change.
WITH subscriptions AS (
    SELECT snapshot_date, newsletter_id, plan, subscribed_at, unsubscribed_at, is_active
    FROM staging.stg_subscriptions
    WHERE snapshot_date >= @start_date AND snapshot_date < @end_date
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
