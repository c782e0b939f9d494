-- newsletter_daily_traffic: one row per newsletter per day with at least one human page view.
WITH page_views AS (
    SELECT event_date, newsletter_id, post_id, visitor_id, session_id, is_bot
    FROM staging.stg_page_views
    WHERE event_date >= @start_date AND event_date < @end_date
),

bot_views AS (
    SELECT event_date, newsletter_id, COUNT(*) AS bot_page_views
    FROM page_views
    WHERE is_bot
    GROUP BY event_date, newsletter_id
),

human_views AS (
    SELECT
        event_date,
        newsletter_id,
        COUNT(*) AS page_views,
        COUNT(DISTINCT visitor_id) AS unique_visitors,
        COUNT(DISTINCT session_id) AS visits,
        COUNTIF(post_id IS NOT NULL) AS post_page_views
    FROM page_views
    WHERE NOT is_bot
    GROUP BY event_date, newsletter_id
)

SELECT
    h.event_date AS date,
    h.newsletter_id,
    h.page_views,
    h.unique_visitors,
    h.visits,
    h.post_page_views,
    COALESCE(b.bot_page_views, 0) AS bot_page_views,
    SAFE_DIVIDE(h.page_views, h.visits) AS page_views_per_visit
FROM human_views AS h
LEFT JOIN bot_views AS b
    ON b.event_date = h.event_date AND b.newsletter_id = h.newsletter_id
