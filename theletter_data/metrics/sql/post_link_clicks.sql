-- post_link_clicks: one row per emailed post, link and day, for the funnel's days from its first
-- send, once the link has a click; counts are cumulative since the send.
WITH events AS (
    -- One day more than the funnel's days: a send that crosses midnight starts the day before.
    SELECT
        event_date, event_at, event_type, newsletter_id, post_id, message_id, recipient_hash,
        sent_at, link_url, link_tags, user_agent
    FROM staging.stg_email_events
    WHERE event_date >= DATE_SUB(@start_date, INTERVAL @funnel_days DAY)
        AND event_date < @end_date
        AND post_id IS NOT NULL
        AND event_type NOT IN ('reject', 'rendering_failure')
),

posts AS (
    -- As post_email_funnel: every event carries its message's send time.
    SELECT
        newsletter_id,
        post_id,
        MIN(sent_at) AS first_sent_at,
        DATE(MIN(sent_at), @timezone) AS first_send_date
    FROM events
    GROUP BY newsletter_id, post_id
),

deliveries AS (
    SELECT message_id, recipient_hash, MIN(event_at) AS delivered_at
    FROM events
    WHERE event_type = 'delivery'
    GROUP BY message_id, recipient_hash
),

clicks AS (
    -- A scanner's click: within seconds of the email's arrival (its send when no delivery was
    -- seen), or with a scanner's or an HTTP library's user agent, or none.
    SELECT
        c.event_date,
        c.post_id,
        c.recipient_hash,
        c.link_url,
        c.link_tags,
        c.user_agent IS NULL
            OR REGEXP_CONTAINS(LOWER(c.user_agent), @scanner_agent_pattern)
            OR TIMESTAMP_DIFF(c.event_at, COALESCE(d.delivered_at, c.sent_at), SECOND)
                < @scanner_seconds
            AS is_scanner
    FROM events AS c
    LEFT JOIN deliveries AS d
        ON d.message_id = c.message_id AND d.recipient_hash = c.recipient_hash
    WHERE c.event_type = 'click' AND c.link_url IS NOT NULL
),

post_days AS (
    -- Every day of the funnel from the first send, up to the end of the window.
    SELECT p.newsletter_id, p.post_id, p.first_sent_at, p.first_send_date, day
    FROM posts AS p,
        UNNEST(GENERATE_DATE_ARRAY(
            p.first_send_date,
            LEAST(
                DATE_ADD(p.first_send_date, INTERVAL (@funnel_days - 1) DAY),
                DATE_SUB(@end_date, INTERVAL 1 DAY)
            )
        )) AS day
),

daily_clicks AS (
    -- Each link's clicks by day; a reader counts as a clicker of the link, and of the post, on
    -- the day of their first click that is not a scanner's.
    SELECT
        c.post_id,
        c.link_url,
        c.event_date,
        MIN(c.link_tags) AS link_tags,
        COUNT(DISTINCT IF(c.event_date = l.first_click, c.recipient_hash, NULL))
            AS new_unique_clickers,
        COUNTIF(NOT c.is_scanner) AS total_clicks,
        COUNTIF(c.is_scanner) AS scanner_clicks
    FROM clicks AS c
    LEFT JOIN (
        SELECT post_id, link_url, recipient_hash, MIN(event_date) AS first_click
        FROM clicks
        WHERE NOT is_scanner
        GROUP BY post_id, link_url, recipient_hash
    ) AS l
        ON l.post_id = c.post_id
        AND l.link_url = c.link_url
        AND l.recipient_hash = c.recipient_hash
        AND NOT c.is_scanner
    GROUP BY c.post_id, c.link_url, c.event_date
),

daily_post_clicks AS (
    SELECT
        c.post_id,
        c.event_date,
        COUNT(DISTINCT IF(c.event_date = p.first_click, c.recipient_hash, NULL))
            AS new_unique_clickers,
        COUNTIF(c.is_scanner) AS scanner_clicks
    FROM clicks AS c
    LEFT JOIN (
        SELECT post_id, recipient_hash, MIN(event_date) AS first_click
        FROM clicks
        WHERE NOT is_scanner
        GROUP BY post_id, recipient_hash
    ) AS p
        ON p.post_id = c.post_id AND p.recipient_hash = c.recipient_hash AND NOT c.is_scanner
    GROUP BY c.post_id, c.event_date
),

link_days AS (
    -- Each link's clicks from the send up to the day: its days' counts summed.
    SELECT
        d.day,
        d.newsletter_id,
        d.post_id,
        d.first_sent_at,
        DATE_DIFF(d.day, d.first_send_date, DAY) AS days_since_send,
        c.link_url,
        MIN(c.link_tags) AS link_tags,
        SUM(c.new_unique_clickers) AS unique_clickers,
        SUM(c.total_clicks) AS total_clicks,
        SUM(c.scanner_clicks) AS scanner_clicks
    FROM post_days AS d
    INNER JOIN daily_clicks AS c ON c.post_id = d.post_id AND c.event_date <= d.day
    GROUP BY d.day, d.newsletter_id, d.post_id, d.first_sent_at, days_since_send, c.link_url
),

post_totals AS (
    -- The post's clickers of any link, and its scanner clicks, up to the day.
    SELECT
        d.day,
        d.post_id,
        SUM(c.new_unique_clickers) AS post_unique_clickers,
        SUM(c.scanner_clicks) AS post_scanner_clicks
    FROM post_days AS d
    INNER JOIN daily_post_clicks AS c ON c.post_id = d.post_id AND c.event_date <= d.day
    GROUP BY d.day, d.post_id
)

SELECT
    l.day AS date,
    l.newsletter_id,
    l.post_id,
    l.first_sent_at,
    l.days_since_send,
    l.link_url,
    l.link_tags,
    l.unique_clickers,
    l.total_clicks,
    t.post_unique_clickers,
    SAFE_DIVIDE(l.unique_clickers, t.post_unique_clickers) AS clicker_share,
    l.scanner_clicks,
    t.post_scanner_clicks
FROM link_days AS l
INNER JOIN post_totals AS t ON t.post_id = l.post_id AND t.day = l.day
WHERE l.day >= @start_date
