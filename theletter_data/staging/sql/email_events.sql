-- SES event-publishing records -> one typed row per event and recipient, or a reject reason.
-- DuckDB dialect: this runs in the ingestion engine in every environment, over
-- raw_lines(source_object, arrival_hour, line). Format: docs/lake-layout.md.
-- Parameters: $hmac_ipad, $hmac_opad (the pseudonymisation key's HMAC pads).
WITH extracted AS (
    SELECT
        source_object,
        arrival_hour,
        line,
        -- One parse per line into the fields staging reads; lists whose shape varies stay JSON.
        -- A line that is not a JSON object gives NULL (malformed_json).
        try(from_json(line, '{
            "eventType": "VARCHAR",
            "mail": {"messageId": "VARCHAR", "timestamp": "VARCHAR", "destination": "JSON",
                     "tags": {"newsletter_id": "JSON", "post_id": "JSON"}},
            "delivery": {"timestamp": "VARCHAR", "recipients": "JSON"},
            "bounce": {"timestamp": "VARCHAR", "bounceType": "VARCHAR", "bounceSubType": "VARCHAR",
                       "bouncedRecipients": "JSON"},
            "complaint": {"timestamp": "VARCHAR", "complainedRecipients": "JSON",
                          "complaintFeedbackType": "VARCHAR"},
            "open": {"timestamp": "VARCHAR", "userAgent": "VARCHAR", "ipAddress": "VARCHAR"},
            "click": {"timestamp": "VARCHAR", "link": "VARCHAR", "userAgent": "VARCHAR"},
            "deliveryDelay": {"timestamp": "VARCHAR", "delayType": "VARCHAR",
                              "delayedRecipients": "JSON"},
            "subscription": {"timestamp": "VARCHAR",
                             "newTopicPreferences": {"unsubscribeAll": "VARCHAR"}}
        }')) AS r
    FROM raw_lines
),

typed AS (
    SELECT
        source_object,
        arrival_hour,
        line,
        r,
        r.mail.messageId AS message_id,
        json_extract_string(r.mail.tags.newsletter_id, '$[0]') AS newsletter_id,
        json_extract_string(r.mail.tags.post_id, '$[0]') AS post_id,
        CASE r.eventType
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
        CASE r.eventType
            WHEN 'Delivery' THEN r.delivery."timestamp"
            WHEN 'Bounce' THEN r.bounce."timestamp"
            WHEN 'Complaint' THEN r.complaint."timestamp"
            WHEN 'Open' THEN r."open"."timestamp"
            WHEN 'Click' THEN r.click."timestamp"
            WHEN 'DeliveryDelay' THEN r.deliveryDelay."timestamp"
            WHEN 'Subscription' THEN r.subscription."timestamp"
            ELSE r.mail."timestamp"
        END AS event_at_text,
        -- The recipients the event is about: the per-type list where SES gives one.
        try(CASE r.eventType
            WHEN 'Delivery' THEN json_extract_string(r.delivery.recipients, '$[*]')
            WHEN 'Bounce' THEN json_extract_string(r.bounce.bouncedRecipients, '$[*].emailAddress')
            WHEN 'Complaint'
                THEN json_extract_string(r.complaint.complainedRecipients, '$[*].emailAddress')
            WHEN 'DeliveryDelay'
                THEN json_extract_string(r.deliveryDelay.delayedRecipients, '$[*].emailAddress')
            ELSE json_extract_string(r.mail.destination, '$[*]')
        END) AS recipients
    FROM extracted
),

timed AS (
    SELECT
        *,
        try_cast(event_at_text AS TIMESTAMPTZ) AS event_at,
        try_cast(r.mail."timestamp" AS TIMESTAMPTZ) AS sent_at
    FROM typed
),

judged AS (
    SELECT
        *,
        CASE
            -- A blank line parses to nothing: only then is it worth trimming.
            WHEN r IS NULL OR r.eventType IS NULL THEN
                CASE
                    WHEN line IS NULL OR trim(line) = '' THEN 'blank_line'
                    WHEN r IS NULL THEN 'malformed_json'
                    ELSE 'missing_field:eventType'
                END
            WHEN event_type IS NULL THEN 'unknown_event_type'
            WHEN message_id IS NULL THEN 'missing_field:mail.messageId'
            WHEN newsletter_id IS NULL THEN 'missing_field:mail.tags.newsletter_id'
            WHEN event_at_text IS NULL THEN 'missing_field:timestamp'
            WHEN event_at IS NULL OR sent_at IS NULL THEN 'invalid_timestamp'
            WHEN recipients IS NULL OR len(recipients) = 0 THEN 'missing_field:recipient'
            WHEN len(list_filter(recipients, lambda address: NOT contains(address, '@'))) > 0
                THEN 'invalid_recipient'
        END AS reject_reason
    FROM timed
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
        regexp_replace(r.click.link, '[?#].*$', '') AS link_url
    FROM per_recipient
)

SELECT
    source_object,
    arrival_hour,
    reject_reason,
    line AS raw_line,
    event_at,
    -- From typed values: the same instant written `...00Z` or `...00.000Z` is the same event.
    md5(concat_ws('|', message_id, event_type, epoch_us(event_at), recipient_hash, link_url))
        AS event_id,
    event_type,
    message_id,
    sent_at,
    newsletter_id,
    post_id,
    recipient_hash,
    r.bounce.bounceType AS bounce_type,
    r.bounce.bounceSubType AS bounce_sub_type,
    r.complaint.complaintFeedbackType AS complaint_type,
    r.deliveryDelay.delayType AS delay_type,
    link_url,
    coalesce(r."open".userAgent, r.click.userAgent) AS user_agent,
    -- Apple Mail Privacy Protection prefetches images through Apple's proxies (17.0.0.0/8)
    -- with a bare user agent: such an open says nothing about a person reading the email.
    CASE
        WHEN event_type = 'open' THEN coalesce(
            r."open".userAgent = 'Mozilla/5.0' OR starts_with(r."open".ipAddress, '17.'), false
        )
    END AS is_machine_open,
    CASE
        WHEN event_type = 'subscription'
            THEN try_cast(r.subscription.newTopicPreferences.unsubscribeAll AS BOOLEAN)
    END AS unsubscribe_all
FROM pseudonymised
