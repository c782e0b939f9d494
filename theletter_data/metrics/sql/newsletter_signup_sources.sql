-- newsletter_signup_sources: one row per newsletter, day, signup page, traffic source and post
-- with a subscription started or turned paid that day.
WITH days AS (
    SELECT day
    FROM UNNEST(GENERATE_DATE_ARRAY(DATE_SUB(@start_date, INTERVAL 1 DAY), DATE_SUB(@end_date, INTERVAL 1 DAY))) AS day
),

as_of AS (
    -- Each day's subscriptions as of its end (the one definition, put in when the SQL is read):
    /* include shared/subscriptions_as_of.sql */
),

subscriptions AS (
    -- Each day's snapshot (and the day before, for the conversions), with where its reader
    -- signed up: the page, the visit's traffic source, the post.
    SELECT
        day,
        newsletter_id,
        subscription_id,
        plan,
        subscribed_on,
        COALESCE(signup_source, 'unknown') AS signup_page,
        CASE
            WHEN signup_source = 'import' THEN 'import'
            ELSE COALESCE(signup_source_category, 'unknown')
        END AS source_category,
        IF(signup_source = 'post', COALESCE(signup_post_id, '(none)'), '(none)') AS post_id
    FROM as_of
),

started AS (
    -- Subscriptions that started on the day (a reader who comes back starts a new one), with
    -- their plan at the day's end.
    SELECT day, newsletter_id, signup_page, source_category, post_id, plan, 'signup' AS kind
    FROM subscriptions
    WHERE day >= @start_date AND subscribed_on = day
),

converted AS (
    -- Subscriptions free at the end of the day before and paid at the end of the day.
    SELECT
        s.day, s.newsletter_id, s.signup_page, s.source_category, s.post_id, s.plan,
        'conversion' AS kind
    FROM subscriptions AS s
    INNER JOIN subscriptions AS p
        ON p.subscription_id = s.subscription_id
        AND p.day = DATE_SUB(s.day, INTERVAL 1 DAY)
    WHERE s.day >= @start_date AND s.plan = 'paid' AND p.plan = 'free'
),

counted AS (
    SELECT * FROM started
    UNION ALL
    SELECT * FROM converted
)

SELECT
    day AS date,
    newsletter_id,
    signup_page,
    source_category,
    post_id,
    COUNTIF(kind = 'signup') AS signups,
    COUNTIF(kind = 'signup' AND plan = 'free') AS free_signups,
    COUNTIF(kind = 'signup' AND plan = 'paid') AS paid_signups,
    COUNTIF(kind = 'conversion') AS paid_conversions
FROM counted
GROUP BY day, newsletter_id, signup_page, source_category, post_id
