-- Page views and visits over the short period per newsletter and traffic source.
SELECT
    newsletter_id,
    source_category,
    CAST(SUM(page_views) AS INT64) AS page_views,
    CAST(SUM(visits) AS INT64) AS visits
FROM metrics.newsletter_traffic_sources
WHERE date >= @start_30 AND date < @end_date
GROUP BY newsletter_id, source_category
