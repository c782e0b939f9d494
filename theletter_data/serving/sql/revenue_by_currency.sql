-- Each newsletter's payments of the short period, one row per currency: the metric's days
-- summed, and the customers who paid counted once however many days they paid on (no sum of the
-- daily counts gives that). Amounts of two currencies are never added.
WITH days AS (
    SELECT
        newsletter_id,
        currency,
        SUM(gross_paid) AS gross_paid,
        SUM(refunds) AS refunds,
        SUM(net_revenue) AS net_revenue,
        SUM(paid_invoices) AS paid_invoices,
        SUM(failed_payments) AS failed_payments,
        SUM(failed_amount) AS failed_amount,
        SUM(cancellations) AS cancellations
    FROM metrics.newsletter_revenue
    WHERE date >= @start_30 AND date < @end_date
    GROUP BY newsletter_id, currency
),

customers AS (
    SELECT newsletter_id, currency, COUNT(DISTINCT customer_hash) AS paying_customers
    FROM staging.stg_payment_events
    WHERE event_date >= @start_30 AND event_date < @end_date AND event_type = 'invoice.paid'
    GROUP BY newsletter_id, currency
)

SELECT
    d.newsletter_id,
    d.currency,
    d.gross_paid,
    d.refunds,
    d.net_revenue,
    d.paid_invoices,
    COALESCE(c.paying_customers, 0) AS paying_customers,
    d.failed_payments,
    d.failed_amount,
    d.cancellations
FROM days AS d
LEFT JOIN customers AS c ON d.newsletter_id = c.newsletter_id AND d.currency = c.currency
