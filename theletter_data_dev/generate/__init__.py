"""A realistic, deterministic demo data lake for theLetter.

`generate_lake(lake, start, end, ...)` writes what the platform's producers would have written
for those Japan-time days, in the exact raw formats of `docs/lake-layout.md`: SES event-publishing
records and beacon page views as Firehose gzip objects, and the app's nightly Parquet exports.

Modules, in the order data flows:
* `world` - the simulated platform since the 2024-10-01 launch, built from `newsletters`,
  `posts`, `readers` (with `reader_traits`, `reader_emails`), `subscriptions` and `links` (URL
  vocabularies), out of the words of `vocab`;
* `email_events` - what SES reports about each day's sends (and the visits clicks cause): rows
  of `email_event_rows`, from `email_delivery` (bounces, deliveries, complaints, machine opens)
  and `email_opens_clicks` (people reading);
* `page_views` - the beacon's page loads (organic, social, search, bots);
* `ses_lines` (with `ses_event_details`, `ses_wording`), `page_view_lines` - records as JSON
  lines, built column-wise with `text`;
* `firehose` - delivery into buffered, late, duplicated, occasionally broken gzip objects;
* `appdb` - the exports; `report` - what was written; `runner` - days over processes.
`clock` holds the time and randomness conventions that make every day reproducible on its own.
"""

from .report import GenerationReport, StreamCounts
from .runner import generate_lake

__all__ = ["GenerationReport", "StreamCounts", "generate_lake"]
