-- Every day on which any newsletter has subscribers has its ranking.
SELECT DISTINCT date
FROM metrics.newsletter_subscriber_growth
WHERE date >= @start_date AND date < @end_date
