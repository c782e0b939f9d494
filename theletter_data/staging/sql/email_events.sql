-- SES event-publishing records -> one typed row per event and recipient, or a reject reason.
-- DuckDB dialect: this runs in the ingestion engine in every environment, over
-- raw_lines(source_object, arrival_hour, line). Format: docs/lake-layout.md.
-- Parameters: $hmac_ipad, $hmac_opad (the pseudonymisation key's HMAC pads, for the engine's
-- `pseudonym` macro: resources/pseudonymizer.py),
-- $free_text_characters (free text is cut to this). Patterns, put in as constants (the
-- declaration's `patterns`): $email_pattern (addresses in the receiving servers' free text are
-- masked), $link_tag_pattern (what SES allows in a link tag's name and value). And the rules of
-- staging/email_clients.py, as CASE expressions over the lower-cased agent
-- (`/* email client rules */`, `/* device class rules */`: email_events.py puts them in).
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
            "delivery": {"timestamp": "VARCHAR", "recipients": "JSON",
                         "processingTimeMillis": "VARCHAR", "smtpResponse": "VARCHAR"},
            "bounce": {"timestamp": "VARCHAR", "bounceType": "VARCHAR", "bounceSubType": "VARCHAR",
                       "bouncedRecipients": "JSON"},
            "complaint": {"timestamp": "VARCHAR", "complainedRecipients": "JSON",
                          "complaintFeedbackType": "VARCHAR"},
            "open": {"timestamp": "VARCHAR", "userAgent": "VARCHAR", "ipAddress": "VARCHAR"},
            "click": {"timestamp": "VARCHAR", "link": "VARCHAR", "linkTags": "JSON",
                      "userAgent": "VARCHAR"},
            "deliveryDelay": {"timestamp": "VARCHAR", "delayType": "VARCHAR",
                              "delayedRecipients": "JSON"},
            "reject": {"reason": "VARCHAR"},
            "failure": {"errorMessage": "VARCHAR", "templateName": "VARCHAR"},
            "subscription": {"timestamp": "VARCHAR", "source": "VARCHAR",
                             "contactList": "VARCHAR",
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
        END) AS recipients,
        -- The receiving server's diagnostic per recipient (bounce and delay list one each).
        try(from_json(
            CASE r.eventType
                WHEN 'Bounce' THEN r.bounce.bouncedRecipients
                WHEN 'DeliveryDelay' THEN r.deliveryDelay.delayedRecipients
            END,
            '[{"emailAddress": "VARCHAR", "diagnosticCode": "VARCHAR"}]'
        )) AS recipient_diagnostics
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
        pseudonym(recipient, $hmac_ipad, $hmac_opad) AS recipient_hash,  -- NULL for NULL
        -- Query strings can carry personal tokens: a link keeps its scheme, host and path.
        regexp_replace(r.click.link, '[?#].*$', '') AS link_url,
        list_filter(recipient_diagnostics, lambda d: d.emailAddress = recipient)[1].diagnosticCode
            AS diagnostic_text,
        -- The recipient's own address as written, whatever its form (a quoted local part with a
        -- space escapes the pattern below), case-insensitively.
        CASE WHEN recipient IS NOT NULL THEN '(?i)' || regexp_escape(trim(recipient)) END
            AS recipient_pattern
    FROM per_recipient
),

