-- Payment events per newsletter and day of the series' days, every currency's together (counts
-- add up across currencies; amounts do not, revenue_by_currency.sql keeps them apart); days
-- without any are absent.
SELECT
    newsletter_id,
    date,
    SUM(paid_invoices) AS paid_invoices,
    SUM(failed_payments) AS failed_payments,
    SUM(cancellations) AS cancellations
FROM metrics.newsletter_revenue
WHERE date >= @start_date AND date < @end_date
GROUP BY newsletter_id, date
