-- newsletter_engagement_segments: one row per newsletter per day with a current subscriber: its
-- readers by when they last opened (not a machine open) or clicked one of its emails.
WITH days AS (
    SELECT day
    FROM UNNEST(GENERATE_DATE_ARRAY(DATE_SUB(@start_date, INTERVAL @compare_days DAY), DATE_SUB(@end_date, INTERVAL 1 DAY))) AS day
),

as_of AS (
    -- Each day's subscriptions as of its end, from the days the week-over-week change compares
    -- with (the one definition, put in when the SQL is read):
    /* include shared/subscriptions_as_of.sql */
),

current_subscribers AS (
    -- Who is subscribed to what at the end of each day. A reader with two active
    -- subscriptions to one newsletter is one reader, subscribed since the newer one.
    SELECT day, newsletter_id, reader_hash, MAX(subscribed_on) AS subscribed_on
    FROM as_of
    WHERE is_active
    GROUP BY day, newsletter_id, reader_hash
),

measured_days AS (
    -- The days from the first snapshot on: a newsletter without a subscription on one had no
    -- subscribers that day, and a day before the first snapshot was not measured at all.
    SELECT day
    FROM days
    WHERE day >= (SELECT MIN(valid_from) FROM staging.stg_subscriptions)
),

engaged_days AS (
    -- Each reader's days with a human open or a click of the newsletter's email, over the
    -- lookback of every day computed (a click counts: its email was read, images or not).
    SELECT DISTINCT event_date, newsletter_id, recipient_hash
    FROM staging.stg_email_events
    WHERE event_date >= DATE_SUB(@start_date, INTERVAL (@compare_days + @lookback_days - 1) DAY)
        AND event_date < @end_date
        AND (event_type = 'click' OR (event_type = 'open' AND NOT is_machine_open))
),

last_engaged AS (
    -- Each subscriber's last day of engagement within the lookback ending on the day: the
    -- latest engaged day up to the day, over each reader's engaged days and subscribed days in
    -- date order (an engaged day first on its date), if the lookback holds it. (A join of each
    -- subscribed day to the lookback's engaged days gave the same, with a row per pair.)
    SELECT
        day,
        newsletter_id,
        reader_hash,
        subscribed_on,
        IF(latest_engaged_on > DATE_SUB(day, INTERVAL @lookback_days DAY), latest_engaged_on, NULL)
            AS last_engaged_on
    FROM (
        SELECT
            *,
            MAX(engaged_on) OVER (
                PARTITION BY newsletter_id, reader_hash
                ORDER BY day, engaged_on IS NULL
                ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW
            ) AS latest_engaged_on
        FROM (
            SELECT day, newsletter_id, reader_hash, subscribed_on, CAST(NULL AS DATE) AS engaged_on
            FROM current_subscribers
            UNION ALL
            SELECT event_date, newsletter_id, recipient_hash, NULL, event_date
            FROM engaged_days
        )
    )
    WHERE engaged_on IS NULL
),

segments AS (
    SELECT
        day,
        newsletter_id,
        COUNT(*) AS subscribers,
        COUNTIF(last_engaged_on > DATE_SUB(day, INTERVAL @active_days DAY)) AS active_readers,
        COUNTIF(last_engaged_on <= DATE_SUB(day, INTERVAL @active_days DAY)) AS at_risk_readers,
        COUNTIF(last_engaged_on IS NULL) AS dormant_readers,
        COUNTIF(
            last_engaged_on IS NULL
            AND subscribed_on > DATE_SUB(day, INTERVAL @active_days DAY)
        ) AS dormant_new_readers
    FROM last_engaged
    GROUP BY day, newsletter_id
),

history AS (
    -- How many days of the day's lookback the platform has email events for: its first day
    -- with any (whichever newsletter) in the lookback, to the day. Before the platform has the
    -- lookback's days, readers who engaged before its first day look dormant. (A day without
    -- any is absent, and has 0.)
    SELECT d.day, MIN(e.event_date) AS first_event_day
    FROM (SELECT DISTINCT day FROM segments WHERE day >= @start_date) AS d
    INNER JOIN (
        SELECT DISTINCT event_date
        FROM staging.stg_email_events
        WHERE event_date >= DATE_SUB(@start_date, INTERVAL (@lookback_days - 1) DAY)
            AND event_date < @end_date
    ) AS e
        ON e.event_date <= d.day
        AND e.event_date > DATE_SUB(d.day, INTERVAL @lookback_days DAY)
    GROUP BY d.day
),

shares AS (
    SELECT
        *,
        SAFE_DIVIDE(active_readers, subscribers) AS active_share,
        SAFE_DIVIDE(at_risk_readers, subscribers) AS at_risk_share,
        SAFE_DIVIDE(dormant_readers, subscribers) AS dormant_share
    FROM segments
)

SELECT
    s.day AS date,
    s.newsletter_id,
    s.subscribers,
    s.active_readers,
    s.at_risk_readers,
    s.dormant_readers,
    s.dormant_new_readers,
    s.active_share,
    s.at_risk_share,
    s.dormant_share,
    -- Against the same day a week before: a measured day without a row had no subscribers.
    IF(m.day IS NULL, NULL, s.active_readers - COALESCE(p.active_readers, 0))
        AS active_change_7d,
    IF(m.day IS NULL, NULL, s.at_risk_readers - COALESCE(p.at_risk_readers, 0))
        AS at_risk_change_7d,
    IF(m.day IS NULL, NULL, s.dormant_readers - COALESCE(p.dormant_readers, 0))
        AS dormant_change_7d,
    s.active_share - p.active_share AS active_share_change_7d,
    s.at_risk_share - p.at_risk_share AS at_risk_share_change_7d,
    s.dormant_share - p.dormant_share AS dormant_share_change_7d,
    IF(h.first_event_day IS NULL, 0, DATE_DIFF(s.day, h.first_event_day, DAY) + 1)
        AS engagement_days_seen
FROM shares AS s
LEFT JOIN shares AS p
    ON p.newsletter_id = s.newsletter_id
    AND p.day = DATE_SUB(s.day, INTERVAL @compare_days DAY)
LEFT JOIN measured_days AS m ON m.day = DATE_SUB(s.day, INTERVAL @compare_days DAY)
LEFT JOIN history AS h ON h.day = s.day
WHERE s.day >= @start_date
