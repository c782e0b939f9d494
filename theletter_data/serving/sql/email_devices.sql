-- Each newsletter's human opens by device class, one row each in the order shown, over the posts
-- emailed in the series' days, each post as it stood on its newest day.
WITH latest AS (
    SELECT *
    FROM metrics.post_email_clients
    WHERE date >= @start_date AND date < @end_date
    QUALIFY ROW_NUMBER() OVER (PARTITION BY post_id ORDER BY date DESC) = 1
),

totals AS (
    SELECT
        newsletter_id,
        SUM(human_opens) AS human_opens,
        SUM(mobile_opens) AS mobile_opens,
        SUM(desktop_opens) AS desktop_opens,
        SUM(webmail_opens) AS webmail_opens,
        SUM(unknown_device_opens) AS unknown_device_opens
    FROM latest
    GROUP BY newsletter_id
)

SELECT newsletter_id, 1 AS position, 'mobile' AS name, mobile_opens AS opens,
    SAFE_DIVIDE(mobile_opens, human_opens) AS share
FROM totals
UNION ALL
SELECT newsletter_id, 2 AS position, 'desktop' AS name, desktop_opens AS opens,
    SAFE_DIVIDE(desktop_opens, human_opens) AS share
FROM totals
UNION ALL
SELECT newsletter_id, 3 AS position, 'webmail' AS name, webmail_opens AS opens,
    SAFE_DIVIDE(webmail_opens, human_opens) AS share
FROM totals
UNION ALL
SELECT newsletter_id, 4 AS position, 'unknown' AS name, unknown_device_opens AS opens,
    SAFE_DIVIDE(unknown_device_opens, human_opens) AS share
FROM totals
