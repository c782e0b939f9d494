-- Each post emailed in the series' days up to the as-of day, with its funnel as it stood on its
-- newest day (the funnel's last once its window has closed) and its title from the newest posts
-- export.
WITH latest AS (
    SELECT *
    FROM metrics.post_email_funnel
    WHERE date >= @start_date AND date < @end_date
    QUALIFY ROW_NUMBER() OVER (PARTITION BY post_id ORDER BY date DESC) = 1
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
    latest.days_since_send,
    latest.sent,
    latest.delivered,
    latest.unique_human_opens,
    latest.unique_machine_opens,
    latest.unique_clicks,
    latest.unsubscribes,
    latest.bounced,
    latest.complained,
    latest.delivery_rate,
    latest.open_rate,
    latest.human_open_rate,
    latest.click_rate,
    latest.click_to_open_rate,
    latest.unsubscribe_rate
FROM latest
LEFT JOIN titles ON titles.post_id = latest.post_id
