-- Every newsletter with a subscriber, or a subscription that started or ended, on a day has its
-- row that day.
SELECT DISTINCT snapshot_date AS date, newsletter_id
FROM staging.stg_subscriptions
WHERE snapshot_date >= @start_date AND snapshot_date < @end_date
    AND (
        is_active
        OR DATE(subscribed_at, @timezone) = snapshot_date
        OR DATE(unsubscribed_at, @timezone) = snapshot_date
    )
