-- Beacon page views -> one typed row per page view, or a reject reason.
-- DuckDB dialect: this runs in the ingestion engine in every environment, over
-- raw_lines(source_object, arrival_hour, line). Format: docs/lake-layout.md.
-- Parameters: the referrer and bot patterns of staging/referrers.py.
WITH extracted AS (
    SELECT
        source_object,
        arrival_hour,
        line,
        try(json_extract_string(line, [
            '$.event_id',       -- 1
            '$.timestamp',      -- 2
            '$.newsletter_id',  -- 3
            '$.post_id',        -- 4
            '$.url',            -- 5
            '$.referrer',       -- 6
            '$.utm_source',     -- 7
            '$.utm_medium',     -- 8
            '$.utm_campaign',   -- 9
            '$.user_agent',     -- 10
            '$.visitor_id',     -- 11
            '$.session_id'      -- 12
        ])) AS f
    FROM raw_lines
),

parsed AS (
    SELECT
        *,
        try_cast(f[2] AS TIMESTAMPTZ) AS event_at,
        lower(regexp_extract(f[5], '^[A-Za-z][A-Za-z0-9+.-]*://([^/:?#]+)', 1)) AS page_host,
        coalesce(
            nullif(regexp_extract(f[5], '^[A-Za-z][A-Za-z0-9+.-]*://[^/?#]*([^?#]*)', 1), ''), '/'
        ) AS url_path,
        nullif(
            regexp_replace(
                lower(regexp_extract(f[6], '^[A-Za-z][A-Za-z0-9+.-]*://([^/:?#]+)', 1)),
                '^www\.', ''
            ),
            ''
        ) AS referrer_domain,
        coalesce(f[10], '') = '' OR regexp_matches(f[10], $bot_pattern) AS is_bot
    FROM extracted
),

judged AS (
    SELECT
        *,
        CASE
            WHEN line IS NULL OR trim(line) = '' THEN 'blank_line'
            WHEN f IS NULL THEN 'malformed_json'
            WHEN f[1] IS NULL THEN 'missing_field:event_id'
            WHEN f[2] IS NULL THEN 'missing_field:timestamp'
            WHEN event_at IS NULL THEN 'invalid_timestamp'
            WHEN f[3] IS NULL THEN 'missing_field:newsletter_id'
            WHEN f[5] IS NULL OR page_host = '' THEN 'missing_field:url'
            WHEN f[11] IS NULL THEN 'missing_field:visitor_id'
            WHEN f[12] IS NULL THEN 'missing_field:session_id'
        END AS reject_reason
    FROM parsed
)

SELECT
    source_object,
    arrival_hour,
    reject_reason,
    line AS raw_line,
    event_at,
    f[1] AS event_id,
    f[3] AS newsletter_id,
    f[4] AS post_id,
    url_path,
    referrer_domain,
    CASE
        WHEN lower(f[8]) IN ('email', 'newsletter')
            OR regexp_matches(referrer_domain, $webmail_pattern) THEN 'email'
        WHEN referrer_domain IS NULL THEN 'direct'
        WHEN referrer_domain = regexp_replace(page_host, '^www\.', '') THEN 'internal'
        WHEN regexp_matches(referrer_domain, $platform_pattern) THEN 'other_newsletter'
        WHEN regexp_matches(referrer_domain, $search_pattern) THEN 'search'
        WHEN regexp_matches(referrer_domain, $social_pattern) THEN 'social'
        ELSE 'referral'
    END AS source_category,
    f[7] AS utm_source,
    f[8] AS utm_medium,
    f[9] AS utm_campaign,
    f[11] AS visitor_id,
    f[12] AS session_id,
    CASE
        WHEN is_bot THEN 'bot'
        WHEN regexp_matches(f[10], 'iPad|Tablet') THEN 'tablet'
        WHEN regexp_matches(f[10], 'Mobi|iPhone|Android') THEN 'mobile'
        ELSE 'desktop'
    END AS device_type,
    is_bot
FROM judged
