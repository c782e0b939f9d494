-- App export rows -> stg_newsletters columns, or a reject reason. DuckDB dialect (ingestion
-- engine), over export_rows(source_object, <the export's columns>).
SELECT
    source_object,
    to_json(export_rows) AS raw_line,
    CASE
        WHEN newsletter_id IS NULL THEN 'missing_field:newsletter_id'
        WHEN slug IS NULL THEN 'missing_field:slug'
        WHEN created_at IS NULL THEN 'missing_field:created_at'
    END AS reject_reason,
    CAST(newsletter_id AS VARCHAR) AS newsletter_id,
    CAST(slug AS VARCHAR) AS slug,
    CAST(name AS VARCHAR) AS name,
    CAST(category AS VARCHAR) AS category,
    CAST(author_id AS VARCHAR) AS author_id,
    CAST(created_at AS TIMESTAMPTZ) AS created_at
FROM export_rows
