-- The links of each post emailed in the series' days up to the as-of day, as they stood on the
-- post's newest day (the funnel's last once its window has closed), with the post's title from
-- the newest posts export.
WITH latest AS (
    SELECT *
    FROM metrics.post_link_clicks
    WHERE date >= @start_date AND date < @end_date
    QUALIFY ROW_NUMBER() OVER (PARTITION BY post_id, link_url ORDER BY date DESC) = 1
),

titles AS (
    -- The newest posts export up to the as-of day (the export is daily).
    SELECT post_id, title
    FROM staging.stg_posts
    WHERE snapshot_date > DATE_SUB(@as_of, INTERVAL @export_days DAY) AND snapshot_date <= @as_of
    QUALIFY snapshot_date = MAX(snapshot_date) OVER ()
)

SELECT
    latest.newsletter_id,
    latest.post_id,
    titles.title,
    latest.first_sent_at,
    latest.link_url,
    latest.link_tags,
    latest.unique_clickers,
    latest.total_clicks,
    latest.clicker_share,
    latest.scanner_clicks
FROM latest
LEFT JOIN titles ON titles.post_id = latest.post_id
