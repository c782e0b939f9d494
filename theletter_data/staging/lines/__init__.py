"""Staging a stream of text lines (the Firehose streams, the CloudWatch Logs exports) a
Japan-time day at a time: read, type, judge, deduplicate, replace.

Every raw line read for a day ends in exactly one place, which makes the day reconcilable:
- staged: a valid record whose own timestamp falls on the day (first copy of each event);
- a duplicate: a later copy of a staged event (at-least-once delivery);
- quarantined: a line that cannot be staged (malformed, missing fields, outside the arrival
  window), judged by the day on which its object *arrived*, so it is quarantined exactly once;
  or a valid event of a newsletter the app does not have, judged by its own day;
- another day's: a valid record of a neighbouring day, read because arrival windows overlap.
Blank lines are not records; they are counted apart.

Consecutive days (a backfill) are staged together: their objects are listed once, read once in
one engine session, in delivery order and a batch at a time, and every line is judged in one
pass against the day it belongs to; each day is still deduplicated, held to the quarantine
limit and reconciled on its own, and the group is one warehouse write. Each batch's new events
go straight to the warehouse, which commits the days (and their quarantine rows) only at the
end; between batches only the ids of the events handed over are kept (16 bytes each), so
memory and spill are bounded by a batch, not by the days.

The modules, in the order a group of days goes through them:
- declaration.py: `LineStaging`, what a stream's staging module declares;
- planning.py: the days' arrival windows, objects, write groups and batches;
- session.py: the engine-side state of a group (its temporary tables and parameters);
- reading.py: objects to lines, what the reader refuses, damaged objects;
- judging.py (sql/judge.sql): each line to its day and its place;
- first_copies.py: deduplication and the hand-over of new events to the warehouse;
- accounting.py: each day's figures (`StagedDay`) and quarantine rows;
- stage.py: `stage_days` and `stage_day`, which tie them to the warehouse write;
- asset.py: the asset every line stream's staged table is.

The stream-specific part is one SQL projection (DuckDB dialect, `staging/sql/<stream>.sql`)
over `raw_lines(source_object, arrival_hour, line)` that yields `reject_reason`, `raw_line`,
`event_at`, `event_id` and the staged table's columns.
"""
