-- The newsletters that get a dashboard document: those of the newest app export up to the as-of
-- day (looked for over the export days: the export is daily).
SELECT newsletter_id, slug, name
FROM staging.stg_newsletters
WHERE snapshot_date > DATE_SUB(@as_of, INTERVAL @export_days DAY) AND snapshot_date <= @as_of
QUALIFY snapshot_date = MAX(snapshot_date) OVER ()
