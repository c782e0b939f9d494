-- Page views and visits over the short period per newsletter and referring domain (visits without
-- a referrer left out).
SELECT
    newsletter_id,
    referrer_domain,
    source_category,
    CAST(SUM(page_views) AS INT64) AS page_views,
    CAST(SUM(visits) AS INT64) AS visits
FROM metrics.newsletter_traffic_sources
WHERE date >= @start_30 AND date < @end_date AND referrer_domain != '(none)'
GROUP BY newsletter_id, referrer_domain, source_category
