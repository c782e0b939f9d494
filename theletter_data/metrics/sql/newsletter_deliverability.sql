-- newsletter_deliverability: for every day, the emails sent in the short and the long window
-- ending on it and what had become of them by its end: per newsletter that sent any, and for the
-- platform (the SES account) as a whole.
WITH days AS (
    SELECT day
    FROM UNNEST(GENERATE_DATE_ARRAY(@start_date, DATE_SUB(@end_date, INTERVAL 1 DAY))) AS day
),

events AS (
    SELECT
        event_date, event_type, newsletter_id, message_id, recipient_hash, sent_at, bounce_type,
        bounce_sub_type
    FROM staging.stg_email_events
    WHERE event_date >= DATE_SUB(@start_date, INTERVAL (@long_window_days - 1) DAY)
        AND event_date < @end_date
),

emails AS (
    -- One email is one message to one recipient, on the Japan-time day SES accepted it, with
    -- the first day each outcome was seen. An email with any event but a Rendering Failure was
    -- sent (SES publishes a Send before a Reject, and a lost Send line loses no email).
    SELECT
        newsletter_id,
        DATE(MIN(sent_at), @timezone) AS sent_on,
        MIN(IF(event_type != 'rendering_failure', event_date, NULL)) AS sent_seen_on,
        MIN(IF(event_type = 'bounce', event_date, NULL)) AS bounced_on,
        -- What SES's bounce rate counts: permanent bounces, but not the emails SES did not
        -- attempt because the address is on the account's own suppression list.
        MIN(
            IF(
                event_type = 'bounce' AND bounce_type = 'Permanent'
                AND COALESCE(bounce_sub_type, '') != 'OnAccountSuppressionList',
                event_date, NULL
            )
        ) AS hard_bounced_on,
        MIN(IF(event_type = 'complaint', event_date, NULL)) AS complained_on,
        MIN(IF(event_type = 'reject', event_date, NULL)) AS rejected_on,
        MIN(IF(event_type = 'delivery_delay', event_date, NULL)) AS delayed_on
    FROM events
    GROUP BY newsletter_id, message_id, recipient_hash
),

outcomes AS (
    SELECT newsletter_id, sent_on, 'sent' AS outcome, sent_seen_on AS seen_on FROM emails
    UNION ALL SELECT newsletter_id, sent_on, 'bounced', bounced_on FROM emails
    UNION ALL SELECT newsletter_id, sent_on, 'hard_bounced', hard_bounced_on FROM emails
    UNION ALL SELECT newsletter_id, sent_on, 'complained', complained_on FROM emails
    UNION ALL SELECT newsletter_id, sent_on, 'rejected', rejected_on FROM emails
    UNION ALL SELECT newsletter_id, sent_on, 'delayed', delayed_on FROM emails
),

outcome_days AS (
    SELECT newsletter_id, sent_on, outcome, seen_on, COUNT(*) AS emails
    FROM outcomes
    WHERE seen_on IS NOT NULL
    GROUP BY newsletter_id, sent_on, outcome, seen_on
),

windowed AS (
    -- Each day's windows: emails sent in the days ending on it, outcomes seen by its end.
    SELECT
        d.day,
        o.newsletter_id,
        o.outcome,
        SUM(IF(o.sent_on > DATE_SUB(d.day, INTERVAL @short_window_days DAY), o.emails, 0))
            AS short_window,
        SUM(o.emails) AS long_window
    FROM days AS d
    INNER JOIN outcome_days AS o
        ON o.sent_on <= d.day
        AND o.sent_on > DATE_SUB(d.day, INTERVAL @long_window_days DAY)
        AND o.seen_on <= d.day
    GROUP BY d.day, o.newsletter_id, o.outcome
),

newsletters AS (
    SELECT
        day,
        newsletter_id,
        SUM(IF(outcome = 'sent', short_window, 0)) AS sends_7d,
        SUM(IF(outcome = 'bounced', short_window, 0)) AS bounces_7d,
        SUM(IF(outcome = 'hard_bounced', short_window, 0)) AS hard_bounces_7d,
        SUM(IF(outcome = 'complained', short_window, 0)) AS complaints_7d,
        SUM(IF(outcome = 'rejected', short_window, 0)) AS rejects_7d,
        SUM(IF(outcome = 'delayed', short_window, 0)) AS delivery_delays_7d,
        SUM(IF(outcome = 'sent', long_window, 0)) AS sends_30d,
        SUM(IF(outcome = 'bounced', long_window, 0)) AS bounces_30d,
        SUM(IF(outcome = 'hard_bounced', long_window, 0)) AS hard_bounces_30d,
        SUM(IF(outcome = 'complained', long_window, 0)) AS complaints_30d,
        SUM(IF(outcome = 'rejected', long_window, 0)) AS rejects_30d,
        SUM(IF(outcome = 'delayed', long_window, 0)) AS delivery_delays_30d
    FROM windowed
    GROUP BY day, newsletter_id
),

