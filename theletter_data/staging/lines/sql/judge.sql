-- Each line read for a group of consecutive Japan-time days ($first_day..$last_day) -> the day
-- that answers for it (`judged_day`) and its place there (`disposition`):
--   candidate   a valid record of a group day, judged by its own day;
--   quarantine  a bad line, judged by the day its object arrived on (so that it is quarantined
--               exactly once); a valid event of a newsletter the app does not have, by its
--               own day;
--   blank       a blank line of an object that arrived on a group day (not a record);
--   elsewhere   a line that a day outside the group answers for.
-- DuckDB dialect, run by staging/lines/judging.py, which puts the stream's projection
-- (staging/sql/<stream>.sql over raw_lines) in `projected`. Registered tables:
-- group_days(day, window_first, window_end, checks_newsletters),
-- known_newsletters(event_day, newsletter_id), widened_windows(event_day, ends).
-- Parameters: $timezone, $skew, $lateness, $check_newsletters, $first_day, $last_day.
WITH projected AS (
    /* the stream's projection */
),

dated AS (
    SELECT
        *,
        CAST(timezone($timezone, event_at) AS DATE) AS event_day,
        CAST(timezone($timezone, arrival_hour) AS DATE) AS arrival_day
    FROM projected
),

windowed AS (
    SELECT
        dated.*,
        -- Objects delivered before the end of the event's day's window are read for it: the
        -- day's end plus the lateness, or the end a replay widened it to.
        coalesce(
            w.ends, timezone($timezone, CAST(dated.event_day + 1 AS TIMESTAMP)) + $lateness
        ) AS window_end,
        coalesce($check_newsletters AND g.checks_newsletters, false) AS checks_newsletters,
        k.newsletter_id IS NOT NULL AS known_newsletter
    FROM dated
    LEFT JOIN widened_windows AS w ON w.event_day = dated.event_day
    LEFT JOIN group_days AS g ON g.day = dated.event_day
    LEFT JOIN known_newsletters AS k
        ON k.event_day = dated.event_day AND k.newsletter_id = dated.newsletter_id
),

with_problem AS (
    SELECT
        *,
        CASE
            WHEN reject_reason IS NOT NULL THEN reject_reason
            WHEN arrival_hour < timezone($timezone, CAST(event_day AS TIMESTAMP)) - $skew
                THEN 'timestamp_after_arrival'
            WHEN arrival_hour >= window_end THEN 'arrived_after_window'
            WHEN checks_newsletters AND newsletter_id IS NOT NULL AND NOT known_newsletter
                THEN 'unknown_newsletter'
        END AS problem
    FROM windowed
),

answered AS (
    SELECT
        *,
        CASE
            WHEN problem IS NULL OR problem = 'unknown_newsletter' THEN event_day
            ELSE arrival_day
        END AS judged_day
    FROM with_problem
)

SELECT
    * EXCLUDE (
        reject_reason, raw_line, arrival_day, window_end, checks_newsletters, known_newsletter
    ),
    CASE WHEN problem IS NOT NULL THEN raw_line END AS raw_line,
    CASE
        WHEN judged_day IS NULL OR judged_day NOT BETWEEN $first_day AND $last_day
            THEN 'elsewhere'
        WHEN problem IS NULL THEN 'candidate'
        WHEN problem = 'blank_line' THEN 'blank'
        ELSE 'quarantine'
    END AS disposition
FROM answered
