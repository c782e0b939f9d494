-- newsletter_revenue: one row per newsletter, day and currency with a payment event.
WITH payments AS (
    SELECT event_date, newsletter_id, currency, event_type, amount, customer_hash
    FROM staging.stg_payment_events
    WHERE event_date >= @start_date AND event_date < @end_date
)

SELECT
    event_date AS date,
    newsletter_id,
    currency,
    COALESCE(SUM(IF(event_type = 'invoice.paid', amount, 0)), 0) AS gross_paid,
    COALESCE(SUM(IF(event_type = 'charge.refunded', amount, 0)), 0) AS refunds,
    COALESCE(SUM(IF(event_type = 'invoice.paid', amount, 0)), 0)
    - COALESCE(SUM(IF(event_type = 'charge.refunded', amount, 0)), 0) AS net_revenue,
    COUNTIF(event_type = 'invoice.paid') AS paid_invoices,
    COUNT(DISTINCT IF(event_type = 'invoice.paid', customer_hash, NULL)) AS paying_customers,
    COUNTIF(event_type = 'invoice.payment_failed') AS failed_payments,
    COALESCE(SUM(IF(event_type = 'invoice.payment_failed', amount, 0)), 0) AS failed_amount,
    COUNTIF(event_type = 'customer.subscription.deleted') AS cancellations
FROM payments
GROUP BY event_date, newsletter_id, currency
