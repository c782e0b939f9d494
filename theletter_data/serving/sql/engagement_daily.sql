-- Engagement segments per newsletter and day of the series' days up to the as-of day; days
-- without subscribers are absent.
SELECT
    newsletter_id,
    date,
    subscribers,
    active_readers,
    at_risk_readers,
    dormant_readers,
    active_share
FROM metrics.newsletter_engagement_segments
WHERE date >= @start_date AND date < @end_date
