-- Subscriber growth per newsletter and day of the series' days up to the as-of day.
SELECT
    newsletter_id,
    date,
    new_subscribers,
    lost_subscribers,
    net_change,
    total_subscribers,
    paid_subscribers
FROM metrics.newsletter_subscriber_growth
WHERE date >= @start_date AND date < @end_date
