-- post_email_clients: one row per emailed post per day, for the funnel's days from its first
-- send; human opens by email client and device class, machine opens apart, cumulative.
WITH events AS (
    -- One day more than the funnel's days: a send that crosses midnight starts the day before.
    SELECT
        event_date, event_type, newsletter_id, post_id, recipient_hash, sent_at,
        is_machine_open, email_client, device_class
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

opens AS (
    SELECT event_date, post_id, recipient_hash, is_machine_open, email_client, device_class
    FROM events
    WHERE event_type = 'open'
),

daily_opens AS (
    -- Each post's opens by day; a reader is a human opener from their first human open's day.
    SELECT
        o.post_id,
        o.event_date,
        COUNTIF(NOT o.is_machine_open) AS human_opens,
        COUNT(DISTINCT IF(o.event_date = f.first_human_open, o.recipient_hash, NULL))
            AS new_human_openers,
        COUNTIF(o.is_machine_open) AS machine_opens,
        COUNTIF(o.email_client = 'apple_mail') AS apple_mail_opens,
        COUNTIF(o.email_client = 'gmail') AS gmail_opens,
        COUNTIF(o.email_client = 'outlook') AS outlook_opens,
        COUNTIF(o.email_client = 'yahoo') AS yahoo_opens,
        COUNTIF(o.email_client = 'other') AS other_client_opens,
        COUNTIF(o.device_class = 'mobile') AS mobile_opens,
        COUNTIF(o.device_class = 'desktop') AS desktop_opens,
        COUNTIF(o.device_class = 'webmail') AS webmail_opens,
        COUNTIF(o.device_class = 'unknown') AS unknown_device_opens
    FROM opens AS o
    LEFT JOIN (
        SELECT post_id, recipient_hash, MIN(event_date) AS first_human_open
        FROM opens
        WHERE NOT is_machine_open
        GROUP BY post_id, recipient_hash
    ) AS f
        ON f.post_id = o.post_id AND f.recipient_hash = o.recipient_hash
    GROUP BY o.post_id, o.event_date
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

counted AS (
    -- The post's opens from the send up to the day (a post without opens counts zeros): its
    -- days' counts summed, a reader counted on the day of their first human open.
    SELECT
        d.day,
        d.newsletter_id,
        d.post_id,
        d.first_sent_at,
        DATE_DIFF(d.day, d.first_send_date, DAY) AS days_since_send,
        COALESCE(SUM(o.human_opens), 0) AS human_opens,
        COALESCE(SUM(o.new_human_openers), 0) AS human_openers,
        COALESCE(SUM(o.machine_opens), 0) AS machine_opens,
        COALESCE(SUM(o.apple_mail_opens), 0) AS apple_mail_opens,
        COALESCE(SUM(o.gmail_opens), 0) AS gmail_opens,
        COALESCE(SUM(o.outlook_opens), 0) AS outlook_opens,
        COALESCE(SUM(o.yahoo_opens), 0) AS yahoo_opens,
        COALESCE(SUM(o.other_client_opens), 0) AS other_client_opens,
        COALESCE(SUM(o.mobile_opens), 0) AS mobile_opens,
        COALESCE(SUM(o.desktop_opens), 0) AS desktop_opens,
        COALESCE(SUM(o.webmail_opens), 0) AS webmail_opens,
        COALESCE(SUM(o.unknown_device_opens), 0) AS unknown_device_opens
    FROM post_days AS d
    LEFT JOIN daily_opens AS o ON o.post_id = d.post_id AND o.event_date <= d.day
    GROUP BY d.day, d.newsletter_id, d.post_id, d.first_sent_at, days_since_send
)

SELECT
    day AS date,
    newsletter_id,
    post_id,
    first_sent_at,
    days_since_send,
    human_opens,
    human_openers,
    machine_opens,
    apple_mail_opens,
    gmail_opens,
    outlook_opens,
    yahoo_opens,
    other_client_opens,
    mobile_opens,
    desktop_opens,
    webmail_opens,
    unknown_device_opens,
    SAFE_DIVIDE(apple_mail_opens, human_opens) AS apple_mail_share,
    SAFE_DIVIDE(gmail_opens, human_opens) AS gmail_share,
    SAFE_DIVIDE(outlook_opens, human_opens) AS outlook_share,
    SAFE_DIVIDE(yahoo_opens, human_opens) AS yahoo_share,
    SAFE_DIVIDE(other_client_opens, human_opens) AS other_client_share,
    SAFE_DIVIDE(mobile_opens, human_opens) AS mobile_share,
    SAFE_DIVIDE(desktop_opens, human_opens) AS desktop_share,
    SAFE_DIVIDE(webmail_opens, human_opens) AS webmail_share,
    SAFE_DIVIDE(unknown_device_opens, human_opens) AS unknown_device_share
FROM counted
WHERE day >= @start_date
