-- Each newsletter's human and machine opens over the posts emailed in the series' days, each
-- post as it stood on its newest day (the funnel's last once its window has closed).
WITH latest AS (
    SELECT *
    FROM metrics.post_email_clients
    WHERE date >= @start_date AND date < @end_date
    QUALIFY ROW_NUMBER() OVER (PARTITION BY post_id ORDER BY date DESC) = 1
)

SELECT newsletter_id, SUM(human_opens) AS human_opens, SUM(machine_opens) AS machine_opens
FROM latest
GROUP BY newsletter_id