scoped AS (
    SELECT 'newsletter' AS scope, * FROM newsletters
    UNION ALL
    -- The platform (the SES account SES judges): every day, with or without email.
    SELECT
        'platform',
        d.day,
        CAST(NULL AS STRING),
        COALESCE(SUM(n.sends_7d), 0),
        COALESCE(SUM(n.bounces_7d), 0),
        COALESCE(SUM(n.hard_bounces_7d), 0),
        COALESCE(SUM(n.complaints_7d), 0),
        COALESCE(SUM(n.rejects_7d), 0),
        COALESCE(SUM(n.delivery_delays_7d), 0),
        COALESCE(SUM(n.sends_30d), 0),
        COALESCE(SUM(n.bounces_30d), 0),
        COALESCE(SUM(n.hard_bounces_30d), 0),
        COALESCE(SUM(n.complaints_30d), 0),
        COALESCE(SUM(n.rejects_30d), 0),
        COALESCE(SUM(n.delivery_delays_30d), 0)
    FROM days AS d
    LEFT JOIN newsletters AS n ON n.day = d.day
    GROUP BY d.day
),

rates AS (
    SELECT
        s.*,
        SAFE_DIVIDE(s.bounces_7d, s.sends_7d) AS bounce_rate_7d,
        SAFE_DIVIDE(s.hard_bounces_7d, s.sends_7d) AS hard_bounce_rate_7d,
        SAFE_DIVIDE(s.complaints_7d, s.sends_7d) AS complaint_rate_7d,
        SAFE_DIVIDE(s.rejects_7d, s.sends_7d) AS reject_rate_7d,
        SAFE_DIVIDE(s.delivery_delays_7d, s.sends_7d) AS delivery_delay_rate_7d,
        SAFE_DIVIDE(s.bounces_30d, s.sends_30d) AS bounce_rate_30d,
        SAFE_DIVIDE(s.hard_bounces_30d, s.sends_30d) AS hard_bounce_rate_30d,
        SAFE_DIVIDE(s.complaints_30d, s.sends_30d) AS complaint_rate_30d,
        SAFE_DIVIDE(s.rejects_30d, s.sends_30d) AS reject_rate_30d,
        SAFE_DIVIDE(s.delivery_delays_30d, s.sends_30d) AS delivery_delay_rate_30d,
        SAFE_DIVIDE(s.sends_7d, p.sends_7d) AS platform_send_share_7d,
        SAFE_DIVIDE(s.sends_30d, p.sends_30d) AS platform_send_share_30d,
        s.sends_7d >= @min_sends AS judged_7d,
        s.sends_30d >= @min_sends AS judged_30d
    FROM scoped AS s
    INNER JOIN scoped AS p ON p.day = s.day AND p.scope = 'platform'
)

SELECT
    day AS date,
    scope,
    newsletter_id,
    sends_7d, bounces_7d, hard_bounces_7d, complaints_7d, rejects_7d, delivery_delays_7d,
    sends_30d, bounces_30d, hard_bounces_30d, complaints_30d, rejects_30d, delivery_delays_30d,
    bounce_rate_7d, hard_bounce_rate_7d, complaint_rate_7d, reject_rate_7d,
    delivery_delay_rate_7d,
    bounce_rate_30d, hard_bounce_rate_30d, complaint_rate_30d, reject_rate_30d,
    delivery_delay_rate_30d,
    platform_send_share_7d,
    platform_send_share_30d,
    -- SES's judgement, by the worse window that has enough emails to judge.
    CASE
        WHEN (judged_7d AND (hard_bounce_rate_7d >= @bounce_pause_rate
                OR complaint_rate_7d >= @complaint_pause_rate))
            OR (judged_30d AND (hard_bounce_rate_30d >= @bounce_pause_rate
                OR complaint_rate_30d >= @complaint_pause_rate))
            THEN 'pause'
        WHEN (judged_7d AND (hard_bounce_rate_7d >= @bounce_review_rate
                OR complaint_rate_7d >= @complaint_review_rate))
            OR (judged_30d AND (hard_bounce_rate_30d >= @bounce_review_rate
                OR complaint_rate_30d >= @complaint_review_rate))
            THEN 'review'
        WHEN judged_7d OR judged_30d THEN 'healthy'
        ELSE 'too_few_sends'
    END AS status
FROM rates
