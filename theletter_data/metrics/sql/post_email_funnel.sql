-- post_email_funnel: one row per emailed post per day, for the funnel's days from its first send;
-- counts are cumulative since the send, in distinct recipients.
WITH events AS (
    -- One day more than the funnel's days: a send that crosses midnight starts the day before.
    SELECT
        event_date, event_type, newsletter_id, post_id, recipient_hash, sent_at,
        bounce_type, is_machine_open, unsubscribe_all
    FROM staging.stg_email_events
    WHERE event_date >= DATE_SUB(@start_date, INTERVAL @funnel_days DAY)
        AND event_date < @end_date
        AND post_id IS NOT NULL
),

posts AS (
    -- Every event carries its message's send time, so a post is known even if its Send lines
    -- were lost; a post first sent before the window gets no day in it.
    SELECT
        newsletter_id,
        post_id,
        MIN(sent_at) AS first_sent_at,
        DATE(MIN(sent_at), @timezone) AS first_send_date
    FROM events
    WHERE event_type NOT IN ('reject', 'rendering_failure')
    GROUP BY newsletter_id, post_id
),

recipient_firsts AS (
    -- The first day each recipient reached each stage. A later stage implies the earlier
    -- ones, so that one lost raw line never makes a rate exceed 1: a recipient with any event
    -- after the send (delivery, bounce, delay, complaint, open, click, unsubscribe) was sent
    -- the email, and one who complained, opened, clicked or unsubscribed received it. A click
    -- counts as an open: an email whose images were blocked can be clicked without an open
    -- pixel.
    SELECT
        post_id,
        MIN(IF(event_type NOT IN ('reject', 'rendering_failure'), event_date, NULL)) AS sent_on,
        MIN(
            IF(event_type IN ('delivery', 'complaint', 'open', 'click', 'subscription'),
                event_date, NULL)
        ) AS delivered_on,
        MIN(IF(event_type = 'bounce', event_date, NULL)) AS bounced_on,
        MIN(IF(event_type = 'bounce' AND bounce_type = 'Permanent', event_date, NULL))
            AS hard_bounced_on,
        MIN(IF(event_type = 'complaint', event_date, NULL)) AS complained_on,
        MIN(IF(event_type IN ('open', 'click'), event_date, NULL)) AS opened_on,
        MIN(
            IF(event_type = 'click' OR (event_type = 'open' AND NOT is_machine_open),
                event_date, NULL)
        ) AS human_opened_on,
        MIN(IF(event_type = 'open' AND is_machine_open, event_date, NULL)) AS machine_opened_on,
        MIN(IF(event_type = 'click', event_date, NULL)) AS clicked_on,
        MIN(IF(event_type = 'subscription' AND unsubscribe_all, event_date, NULL))
            AS unsubscribed_on
    FROM events
    GROUP BY post_id, recipient_hash
),

stage_days AS (
    SELECT post_id, 'sent' AS stage, sent_on AS day FROM recipient_firsts
    UNION ALL SELECT post_id, 'delivered', delivered_on FROM recipient_firsts
    UNION ALL SELECT post_id, 'bounced', bounced_on FROM recipient_firsts
    UNION ALL SELECT post_id, 'hard_bounced', hard_bounced_on FROM recipient_firsts
    UNION ALL SELECT post_id, 'complained', complained_on FROM recipient_firsts
    UNION ALL SELECT post_id, 'opened', opened_on FROM recipient_firsts
    UNION ALL SELECT post_id, 'human_opened', human_opened_on FROM recipient_firsts
    UNION ALL SELECT post_id, 'machine_opened', machine_opened_on FROM recipient_firsts
    UNION ALL SELECT post_id, 'clicked', clicked_on FROM recipient_firsts
    UNION ALL SELECT post_id, 'unsubscribed', unsubscribed_on FROM recipient_firsts
),

new_per_day AS (
    SELECT
        post_id,
        day,
        COUNTIF(stage = 'sent') AS sent,
        COUNTIF(stage = 'delivered') AS delivered,
        COUNTIF(stage = 'bounced') AS bounced,
        COUNTIF(stage = 'hard_bounced') AS hard_bounced,
        COUNTIF(stage = 'complained') AS complained,
        COUNTIF(stage = 'opened') AS opened,
        COUNTIF(stage = 'human_opened') AS human_opened,
        COUNTIF(stage = 'machine_opened') AS machine_opened,
        COUNTIF(stage = 'clicked') AS clicked,
        COUNTIF(stage = 'unsubscribed') AS unsubscribed
    FROM stage_days
    WHERE day IS NOT NULL
    GROUP BY post_id, day
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

cumulative AS (
    SELECT
        d.day,
        d.newsletter_id,
        d.post_id,
        d.first_sent_at,
        DATE_DIFF(d.day, d.first_send_date, DAY) AS days_since_send,
        SUM(COALESCE(n.sent, 0)) OVER running AS sent,
        SUM(COALESCE(n.delivered, 0)) OVER running AS delivered,
        SUM(COALESCE(n.bounced, 0)) OVER running AS bounced,
        SUM(COALESCE(n.hard_bounced, 0)) OVER running AS hard_bounced,
        SUM(COALESCE(n.complained, 0)) OVER running AS complained,
        SUM(COALESCE(n.opened, 0)) OVER running AS unique_opens,
        SUM(COALESCE(n.human_opened, 0)) OVER running AS unique_human_opens,
        SUM(COALESCE(n.machine_opened, 0)) OVER running AS machine_opened,
        SUM(COALESCE(n.clicked, 0)) OVER running AS unique_clicks,
        SUM(COALESCE(n.unsubscribed, 0)) OVER running AS unsubscribes
    FROM post_days AS d
    LEFT JOIN new_per_day AS n ON n.post_id = d.post_id AND n.day = d.day
    WINDOW running AS (PARTITION BY d.post_id ORDER BY d.day ROWS UNBOUNDED PRECEDING)
)

SELECT
    day AS date,
    newsletter_id,
    post_id,
    first_sent_at,
    days_since_send,
    sent,
    delivered,
    bounced,
    hard_bounced,
    complained,
    unique_opens,
    unique_human_opens,
    machine_opened AS unique_machine_opens,
    unique_clicks,
    unsubscribes,
    SAFE_DIVIDE(delivered, sent) AS delivery_rate,
    SAFE_DIVIDE(bounced, sent) AS bounce_rate,
    SAFE_DIVIDE(unique_opens, delivered) AS open_rate,
    SAFE_DIVIDE(unique_human_opens, delivered) AS human_open_rate,
    SAFE_DIVIDE(unique_clicks, delivered) AS click_rate,
    SAFE_DIVIDE(unique_clicks, unique_human_opens) AS click_to_open_rate,
    SAFE_DIVIDE(unsubscribes, delivered) AS unsubscribe_rate,
    SAFE_DIVIDE(complained, delivered) AS complaint_rate
FROM cumulative
WHERE day >= @start_date
