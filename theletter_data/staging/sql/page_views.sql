-- Beacon page views -> one typed row per page view, or a reject reason.
-- DuckDB dialect: this runs in the ingestion engine in every environment, over
-- raw_lines(source_object, arrival_hour, line). Format: docs/lake-layout.md.
-- Patterns (put in as constants, the declaration's `patterns`): the referrer and bot patterns of
-- staging/referrers.py.
WITH extracted AS (
    SELECT
        source_object,
        arrival_hour,
        line,
        -- One parse per line into the fields staging reads (numbers come as their text).
        -- A line that is not a JSON object gives NULL (malformed_json).
        try(from_json(line, '{
            "event_id": "VARCHAR", "timestamp": "VARCHAR", "newsletter_id": "VARCHAR",
            "post_id": "VARCHAR", "url": "VARCHAR", "referrer": "VARCHAR",
            "utm_source": "VARCHAR", "utm_medium": "VARCHAR", "utm_campaign": "VARCHAR",
            "user_agent": "VARCHAR", "visitor_id": "VARCHAR", "session_id": "VARCHAR"
        }')) AS f
    FROM raw_lines
),

parsed AS (
    SELECT
        *,
        try_cast(f."timestamp" AS TIMESTAMPTZ) AS event_at,
        lower(regexp_extract(f.url, '^[A-Za-z][A-Za-z0-9+.-]*://([^/:?#]+)', 1)) AS page_host,
        coalesce(
            nullif(regexp_extract(f.url, '^[A-Za-z][A-Za-z0-9+.-]*://[^/?#]*([^?#]*)', 1), ''), '/'
        ) AS url_path,
        nullif(
            regexp_replace(
                lower(regexp_extract(f.referrer, '^[A-Za-z][A-Za-z0-9+.-]*://([^/:?#]+)', 1)),
                '^www\.', ''
            ),
            ''
        ) AS referrer_domain,
        coalesce(f.user_agent, '') = '' OR regexp_matches(f.user_agent, $bot_pattern) AS is_bot
    FROM extracted
),

judged AS (
    SELECT
        *,
        CASE
            -- A blank line parses to nothing: only then is it worth trimming.
            WHEN f IS NULL THEN
                CASE WHEN line IS NULL OR trim(line) = '' THEN 'blank_line' ELSE 'malformed_json' END
            WHEN f.event_id IS NULL THEN 'missing_field:event_id'
            WHEN f."timestamp" IS NULL THEN 'missing_field:timestamp'
            WHEN event_at IS NULL THEN 'invalid_timestamp'
            WHEN f.newsletter_id IS NULL THEN 'missing_field:newsletter_id'
            WHEN f.url IS NULL OR page_host = '' THEN 'missing_field:url'
            WHEN f.visitor_id IS NULL THEN 'missing_field:visitor_id'
            WHEN f.session_id IS NULL THEN 'missing_field:session_id'
        END AS reject_reason
    FROM parsed
)

SELECT
    source_object,
    arrival_hour,
    reject_reason,
    line AS raw_line,
    event_at,
    f.event_id AS event_id,
    f.newsletter_id AS newsletter_id,
    f.post_id AS post_id,
    url_path,
    referrer_domain,
    CASE
        WHEN lower(f.utm_medium) IN ('email', 'newsletter')
            OR regexp_matches(referrer_domain, $webmail_pattern) THEN 'email'
        WHEN referrer_domain IS NULL THEN 'direct'
        WHEN referrer_domain = regexp_replace(page_host, '^www\.', '') THEN 'internal'
        WHEN regexp_matches(referrer_domain, $platform_pattern) THEN 'other_newsletter'
        WHEN regexp_matches(referrer_domain, $search_pattern) THEN 'search'
        WHEN regexp_matches(referrer_domain, $social_pattern) THEN 'social'
        ELSE 'referral'
    END AS source_category,
    f.utm_source AS utm_source,
    f.utm_medium AS utm_medium,
    f.utm_campaign AS utm_campaign,
    f.visitor_id AS visitor_id,
    f.session_id AS session_id,
    CASE
        WHEN is_bot THEN 'bot'
        WHEN regexp_matches(f.user_agent, 'iPad|Tablet') THEN 'tablet'
        WHEN regexp_matches(f.user_agent, 'Mobi|iPhone|Android') THEN 'mobile'
        ELSE 'desktop'
    END AS device_type,
    is_bot
FROM judged
