-- newsletter_traffic_sources: one row per newsletter, day, source category and referring domain.
WITH page_views AS (
    SELECT
        event_date, event_at, event_id, newsletter_id, session_id, visitor_id,
        source_category, referrer_domain
    FROM staging.stg_page_views
    WHERE event_date >= @start_date AND event_date < @end_date AND NOT is_bot
),

visit_sources AS (
    -- A visit comes from where its first page view came from.
    SELECT event_date, newsletter_id, session_id, source_category, referrer_domain
    FROM page_views
    QUALIFY ROW_NUMBER() OVER (
        PARTITION BY event_date, newsletter_id, session_id ORDER BY event_at, event_id
    ) = 1
),

attributed AS (
    SELECT
        p.event_date,
        p.newsletter_id,
        p.session_id,
        p.visitor_id,
        v.source_category,
        COALESCE(v.referrer_domain, '(none)') AS referrer_domain
    FROM page_views AS p
    INNER JOIN visit_sources AS v
        ON v.event_date = p.event_date
        AND v.newsletter_id = p.newsletter_id
        AND v.session_id = p.session_id
)

SELECT
    event_date AS date,
    newsletter_id,
    source_category,
    referrer_domain,
    COUNT(*) AS page_views,
    COUNT(DISTINCT session_id) AS visits,
    COUNT(DISTINCT visitor_id) AS unique_visitors
FROM attributed
GROUP BY event_date, newsletter_id, source_category, referrer_domain