masked AS (
    -- Receiving servers quote addresses in free text (`550 5.1.1 <hanako@example.jp>: Recipient
    -- address rejected`): the recipient's own, then any word holding an at sign, are masked.
    SELECT
        *,
        -- Masked whole, then cut: an address straddling the cut leaves nothing of itself. The
        -- recipient's pattern differs by row, so it is compiled per row: only for a text that
        -- holds an `@`, as any match of an address does (most delivery responses hold none).
        left(regexp_replace(
            CASE
                WHEN contains(recipient, '@') AND NOT contains(diagnostic_text, '@')
                    THEN diagnostic_text
                ELSE regexp_replace(diagnostic_text, recipient_pattern, '<email>', 'g')
            END,
            $email_pattern, '<email>', 'g'
        ), $free_text_characters) AS diagnostic_code,
        left(regexp_replace(
            CASE
                WHEN contains(recipient, '@') AND NOT contains(r.delivery.smtpResponse, '@')
                    THEN r.delivery.smtpResponse
                ELSE regexp_replace(r.delivery.smtpResponse, recipient_pattern, '<email>', 'g')
            END,
            $email_pattern, '<email>', 'g'
        ), $free_text_characters) AS smtp_response,
        left(regexp_replace(
            CASE
                WHEN contains(recipient, '@') AND NOT contains(r.failure.errorMessage, '@')
                    THEN r.failure.errorMessage
                ELSE regexp_replace(r.failure.errorMessage, recipient_pattern, '<email>', 'g')
            END,
            $email_pattern, '<email>', 'g'
        ), $free_text_characters) AS error_message,
        -- SES's shape: an object of tag name to a list of tag values, each of letters, digits,
        -- `_` and `-`. Anything else is not SES's: the click stays, without tags.
        CASE
            WHEN json_type(r.click.linkTags) = 'OBJECT'
                AND len(json_keys(r.click.linkTags)) > 0
                AND list_bool_and(list_transform(
                    json_keys(r.click.linkTags), lambda k: regexp_full_match(k, $link_tag_pattern)
                ))
                AND list_bool_and(list_transform(
                    json_extract(r.click.linkTags, '$.*'), lambda v: json_type(v) = 'ARRAY'
                ))
                AND list_bool_and(list_transform(
                    json_extract(r.click.linkTags, '$.*[*]'),
                    lambda v: json_type(v) = 'VARCHAR'
                        AND regexp_full_match(v ->> '$', $link_tag_pattern)
                ))
                THEN to_json(json_transform(r.click.linkTags, '"MAP(VARCHAR, VARCHAR[])"'))::VARCHAR
        END AS link_tags,
        -- Apple Mail Privacy Protection prefetches images through Apple's proxies (17.0.0.0/8)
        -- with a bare user agent: such an open says nothing about a person reading the email.
        CASE
            WHEN event_type = 'open' THEN coalesce(
                r."open".userAgent = 'Mozilla/5.0' OR starts_with(r."open".ipAddress, '17.'), false
            )
        END AS is_machine_open
    FROM pseudonymised
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
    link_tags,
    coalesce(r."open".userAgent, r.click.userAgent) AS user_agent,
    is_machine_open,
    -- A person's open: the mail app and the kind of device, by the first rule that matches its
    -- agent (staging/email_clients.py); a machine open has neither.
    CASE WHEN event_type = 'open' AND NOT is_machine_open
        THEN /* email client rules */ END AS email_client,
    CASE WHEN event_type = 'open' AND NOT is_machine_open
        THEN /* device class rules */ END AS device_class,
    CASE
        WHEN event_type = 'subscription'
            THEN try_cast(r.subscription.newTopicPreferences.unsubscribeAll AS BOOLEAN)
    END AS unsubscribe_all,
    CASE WHEN event_type = 'reject' THEN r.reject.reason END AS ses_reject_reason,
    CASE WHEN event_type IN ('bounce', 'delivery_delay') THEN diagnostic_code END
        AS diagnostic_code,
    CASE WHEN event_type = 'delivery' THEN smtp_response END AS smtp_response,
    -- A negative duration is no duration.
    CASE WHEN event_type = 'delivery' THEN
        CASE WHEN try_cast(r.delivery.processingTimeMillis AS BIGINT) >= 0
            THEN try_cast(r.delivery.processingTimeMillis AS BIGINT)
        END
    END AS processing_time_ms,
    CASE WHEN event_type = 'rendering_failure' THEN error_message END AS error_message,
    CASE WHEN event_type = 'rendering_failure' THEN r.failure.templateName END AS template_name,
    CASE WHEN event_type = 'subscription' THEN r.subscription.source END
        AS subscription_source,
    CASE WHEN event_type = 'subscription' THEN r.subscription.contactList END AS contact_list
FROM masked
