-- SES event-publishing records -> one typed row per event and recipient, or a reject reason.
-- DuckDB dialect: this runs in the ingestion engine in every environment, over
-- raw_lines(source_object, arrival_hour, line). Format: docs/lake-layout.md.
-- Parameters: $hmac_ipad, $hmac_opad (the pseudonymisation key's HMAC pads).
WITH extracted AS (
    SELECT
        source_object,
        arrival_hour,
        line,
        -- One JSON parse per line for every field (a list of paths in one call).
        try(json_extract_string(line, [
            '$.eventType',                                      -- 1
            '$.mail.messageId',                                 -- 2
            '$.mail.timestamp',                                 -- 3
            '$.mail.tags.newsletter_id[0]',                     -- 4
            '$.mail.tags.post_id[0]',                           -- 5
            '$.mail.destination',                               -- 6
            '$.delivery.timestamp',                             -- 7
            '$.delivery.recipients',                            -- 8
            '$.bounce.timestamp',                               -- 9
            '$.bounce.bounceType',                              -- 10
            '$.bounce.bounceSubType',                           -- 11
            '$.bounce.bouncedRecipients',                       -- 12
            '$.complaint.timestamp',                            -- 13
            '$.complaint.complainedRecipients',                 -- 14
            '$.complaint.complaintFeedbackType',                -- 15
            '$.open.timestamp',                                 -- 16
            '$.open.userAgent',                                 -- 17
            '$.open.ipAddress',                                 -- 18
            '$.click.timestamp',                                -- 19
            '$.click.link',                                     -- 20
            '$.click.userAgent',                                -- 21
            '$.deliveryDelay.timestamp',                        -- 22
            '$.deliveryDelay.delayType',                        -- 23
            '$.deliveryDelay.delayedRecipients',                -- 24
            '$.subscription.timestamp',                         -- 25
            '$.subscription.newTopicPreferences.unsubscribeAll' -- 26
        ])) AS f
    FROM raw_lines
),

typed AS (
    SELECT
        source_object,
        arrival_hour,
        line,
        f,
        CASE f[1]
            WHEN 'Send' THEN 'send'
            WHEN 'Delivery' THEN 'delivery'
            WHEN 'Bounce' THEN 'bounce'
            WHEN 'Complaint' THEN 'complaint'
            WHEN 'Reject' THEN 'reject'
            WHEN 'Open' THEN 'open'
            WHEN 'Click' THEN 'click'
            WHEN 'DeliveryDelay' THEN 'delivery_delay'
            WHEN 'Rendering Failure' THEN 'rendering_failure'
            WHEN 'Subscription' THEN 'subscription'
        END AS event_type,
        -- Send, Reject and Rendering Failure have no timestamp of their own.
        CASE f[1]
            WHEN 'Delivery' THEN f[7]
            WHEN 'Bounce' THEN f[9]
            WHEN 'Complaint' THEN f[13]
            WHEN 'Open' THEN f[16]
            WHEN 'Click' THEN f[19]
            WHEN 'DeliveryDelay' THEN f[22]
            WHEN 'Subscription' THEN f[25]
            ELSE f[3]
        END AS event_at_text,
        -- The recipients the event is about: the per-type list where SES gives one.
        try(CASE f[1]
            WHEN 'Delivery' THEN json_extract_string(f[8], '$[*]')
            WHEN 'Bounce' THEN json_extract_string(f[12], '$[*].emailAddress')
            WHEN 'Complaint' THEN json_extract_string(f[14], '$[*].emailAddress')
            WHEN 'DeliveryDelay' THEN json_extract_string(f[24], '$[*].emailAddress')
            ELSE json_extract_string(f[6], '$[*]')
        END) AS recipients
    FROM extracted
),

judged AS (
    SELECT
        *,
        try_cast(event_at_text AS TIMESTAMPTZ) AS event_at,
        CASE
            WHEN line IS NULL OR trim(line) = '' THEN 'blank_line'
            WHEN f IS NULL THEN 'malformed_json'
            WHEN f[1] IS NULL THEN 'missing_field:eventType'
            WHEN event_type IS NULL THEN 'unknown_event_type'
            WHEN f[2] IS NULL THEN 'missing_field:mail.messageId'
            WHEN f[4] IS NULL THEN 'missing_field:mail.tags.newsletter_id'
            WHEN event_at_text IS NULL THEN 'missing_field:timestamp'
            WHEN try_cast(event_at_text AS TIMESTAMPTZ) IS NULL THEN 'invalid_timestamp'
            WHEN try_cast(f[3] AS TIMESTAMPTZ) IS NULL THEN 'invalid_timestamp'
            WHEN recipients IS NULL OR len(recipients) = 0 THEN 'missing_field:recipient'
            WHEN len(list_filter(recipients, lambda r: NOT contains(r, '@'))) > 0
                THEN 'invalid_recipient'
        END AS reject_reason
    FROM typed
),

per_recipient AS (
    -- One row per recipient; a rejected line keeps a single row.
    SELECT
        *,
        unnest(CASE WHEN reject_reason IS NULL THEN recipients ELSE [NULL] END) AS recipient
    FROM judged
),

pseudonymised AS (
    SELECT
        *,
        CASE WHEN recipient IS NOT NULL THEN
            sha256($hmac_opad || unhex(sha256($hmac_ipad || encode(lower(trim(recipient))))))
        END AS recipient_hash,
        -- Query strings can carry personal tokens: a link keeps its scheme, host and path.
        regexp_replace(f[20], '[?#].*$', '') AS link_url
    FROM per_recipient
)

SELECT
    source_object,
    arrival_hour,
    reject_reason,
    line AS raw_line,
    event_at,
    md5(concat_ws('|', f[2], event_type, event_at_text, recipient_hash, link_url)) AS event_id,
    event_type,
    f[2] AS message_id,
    try_cast(f[3] AS TIMESTAMPTZ) AS sent_at,
    f[4] AS newsletter_id,
    f[5] AS post_id,
    recipient_hash,
    f[10] AS bounce_type,
    f[11] AS bounce_sub_type,
    f[15] AS complaint_type,
    f[23] AS delay_type,
    link_url,
    coalesce(f[17], f[21]) AS user_agent,
    -- Apple Mail Privacy Protection prefetches images through Apple's proxies (17.0.0.0/8)
    -- with a bare user agent: such an open says nothing about a person reading the email.
    CASE
        WHEN event_type = 'open' THEN coalesce(f[17] = 'Mozilla/5.0' OR starts_with(f[18], '17.'), false)
    END AS is_machine_open,
    CASE WHEN event_type = 'subscription' THEN try_cast(f[26] AS BOOLEAN) END AS unsubscribe_all
FROM pseudonymised
