-- Every post with a human page view on a day has its row that day.
SELECT DISTINCT event_date AS date, newsletter_id, post_id
FROM staging.stg_page_views
WHERE event_date >= @start_date AND event_date < @end_date AND NOT is_bot
    AND post_id IS NOT NULL
