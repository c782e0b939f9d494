"""A realistic, deterministic demo data lake for theLetter.

`generate_lake(lake, start, end, ...)` writes what the platform's producers would have written
for those Japan-time days, in the exact raw formats of `docs/lake-layout.md`: SES event-publishing
records and beacon page views as Firehose gzip objects, and the app's nightly Parquet exports.

Modules, in the order data flows:
* `world` - the simulated platform since the 2024-10-01 launch, built from `publishing`
  (newsletters, posts), `audience` (readers, subscriptions) and `links` (URL vocabularies);
* `email_events` - what SES reports about each day's sends (and the visits clicks cause);
* `page_views` - the beacon's page loads (organic, social, search, bots);
* `ses_lines`, `page_view_lines` - records as JSON lines, built column-wise with `text`;
* `firehose` - delivery into buffered, late, duplicated, occasionally broken gzip objects;
* `appdb` - the exports; `report` - what was written; `runner` - days over processes.
`clock` holds the time and randomness conventions that make every day reproducible on its own.
"""

from .report import GenerationReport, StreamCounts
from .runner import generate_lake

__all__ = ["GenerationReport", "StreamCounts", "generate_lake"]
