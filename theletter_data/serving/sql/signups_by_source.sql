-- Subscriptions started over the short period per newsletter and the traffic source of the
-- visit the reader signed up in (or import / not recorded), free and paid apart.
SELECT
    newsletter_id,
    source_category,
    CAST(SUM(signups) AS INT64) AS signups,
    CAST(SUM(free_signups) AS INT64) AS free_signups,
    CAST(SUM(paid_signups) AS INT64) AS paid_signups,
    CAST(SUM(paid_conversions) AS INT64) AS paid_conversions
FROM metrics.newsletter_signup_sources AS s
WHERE date >= @start_30 AND date < @end_date
GROUP BY newsletter_id, source_category
-- Qualified: unqualified, BigQuery reads `signups` as the aggregate named so above.
HAVING SUM(s.signups) + SUM(s.paid_conversions) > 0
