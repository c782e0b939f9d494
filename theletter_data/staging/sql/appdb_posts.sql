-- App export rows -> stg_posts columns, or a reject reason. DuckDB dialect (ingestion engine),
-- over export_rows(source_object, <the export's columns>) and known_newsletters.
-- Patterns (put in as constants, sql.with_patterns): $id_pattern (theletter_data.ids).
WITH judged AS (
    SELECT
        *,
        export_rows AS exported_row,
        CASE
            WHEN post_id IS NULL THEN 'missing_field:post_id'
            WHEN newsletter_id IS NULL THEN 'missing_field:newsletter_id'
            WHEN NOT regexp_full_match(CAST(post_id AS VARCHAR), $id_pattern)
                THEN 'invalid_id:post_id'
            WHEN NOT regexp_full_match(CAST(newsletter_id AS VARCHAR), $id_pattern)
                THEN 'invalid_id:newsletter_id'
            WHEN $check_newsletters AND CAST(newsletter_id AS VARCHAR) NOT IN
                (SELECT newsletter_id FROM known_newsletters) THEN 'unknown_newsletter'
            WHEN status IS NULL THEN 'missing_field:status'
            WHEN status = 'published' AND published_at IS NULL THEN 'missing_field:published_at'
        END AS reject_reason
    FROM export_rows
)

SELECT
    source_object,
    reject_reason,
    -- The whole row only where it is needed: the quarantine's fingerprint and excerpt.
    CASE WHEN reject_reason IS NOT NULL THEN to_json(exported_row) END AS raw_line,
    CAST(post_id AS VARCHAR) AS post_id,
    CAST(newsletter_id AS VARCHAR) AS newsletter_id,
    CAST(title AS VARCHAR) AS title,
    CAST(status AS VARCHAR) AS status,
    CAST(published_at AS TIMESTAMPTZ) AS published_at,
    coalesce(CAST(emailed AS BOOLEAN), false) AS emailed,
    CAST(created_at AS TIMESTAMPTZ) AS created_at,
    -- Not staged: it decides which of several copies of a key is kept.
    CAST(updated_at AS TIMESTAMPTZ) AS updated_at
FROM judged
