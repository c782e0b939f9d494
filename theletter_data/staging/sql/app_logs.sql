-- CloudWatch Logs export lines -> one typed row per log event, or a reject reason.
-- DuckDB dialect: this runs in the ingestion engine in every environment, over
-- raw_lines(source_object, arrival_hour, line). Format: docs/lake-layout.md.
-- Patterns (put in as constants, the declaration's `patterns`): $email_pattern (addresses in
-- messages are masked).
WITH split AS (
    SELECT
        source_object,
        arrival_hour,
        line,
        -- `<ISO-8601 UTC timestamp> <message>`; the object's key names the service and stream.
        try_cast(split_part(line, ' ', 1) AS TIMESTAMPTZ) AS event_at,
        CASE WHEN strpos(line, ' ') > 0 THEN substr(line, strpos(line, ' ') + 1) END AS message_text,
        split_part(source_object, '/', 3) AS service,
        regexp_extract(source_object, '^[^/]+/[^/]+/[^/]+/[^/]+/(.+)/[^/]+$', 1) AS log_stream
    FROM raw_lines
),

parsed AS (
    SELECT
        *,
        -- One parse per message; a message that is not a JSON object gives NULL.
        try(from_json(message_text, '{
            "level": "VARCHAR", "message": "VARCHAR", "msg": "VARCHAR",
            "request_id": "VARCHAR", "user_id": "VARCHAR", "newsletter_id": "VARCHAR",
            "post_id": "VARCHAR", "error_type": "VARCHAR", "method": "VARCHAR", "path": "VARCHAR",
            "status": "VARCHAR", "duration_ms": "VARCHAR"
        }')) AS m
    FROM split
),

leveled AS (
    SELECT
        *,
        CASE upper(m.level)
            WHEN 'WARN' THEN 'WARNING'
            WHEN 'FATAL' THEN 'CRITICAL'
            ELSE upper(m.level)
        END AS level,
        coalesce(m.message, m.msg) AS message
    FROM parsed
),

judged AS (
    SELECT
        *,
        CASE
            WHEN line IS NULL OR trim(line) = '' THEN 'blank_line'
            WHEN event_at IS NULL THEN 'invalid_timestamp'
            WHEN m IS NULL THEN 'malformed_json'
            WHEN m.level IS NULL THEN 'missing_field:level'
            WHEN level NOT IN ('DEBUG', 'INFO', 'WARNING', 'ERROR', 'CRITICAL')
                THEN 'unknown_level'
            WHEN message IS NULL THEN 'missing_field:message'
        END AS reject_reason
    FROM leveled
)

SELECT
    source_object,
    arrival_hour,
    reject_reason,
    line AS raw_line,
    event_at,
    -- A re-run export task writes the same lines under another task id: the same event. The
    -- instant is typed, so a timestamp written with or without milliseconds is the same too.
    md5(concat_ws('|', service, log_stream, epoch_us(event_at), message_text)) AS event_id,
    service,
    log_stream,
    level,
    m.request_id AS request_id,
    m.user_id AS user_id,
    m.newsletter_id AS newsletter_id,
    m.post_id AS post_id,
    -- Addresses in free text are personal data; query strings can carry them too.
    regexp_replace(message, $email_pattern, '<email>', 'g') AS message,
    m.error_type AS error_type,
    m.method AS http_method,
    -- A path segment can be an address too (`/readers/hanako@example.jp`).
    regexp_replace(regexp_replace(m.path, '[?#].*$', ''), $email_pattern, '<email>', 'g')
        AS http_path,
    try_cast(m.status AS BIGINT) AS http_status,
    try_cast(m.duration_ms AS DOUBLE) AS duration_ms
FROM judged
