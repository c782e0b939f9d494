-- post_web_performance: one row per post per day with a human page view of it, or a signup on
-- its page (or a paid conversion of a reader who signed up there).
WITH page_views AS (
    SELECT
        event_date, event_at, event_id, newsletter_id, post_id, session_id, visitor_id,
        source_category
    FROM staging.stg_page_views
    WHERE event_date >= @start_date AND event_date < @end_date AND NOT is_bot
),

visit_sources AS (
    -- A visit comes from where its first page view came from (as newsletter_traffic_sources).
    SELECT event_date, newsletter_id, session_id, source_category
    FROM page_views
    QUALIFY ROW_NUMBER() OVER (
        PARTITION BY event_date, newsletter_id, session_id ORDER BY event_at, event_id
    ) = 1
),

post_views AS (
    -- The page views of posts (a home or list page has no post), with their visit's source.
    SELECT p.event_date, p.newsletter_id, p.post_id, p.session_id, p.visitor_id, v.source_category
    FROM page_views AS p
    INNER JOIN visit_sources AS v
        ON v.event_date = p.event_date
        AND v.newsletter_id = p.newsletter_id
        AND v.session_id = p.session_id
    WHERE p.post_id IS NOT NULL
),

views AS (
    SELECT
        event_date AS day,
        newsletter_id,
        post_id,
        COUNT(*) AS page_views,
        COUNT(DISTINCT session_id) AS visits,
        COUNT(DISTINCT visitor_id) AS unique_visitors,
        COUNT(DISTINCT IF(source_category = 'email', visitor_id, NULL)) AS email_visitors,
        COUNT(DISTINCT IF(source_category = 'direct', visitor_id, NULL)) AS direct_visitors,
        COUNT(DISTINCT IF(source_category = 'internal', visitor_id, NULL)) AS internal_visitors,
        COUNT(DISTINCT IF(source_category = 'other_newsletter', visitor_id, NULL))
            AS other_newsletter_visitors,
        COUNT(DISTINCT IF(source_category = 'search', visitor_id, NULL)) AS search_visitors,
        COUNT(DISTINCT IF(source_category = 'social', visitor_id, NULL)) AS social_visitors,
        COUNT(DISTINCT IF(source_category = 'referral', visitor_id, NULL)) AS referral_visitors
    FROM post_views
    GROUP BY event_date, newsletter_id, post_id
),

signups AS (
    -- The subscriptions that started on the post's page that day, and the paid conversions of
    -- readers who signed up there (newsletter_signup_sources: attribution by the app).
    SELECT
        date AS day,
        newsletter_id,
        post_id,
        CAST(SUM(signups) AS INT64) AS signups,
        CAST(SUM(free_signups) AS INT64) AS free_signups,
        CAST(SUM(paid_signups) AS INT64) AS paid_signups,
        CAST(SUM(paid_conversions) AS INT64) AS paid_conversions
    FROM metrics.newsletter_signup_sources
    WHERE date >= @start_date AND date < @end_date AND signup_page = 'post'
        AND post_id != '(none)'
    GROUP BY date, newsletter_id, post_id
)

SELECT
    COALESCE(v.day, s.day) AS date,
    COALESCE(v.newsletter_id, s.newsletter_id) AS newsletter_id,
    COALESCE(v.post_id, s.post_id) AS post_id,
    COALESCE(v.page_views, 0) AS page_views,
    COALESCE(v.visits, 0) AS visits,
    COALESCE(v.unique_visitors, 0) AS unique_visitors,
    COALESCE(v.email_visitors, 0) AS email_visitors,
    COALESCE(v.direct_visitors, 0) AS direct_visitors,
    COALESCE(v.internal_visitors, 0) AS internal_visitors,
    COALESCE(v.other_newsletter_visitors, 0) AS other_newsletter_visitors,
    COALESCE(v.search_visitors, 0) AS search_visitors,
    COALESCE(v.social_visitors, 0) AS social_visitors,
    COALESCE(v.referral_visitors, 0) AS referral_visitors,
    COALESCE(s.signups, 0) AS signups,
    COALESCE(s.free_signups, 0) AS free_signups,
    COALESCE(s.paid_signups, 0) AS paid_signups,
    COALESCE(s.paid_conversions, 0) AS paid_conversions
FROM views AS v
FULL OUTER JOIN signups AS s
    ON s.day = v.day AND s.newsletter_id = v.newsletter_id AND s.post_id = v.post_id
