"""stg_app_logs: one row per application log event, on the Japan-time day it was logged.
Owner: platform team (incident tracing).

Read from the CloudWatch Logs exports (docs/lake-layout.md): each line is a timestamp and the JSON
message a service logged. Kept: the service (log group) and log stream, level (WARN and FATAL
normalised to WARNING and CRITICAL), request id, user and newsletter ids when present, message,
error type and the HTTP request's method, path (no query string), status and duration. Email
addresses in messages are masked; every other field of the message is dropped. A line that is
not a timestamp and a JSON object with a level and a message is quarantined with its reason.
`theletter-data trace` follows a request id or a newsletter through this table.
"""

from __future__ import annotations

from theletter_data.raw.assets import raw_app_logs
from theletter_data.raw.sources import APP_LOGS
from theletter_data.sql import read_sql
from theletter_data.staging.lines.asset import line_stream_asset
from theletter_data.staging.lines.declaration import LineStaging
from theletter_data.staging.quarantine import EMAIL_PATTERN
from theletter_data.tables import Column, Table

LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")

STG_APP_LOGS = Table(
    layer="staging",
    name="stg_app_logs",
    grain="one row per log event",
    partition_by="event_date",
    key=("event_date", "event_id"),
    cluster_by=("request_id", "newsletter_id"),
    columns=(
        Column("event_date", "DATE", "Japan-time day the event was logged."),
        Column("event_at", "TIMESTAMP", "When it was logged (UTC)."),
        Column("event_id", "STRING", "Fingerprint of service, log stream, instant and message."),
        Column("service", "STRING", "The service (log group) that logged it."),
        Column("log_stream", "STRING", "CloudWatch log stream (one per task)."),
        Column("level", "STRING", "Log level.", accepted_values=LEVELS),
        Column("request_id", "STRING", "Request the event belongs to.", required=False),
        Column("user_id", "STRING", "Account id of the signed-in user.", required=False),
        Column("newsletter_id", "STRING", "Newsletter concerned.", required=False),
        Column("post_id", "STRING", "Post concerned.", required=False),
        Column("message", "STRING", "The message, email addresses masked."),
        Column("error_type", "STRING", "Exception class of an error.", required=False),
        Column("http_method", "STRING", "HTTP method of a request log.", required=False),
        Column("http_path", "STRING", "Path of a request log, no query string.", required=False),
        Column("http_status", "INT64", "HTTP status of a request log.", required=False),
        Column("duration_ms", "FLOAT64", "Duration of a request.", required=False),
        Column("source_object", "STRING", "Lake key of the export object."),
    ),
)

APP_LOG_EVENTS = LineStaging(
    stream=APP_LOGS,
    table=STG_APP_LOGS,
    projection_sql=read_sql(__file__, "app_logs"),
    patterns={"email_pattern": EMAIL_PATTERN},
    newsletters_must_exist=False,
)

stg_app_logs = line_stream_asset(APP_LOG_EVENTS, upstream=raw_app_logs, description=__doc__ or "")
