-- Page views and distinct visitors over the short period and over the series' days: a visitor seen
-- on several days counts once, which no sum of daily unique visitors gives.
SELECT
    newsletter_id,
    COUNTIF(event_date >= @start_30) AS page_views_short_period,
    COUNT(DISTINCT IF(event_date >= @start_30, visitor_id, NULL)) AS unique_visitors_short_period,
    COUNT(*) AS page_views_series,
    COUNT(DISTINCT visitor_id) AS unique_visitors_series
FROM staging.stg_page_views
WHERE event_date >= @start_date AND event_date < @end_date AND NOT is_bot
GROUP BY newsletter_id
