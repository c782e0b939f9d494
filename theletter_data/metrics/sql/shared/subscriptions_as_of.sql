-- Subscriptions as of each day: the one definition, which metric_asset.py puts in as the body
-- of the `as_of` CTE wherever a metric's SQL has this file's include marker.
-- It reads the statement's `days` CTE (one row per `day`, every day before the window's end)
-- and gives one row per day and subscription that existed at the day's end: the day's
-- snapshot of the app's subscriptions, with all of stg_subscriptions' columns, `day`,
-- `valid_to`, and the days (in the platform's time zone) the subscription started and ended
-- (`subscribed_on`, `unsubscribed_on`): converted once per version, not once per day (a time
-- zone conversion of every row of the expansion was most of the time of the metrics that
-- compare them with `day`).
--
-- stg_subscriptions holds each subscription's changes, not its snapshots
-- (staging/snapshot_changes.py): a version (row) is valid over [valid_from, valid_to), from
-- the day it was staged until the day of the subscription's next row, exclusive, or with no
-- end (valid_to NULL) when no row follows. A `deleted` row ends the version before it and is
-- no subscription itself. Rows staged on or after the window's end are not read: they can be
-- valid on no day of the window, nor end a version before its last day; and the filter on the
-- partition column keeps the bytes scanned to the partitions before the end.
SELECT d.day, v.*
FROM days AS d
INNER JOIN (
    SELECT
        *,
        DATE(subscribed_at, @timezone) AS subscribed_on,
        DATE(unsubscribed_at, @timezone) AS unsubscribed_on,
        LEAD(valid_from) OVER (PARTITION BY subscription_id ORDER BY valid_from) AS valid_to
    FROM staging.stg_subscriptions
    WHERE valid_from < @end_date
) AS v
    ON v.valid_from <= d.day AND (v.valid_to IS NULL OR v.valid_to > d.day)
WHERE v.change != 'deleted'
