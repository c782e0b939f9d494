-- Human traffic per newsletter and day of the series' days up to the as-of day; days without any
-- are absent.
SELECT newsletter_id, date, page_views, unique_visitors, visits
FROM metrics.newsletter_daily_traffic
WHERE date >= @start_date AND date < @end_date
