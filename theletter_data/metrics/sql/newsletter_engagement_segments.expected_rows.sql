-- Every newsletter with an active subscription at the end of a day has its row that day.
SELECT DISTINCT snapshot_date AS date, newsletter_id
FROM staging.stg_subscriptions
WHERE snapshot_date >= @start_date AND snapshot_date < @end_date AND is_active
