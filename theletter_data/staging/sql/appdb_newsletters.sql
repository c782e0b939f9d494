-- App export rows -> stg_newsletters columns, or a reject reason. DuckDB dialect (ingestion
-- engine), over export_rows(source_object, <the export's columns>).
-- Patterns (put in as constants, sql.with_patterns): $id_pattern (theletter_data.ids).
WITH judged AS (
    SELECT
        *,
        export_rows AS exported_row,
        CASE
            WHEN newsletter_id IS NULL THEN 'missing_field:newsletter_id'
            WHEN slug IS NULL THEN 'missing_field:slug'
            WHEN created_at IS NULL THEN 'missing_field:created_at'
            WHEN NOT regexp_full_match(CAST(newsletter_id AS VARCHAR), $id_pattern)
                THEN 'invalid_id:newsletter_id'
            WHEN author_id IS NOT NULL
                AND NOT regexp_full_match(CAST(author_id AS VARCHAR), $id_pattern)
                THEN 'invalid_id:author_id'
        END AS reject_reason
    FROM export_rows
)

SELECT
    source_object,
    reject_reason,
    -- The whole row only where it is needed: the quarantine's fingerprint and excerpt.
    CASE WHEN reject_reason IS NOT NULL THEN to_json(exported_row) END AS raw_line,
    CAST(newsletter_id AS VARCHAR) AS newsletter_id,
    CAST(slug AS VARCHAR) AS slug,
    CAST(name AS VARCHAR) AS name,
    CAST(category AS VARCHAR) AS category,
    CAST(author_id AS VARCHAR) AS author_id,
    CAST(created_at AS TIMESTAMPTZ) AS created_at,
    -- Not staged: it decides which of several copies of a key is kept.
    CAST(updated_at AS TIMESTAMPTZ) AS updated_at
FROM judged
