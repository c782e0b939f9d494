-- Every newsletter, day and currency with a payment event has its row.
SELECT DISTINCT event_date AS date, newsletter_id, currency
FROM staging.stg_payment_events
WHERE event_date >= @start_date AND event_date < @end_date
