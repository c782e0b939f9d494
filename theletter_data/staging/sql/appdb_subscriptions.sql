-- App export rows -> stg_subscriptions columns, or a reject reason. DuckDB dialect (ingestion
-- engine), over export_rows(source_object, <the export's columns>) and known_newsletters.
-- Parameters: $hmac_ipad, $hmac_opad (the pads of the engine's `pseudonym` macro:
-- resources/pseudonymizer.py), $snapshot_end (end of the day, UTC).
-- Patterns, put in as constants (sql.with_patterns): $id_pattern (theletter_data.ids), the
-- referrer patterns of staging/referrers.py.
WITH pseudonyms AS (
    -- One HMAC per address, not one per row: a reader subscribes to several newsletters.
    SELECT
        address,
        pseudonym(address, $hmac_ipad, $hmac_opad) AS reader_hash
    FROM (SELECT DISTINCT lower(trim(email)) AS address FROM export_rows)
),

referrers AS (
    -- The referrer's host, from a URL or a bare domain, without any user part before an @
    -- ('' or none: no referrer); once per referrer (a few hundred a snapshot), not per row.
    SELECT
        referrer,
        nullif(
            regexp_replace(
                lower(regexp_extract(
                    trim(referrer),
                    '^(?:[A-Za-z][A-Za-z0-9+.-]*://)?(?:[^/?#@\s]*@)?([^/:?#@\s]+)(?:[/:?#]|$)', 1
                )),
                '^www\.', ''
            ),
            ''
        ) AS referrer_domain
    FROM (SELECT DISTINCT CAST(signup_referrer AS VARCHAR) AS referrer FROM export_rows)
),

judged AS (
    SELECT
        *,
        export_rows AS exported_row,
        CASE
            WHEN subscription_id IS NULL THEN 'missing_field:subscription_id'
            WHEN newsletter_id IS NULL THEN 'missing_field:newsletter_id'
            WHEN NOT regexp_full_match(CAST(subscription_id AS VARCHAR), $id_pattern)
                THEN 'invalid_id:subscription_id'
            WHEN NOT regexp_full_match(CAST(newsletter_id AS VARCHAR), $id_pattern)
                THEN 'invalid_id:newsletter_id'
            WHEN reader_id IS NOT NULL
                AND NOT regexp_full_match(CAST(reader_id AS VARCHAR), $id_pattern)
                THEN 'invalid_id:reader_id'
            WHEN signup_post_id IS NOT NULL
                AND NOT regexp_full_match(CAST(signup_post_id AS VARCHAR), $id_pattern)
                THEN 'invalid_id:signup_post_id'
            WHEN $check_newsletters AND CAST(newsletter_id AS VARCHAR) NOT IN
                (SELECT newsletter_id FROM known_newsletters) THEN 'unknown_newsletter'
            WHEN email IS NULL OR NOT contains(email, '@') THEN 'missing_field:email'
            WHEN subscribed_at IS NULL THEN 'missing_field:subscribed_at'
            WHEN unsubscribed_at < subscribed_at THEN 'unsubscribed_before_subscribed'
        END AS reject_reason
    FROM export_rows
)

SELECT
    source_object,
    reject_reason,
    -- The whole row only where it is needed: the quarantine's fingerprint and excerpt.
    CASE WHEN reject_reason IS NOT NULL THEN to_json(exported_row) END AS raw_line,
    CAST(subscription_id AS VARCHAR) AS subscription_id,
    CAST(newsletter_id AS VARCHAR) AS newsletter_id,
    CAST(reader_id AS VARCHAR) AS reader_id,
    p.reader_hash,
    coalesce(CAST(plan AS VARCHAR), 'free') AS plan,
    CAST(subscribed_at AS TIMESTAMPTZ) AS subscribed_at,
    CAST(unsubscribed_at AS TIMESTAMPTZ) AS unsubscribed_at,
    unsubscribed_at IS NULL OR unsubscribed_at >= $snapshot_end AS is_active,
    CAST(signup_source AS VARCHAR) AS signup_source,
    CAST(signup_post_id AS VARCHAR) AS signup_post_id,
    f.referrer_domain AS signup_referrer_domain,
    -- The visit's source as page views' (page_views.sql); the app records the referrer of the
    -- visit's landing page, never the newsletter's own pages, so no signup is 'internal'.
    CASE
        WHEN signup_source IS NULL OR signup_source NOT IN ('post', 'home', 'page') THEN NULL
        WHEN regexp_matches(f.referrer_domain, $webmail_pattern) THEN 'email'
        WHEN f.referrer_domain IS NULL THEN 'direct'
        WHEN regexp_matches(f.referrer_domain, $platform_pattern) THEN 'other_newsletter'
        WHEN regexp_matches(f.referrer_domain, $search_pattern) THEN 'search'
        WHEN regexp_matches(f.referrer_domain, $social_pattern) THEN 'social'
        ELSE 'referral'
    END AS signup_source_category,
    -- Not staged: it decides which of several copies of a key is kept.
    CAST(updated_at AS TIMESTAMPTZ) AS updated_at
FROM judged
LEFT JOIN pseudonyms AS p ON p.address = lower(trim(judged.email))
LEFT JOIN referrers AS f ON f.referrer = CAST(judged.signup_referrer AS VARCHAR)
