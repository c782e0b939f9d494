-- Each newsletter's engagement segments on the as-of day (none without subscribers that day).
SELECT newsletter_id, engagement_days_seen
FROM metrics.newsletter_engagement_segments
WHERE date = @as_of
