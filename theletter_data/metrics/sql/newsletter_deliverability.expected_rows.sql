-- The platform has its row every day, and every newsletter that sent an email in the long window
-- ending on a day has its row that day.
WITH days AS (
    SELECT day
    FROM UNNEST(GENERATE_DATE_ARRAY(@start_date, DATE_SUB(@end_date, INTERVAL 1 DAY))) AS day
)

SELECT date, scope, newsletter_id
FROM (
    SELECT day AS date, 'platform' AS scope, CAST(NULL AS STRING) AS newsletter_id
    FROM days
    UNION DISTINCT
    SELECT DISTINCT d.day, 'newsletter', e.newsletter_id
    FROM days AS d
    INNER JOIN staging.stg_email_events AS e
        ON e.event_type = 'send'
        AND e.event_date <= d.day
        AND e.event_date > DATE_SUB(d.day, INTERVAL @long_window_days DAY)
    WHERE e.event_date >= DATE_SUB(@start_date, INTERVAL (@long_window_days - 1) DAY)
        AND e.event_date < @end_date
) AS expected
