-- The posts that brought subscribers over the short period: per post, the subscriptions started
-- on its page and the paid conversions of readers who signed up there, with its page views and
-- its title from the newest posts export.
WITH posts AS (
    SELECT
        newsletter_id,
        post_id,
        CAST(SUM(signups) AS INT64) AS signups,
        CAST(SUM(free_signups) AS INT64) AS free_signups,
        CAST(SUM(paid_signups) AS INT64) AS paid_signups,
        CAST(SUM(paid_conversions) AS INT64) AS paid_conversions,
        CAST(SUM(page_views) AS INT64) AS page_views
    FROM metrics.post_web_performance AS p
    WHERE date >= @start_30 AND date < @end_date
    GROUP BY newsletter_id, post_id
    -- Qualified: unqualified, BigQuery reads `signups` as the aggregate named so above.
    HAVING SUM(p.signups) + SUM(p.paid_conversions) > 0
),

titles AS (
    -- The newest posts export up to the as-of day (the export is daily).
    SELECT post_id, title
    FROM staging.stg_posts
    WHERE snapshot_date > DATE_SUB(@as_of, INTERVAL @export_days DAY) AND snapshot_date <= @as_of
    QUALIFY snapshot_date = MAX(snapshot_date) OVER ()
)

SELECT posts.*, titles.title
FROM posts
LEFT JOIN titles ON titles.post_id = posts.post_id
