-- The engagement segments of each newsletter on the as-of day, one row per segment in the order
-- shown: active, at risk, dormant.
WITH latest AS (
    SELECT *
    FROM metrics.newsletter_engagement_segments
    WHERE date = @as_of
)

SELECT
    newsletter_id, 1 AS position, 'active' AS segment, active_readers AS readers,
    active_share AS share, active_change_7d AS change_7d
FROM latest
UNION ALL
SELECT
    newsletter_id, 2, 'at_risk', at_risk_readers, at_risk_share, at_risk_change_7d
FROM latest
UNION ALL
SELECT
    newsletter_id, 3, 'dormant', dormant_readers, dormant_share, dormant_change_7d
FROM latest
