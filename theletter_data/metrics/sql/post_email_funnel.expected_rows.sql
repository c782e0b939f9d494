-- Every post emailed on a day has its funnel row that day.
SELECT DISTINCT event_date AS date, post_id
FROM staging.stg_email_events
WHERE event_date >= @start_date AND event_date < @end_date
    AND event_type = 'send' AND post_id IS NOT NULL
