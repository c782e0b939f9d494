-- platform_top_newsletters: per day, the newsletters that grew most over the window up to it.
WITH days AS (
    SELECT day
    FROM UNNEST(GENERATE_DATE_ARRAY(@start_date, DATE_SUB(@end_date, INTERVAL 1 DAY))) AS day
),

growth AS (
    SELECT date, newsletter_id, net_change, total_subscribers
    FROM metrics.newsletter_subscriber_growth
    WHERE date >= DATE_SUB(@start_date, INTERVAL @window_days DAY) AND date < @end_date
),

traffic AS (
    SELECT date, newsletter_id, page_views
    FROM metrics.newsletter_daily_traffic
    WHERE date > DATE_SUB(@start_date, INTERVAL @window_days DAY) AND date < @end_date
),

windows AS (
    -- The window's days up to and including each day; the day before them gives the base.
    SELECT
        d.day AS date,
        g.newsletter_id,
        SUM(IF(g.date > DATE_SUB(d.day, INTERVAL @window_days DAY), g.net_change, 0))
            AS net_change_30d,
        SUM(IF(g.date > DATE_SUB(d.day, INTERVAL 7 DAY), g.net_change, 0)) AS net_change_7d,
        COALESCE(MAX(IF(g.date = d.day, g.total_subscribers, NULL)), 0) AS subscribers,
        MAX(IF(g.date = DATE_SUB(d.day, INTERVAL @window_days DAY), g.total_subscribers, NULL))
            AS subscribers_30_days_before
    FROM days AS d
    INNER JOIN growth AS g
        ON g.date >= DATE_SUB(d.day, INTERVAL @window_days DAY) AND g.date <= d.day
    GROUP BY d.day, g.newsletter_id
),

views AS (
    SELECT d.day AS date, t.newsletter_id, SUM(t.page_views) AS page_views_30d
    FROM days AS d
    INNER JOIN traffic AS t
        ON t.date > DATE_SUB(d.day, INTERVAL @window_days DAY) AND t.date <= d.day
    GROUP BY d.day, t.newsletter_id
),

names AS (
    SELECT snapshot_date, newsletter_id, name
    FROM staging.stg_newsletters
    WHERE snapshot_date >= @start_date AND snapshot_date < @end_date
)

SELECT
    w.date,
    ROW_NUMBER() OVER (
        PARTITION BY w.date ORDER BY w.net_change_30d DESC, w.newsletter_id
    ) AS rank,
    w.newsletter_id,
    n.name AS newsletter_name,
    w.subscribers,
    w.net_change_7d,
    w.net_change_30d,
    w.net_change_30d / NULLIF(w.subscribers_30_days_before, 0) AS growth_rate_30d,
    CAST(COALESCE(v.page_views_30d, 0) AS INT64) AS page_views_30d
FROM windows AS w
LEFT JOIN views AS v ON v.date = w.date AND v.newsletter_id = w.newsletter_id
LEFT JOIN names AS n ON n.snapshot_date = w.date AND n.newsletter_id = w.newsletter_id
QUALIFY rank <= @top
