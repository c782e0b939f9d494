-- Every day of the window has its row, with or without activity.
SELECT day AS date
FROM UNNEST(GENERATE_DATE_ARRAY(@start_date, DATE_SUB(@end_date, INTERVAL 1 DAY))) AS day
