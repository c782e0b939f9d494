-- Each newsletter's subscribers at the end of the newest day of the series it has a row for.
SELECT newsletter_id, total_subscribers, paid_subscribers
FROM metrics.newsletter_subscriber_growth
WHERE date >= @start_date AND date < @end_date
QUALIFY ROW_NUMBER() OVER (PARTITION BY newsletter_id ORDER BY date DESC) = 1
