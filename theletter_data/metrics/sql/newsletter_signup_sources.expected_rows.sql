-- Every newsletter with a subscription started on a day has its rows that day.
SELECT DISTINCT snapshot_date AS date, newsletter_id
FROM staging.stg_subscriptions
WHERE snapshot_date >= @start_date AND snapshot_date < @end_date
    AND DATE(subscribed_at, @timezone) = snapshot_date
