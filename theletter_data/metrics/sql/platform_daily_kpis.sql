-- platform_daily_kpis: one row per day of the window, for the business overview.
WITH days AS (
    SELECT day
    FROM UNNEST(GENERATE_DATE_ARRAY(@start_date, DATE_SUB(@end_date, INTERVAL 1 DAY))) AS day
),

email_events AS (
    SELECT event_date, event_type, newsletter_id, recipient_hash, is_machine_open
    FROM staging.stg_email_events
    WHERE event_date >= @start_date AND event_date < @end_date
),

human_page_views AS (
    SELECT event_date, newsletter_id, visitor_id
    FROM staging.stg_page_views
    WHERE event_date >= @start_date AND event_date < @end_date AND NOT is_bot
),

email AS (
    SELECT
        event_date,
        COUNTIF(event_type = 'send') AS emails_sent,
        COUNTIF(event_type = 'delivery') AS emails_delivered,
        COUNTIF(event_type = 'bounce') AS emails_bounced,
        COUNTIF(event_type = 'complaint') AS spam_complaints,
        COUNT(DISTINCT IF(
            event_type = 'click' OR (event_type = 'open' AND NOT is_machine_open),
            recipient_hash, NULL
        )) AS active_readers,
        COUNT(DISTINCT IF(event_type = 'send', newsletter_id, NULL)) AS newsletters_sending
    FROM email_events
    GROUP BY event_date
),

web AS (
    SELECT event_date, COUNT(*) AS page_views, COUNT(DISTINCT visitor_id) AS unique_visitors
    FROM human_page_views
    GROUP BY event_date
),

active_newsletters AS (
    -- A newsletter is active on a day it sent an email or people read its site.
    SELECT event_date, COUNT(DISTINCT newsletter_id) AS newsletters_active
    FROM (
        SELECT event_date, newsletter_id FROM email_events WHERE event_type = 'send'
        UNION DISTINCT
        SELECT event_date, newsletter_id FROM human_page_views
    ) AS activity
    GROUP BY event_date
),

as_of AS (
    -- Each day's subscriptions as of its end (the one definition, put in when the SQL is read):
    /* include shared/subscriptions_as_of.sql */
),

subscriptions AS (
    SELECT
        day AS snapshot_date,
        COUNTIF(subscribed_on = day) AS new_subscriptions,
        COUNTIF(unsubscribed_on = day) AS ended_subscriptions,
        COUNTIF(is_active) AS active_subscriptions,
        COUNTIF(is_active AND plan = 'paid') AS paid_subscriptions,
        COUNT(DISTINCT IF(is_active, reader_hash, NULL)) AS subscribed_readers
    FROM as_of
    GROUP BY day
),

newsletters AS (
    SELECT snapshot_date, COUNT(*) AS newsletters_total
    FROM staging.stg_newsletters
    WHERE snapshot_date >= @start_date AND snapshot_date < @end_date
    GROUP BY snapshot_date
),

posts AS (
    SELECT
        snapshot_date,
        COUNTIF(status = 'published' AND DATE(published_at, @timezone) = snapshot_date)
            AS posts_published
    FROM staging.stg_posts
    WHERE snapshot_date >= @start_date AND snapshot_date < @end_date
    GROUP BY snapshot_date
)

SELECT
    d.day AS date,
    COALESCE(e.active_readers, 0) AS active_readers,
    COALESCE(w.unique_visitors, 0) AS unique_visitors,
    COALESCE(w.page_views, 0) AS page_views,
    COALESCE(e.emails_sent, 0) AS emails_sent,
    COALESCE(e.emails_delivered, 0) AS emails_delivered,
    COALESCE(e.emails_bounced, 0) AS emails_bounced,
    COALESCE(e.spam_complaints, 0) AS spam_complaints,
    SAFE_DIVIDE(e.emails_bounced, e.emails_sent) AS bounce_rate,
    SAFE_DIVIDE(e.spam_complaints, e.emails_delivered) AS complaint_rate,
    COALESCE(n.newsletters_total, 0) AS newsletters_total,
    COALESCE(a.newsletters_active, 0) AS newsletters_active,
    COALESCE(e.newsletters_sending, 0) AS newsletters_sending,
    COALESCE(p.posts_published, 0) AS posts_published,
    COALESCE(s.new_subscriptions, 0) AS new_subscriptions,
    COALESCE(s.ended_subscriptions, 0) AS ended_subscriptions,
    COALESCE(s.active_subscriptions, 0) AS active_subscriptions,
    COALESCE(s.paid_subscriptions, 0) AS paid_subscriptions,
    COALESCE(s.subscribed_readers, 0) AS subscribed_readers
FROM days AS d
LEFT JOIN email AS e ON e.event_date = d.day
LEFT JOIN web AS w ON w.event_date = d.day
LEFT JOIN active_newsletters AS a ON a.event_date = d.day
LEFT JOIN subscriptions AS s ON s.snapshot_date = d.day
LEFT JOIN newsletters AS n ON n.snapshot_date = d.day
LEFT JOIN posts AS p ON p.snapshot_date = d.day
