-- Page views and distinct visitors over the last 30 and 90 days: a visitor seen on several days
-- counts once, which no sum of daily unique visitors gives.
SELECT
    newsletter_id,
    COUNTIF(event_date >= @start_30) AS page_views_30d,
    COUNT(DISTINCT IF(event_date >= @start_30, visitor_id, NULL)) AS unique_visitors_30d,
    COUNT(*) AS page_views_90d,
    COUNT(DISTINCT visitor_id) AS unique_visitors_90d
FROM staging.stg_page_views
WHERE event_date >= @start_date AND event_date < @end_date AND NOT is_bot
GROUP BY newsletter_id
