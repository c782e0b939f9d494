-- Each newsletter's human opens by email client, one row each in the order shown, over the posts
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
        SUM(apple_mail_opens) AS apple_mail_opens,
        SUM(gmail_opens) AS gmail_opens,
        SUM(outlook_opens) AS outlook_opens,
        SUM(yahoo_opens) AS yahoo_opens,
        SUM(other_client_opens) AS other_client_opens
    FROM latest
    GROUP BY newsletter_id
)

SELECT newsletter_id, 1 AS position, 'apple_mail' AS name, apple_mail_opens AS opens,
    SAFE_DIVIDE(apple_mail_opens, human_opens) AS share
FROM totals
UNION ALL
SELECT newsletter_id, 2 AS position, 'gmail' AS name, gmail_opens AS opens,
    SAFE_DIVIDE(gmail_opens, human_opens) AS share
FROM totals
UNION ALL
SELECT newsletter_id, 3 AS position, 'outlook' AS name, outlook_opens AS opens,
    SAFE_DIVIDE(outlook_opens, human_opens) AS share
FROM totals
UNION ALL
SELECT newsletter_id, 4 AS position, 'yahoo' AS name, yahoo_opens AS opens,
    SAFE_DIVIDE(yahoo_opens, human_opens) AS share
FROM totals
UNION ALL
SELECT newsletter_id, 5 AS position, 'other' AS name, other_client_opens AS opens,
    SAFE_DIVIDE(other_client_opens, human_opens) AS share
FROM totals
