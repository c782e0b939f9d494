-- Stripe webhook events -> one typed row per payment event, or a reject reason.
-- DuckDB dialect: this runs in the ingestion engine in every environment, over
-- raw_lines(source_object, arrival_hour, line). Format: docs/lake-layout.md.
-- Parameters: $hmac_ipad, $hmac_opad (the pseudonymisation key's HMAC pads, for the engine's
-- `pseudonym` macro: resources/pseudonymizer.py), $event_types (the
-- types staged). Patterns, put in as constants (sql.with_patterns): $id_pattern
-- (theletter_data.ids), $currency_pattern.
WITH extracted AS (
    SELECT
        source_object,
        arrival_hour,
        line,
        -- One parse per line into the fields staging reads (numbers come as their text).
        -- A line that is not a JSON object gives NULL (malformed_json).
        try(from_json(line, '{
            "id": "VARCHAR", "object": "VARCHAR", "type": "VARCHAR", "created": "VARCHAR",
            "livemode": "VARCHAR",
            "data": {
                "object": {
                    "id": "VARCHAR", "object": "VARCHAR", "currency": "VARCHAR",
                    "customer_email": "VARCHAR", "receipt_email": "VARCHAR",
                    "billing_details": {"email": "VARCHAR"},
                    "amount_paid": "VARCHAR", "amount_due": "VARCHAR",
                    "amount_refunded": "VARCHAR", "invoice": "VARCHAR",
                    "metadata": {"newsletter_id": "VARCHAR", "subscription_id": "VARCHAR"},
                    "subscription_details": {
                        "metadata": {"newsletter_id": "VARCHAR", "subscription_id": "VARCHAR"}
                    },
                    "lines": {"data": "JSON"},
                    "items": {"data": "JSON"}
                },
                "previous_attributes": {"amount_refunded": "VARCHAR"}
            }
        }')) AS e
    FROM raw_lines
),

typed AS (
    SELECT
        *,
        e.data."object" AS o,
        -- Whole numbers only: a cast would round `800.5` to 801, and Stripe writes none.
        to_timestamp(try_cast(
            CASE WHEN regexp_full_match(e.created, '[0-9]{1,12}') THEN e.created END AS BIGINT
        )) AS event_at,
        -- Invoices carry their subscription's metadata; charges and subscriptions their own.
        CASE WHEN starts_with(e."type", 'invoice.')
            THEN e.data."object".subscription_details.metadata.newsletter_id
            ELSE e.data."object".metadata.newsletter_id
        END AS newsletter_id,
        CASE WHEN starts_with(e."type", 'invoice.')
            THEN e.data."object".subscription_details.metadata.subscription_id
            ELSE e.data."object".metadata.subscription_id
        END AS subscription_id,
        CASE e."type"
            WHEN 'invoice.paid' THEN e.data."object".amount_paid
            WHEN 'invoice.payment_failed' THEN e.data."object".amount_due
            WHEN 'charge.refunded' THEN e.data."object".amount_refunded
        END AS amount_text,
        -- The price of the first line (an invoice) or item (a subscription): one per plan here.
        try(from_json(
            coalesce(
                json_extract(e.data."object".lines.data, '$[0].price'),
                json_extract(e.data."object".items.data, '$[0].price')
            ),
            '{"id": "VARCHAR", "recurring": {"interval": "VARCHAR"}}'
        )) AS price,
        coalesce(
            e.data."object".customer_email,
            e.data."object".billing_details.email,
            e.data."object".receipt_email
        ) AS customer_email
    FROM extracted
),

amounts AS (
    SELECT
        *,
        -- A charge refunded in parts sends one event per refund with the running total: the
        -- refund's own amount is the total less the one before it.
        try_cast(CASE WHEN regexp_full_match(amount_text, '[0-9]{1,18}') THEN amount_text END
            AS BIGINT)
        - CASE WHEN e."type" = 'charge.refunded' THEN coalesce(try_cast(
            CASE WHEN regexp_full_match(e.data.previous_attributes.amount_refunded, '[0-9]{1,18}')
                THEN e.data.previous_attributes.amount_refunded
            END AS BIGINT
        ), 0) ELSE 0 END AS amount
    FROM typed
),

judged AS (
    SELECT
        *,
        CASE
            -- A blank line parses to nothing: only then is it worth trimming.
            WHEN e IS NULL THEN
                CASE WHEN line IS NULL OR trim(line) = '' THEN 'blank_line' ELSE 'malformed_json' END
            WHEN e.id IS NULL THEN 'missing_field:id'
            WHEN NOT regexp_full_match(e.id, $id_pattern) THEN 'invalid_id:id'
            WHEN e."type" IS NULL THEN 'missing_field:type'
            WHEN NOT list_contains($event_types, e."type") THEN 'unknown_event_type'
            -- A test-mode event is not money: never counted with live ones.
            WHEN e.livemode IS DISTINCT FROM 'true' THEN 'test_mode_event'
            WHEN e.created IS NULL THEN 'missing_field:created'
            WHEN event_at IS NULL THEN 'invalid_timestamp'
            WHEN o.id IS NULL THEN 'missing_field:data.object.id'
            WHEN newsletter_id IS NULL THEN 'missing_field:newsletter_id'
            WHEN NOT regexp_full_match(newsletter_id, $id_pattern) THEN 'invalid_id:newsletter_id'
            WHEN subscription_id IS NULL THEN 'missing_field:subscription_id'
            WHEN NOT regexp_full_match(subscription_id, $id_pattern)
                THEN 'invalid_id:subscription_id'
            WHEN o.currency IS NULL THEN 'missing_field:currency'
            WHEN NOT regexp_full_match(o.currency, $currency_pattern) THEN 'invalid_currency'
            WHEN e."type" <> 'customer.subscription.deleted' AND amount_text IS NULL
                THEN 'missing_field:amount'
            WHEN e."type" <> 'customer.subscription.deleted' AND (amount IS NULL OR amount < 0)
                THEN 'invalid_amount'
            WHEN e."type" <> 'customer.subscription.deleted'
                AND (customer_email IS NULL OR NOT contains(customer_email, '@'))
                THEN 'missing_field:customer_email'
        END AS reject_reason
    FROM amounts
)

SELECT
    source_object,
    arrival_hour,
    reject_reason,
    line AS raw_line,
    event_at,
    e.id AS event_id,
    e."type" AS event_type,
    newsletter_id,
    subscription_id,
    pseudonym(customer_email, $hmac_ipad, $hmac_opad) AS customer_hash,  -- NULL for NULL
    o.id AS object_id,
    CASE
        WHEN e."type" LIKE 'invoice.%' THEN o.id
        WHEN e."type" = 'charge.refunded' THEN o.invoice
    END AS invoice_id,
    CASE WHEN e."type" <> 'customer.subscription.deleted' THEN amount END AS amount,
    o.currency AS currency,
    price.id AS price_id,
    price.recurring."interval" AS billing_interval
FROM judged
