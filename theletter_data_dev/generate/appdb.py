"""The app database's nightly exports: full snapshots of three tables as of a day's end.

A row is present once it was created on or before the day; its columns hold their values as of
the end of that Japan-time day (a draft is still a draft, an unsubscription that happened later
is not there yet). Unsubscribes made from an email carry the very instant of the SES
`Subscription` event, because both come from the same simulated subscription. Where each reader
signed up comes from attribution.py.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from theletter_data.raw.sources import appdb_export_prefix
from theletter_data.resources.lake import Lake

from . import text
from .attribution import signup_attribution
from .clock import day_of, day_start_ms
from .world import World

TIMESTAMP = pa.timestamp("ms", tz="UTC")
TABLES = ("newsletters", "posts", "subscriptions")


def _ts(ms: np.ndarray, valid: np.ndarray | None = None) -> pa.Array:
    mask = None if valid is None else ~np.asarray(valid, dtype=bool)
    return pa.array(
        np.where(mask, 0, ms) if mask is not None else ms, type=pa.int64(), mask=mask
    ).cast(TIMESTAMP)


def _latest(*instants: np.ndarray, before: int) -> np.ndarray:
    """The latest of several instants that happened before `before` (the first always has)."""
    out = instants[0].copy()
    for values in instants[1:]:
        out = np.where((values < before) & (values > out), values, out)
    return out


def snapshot(world: World, number: int) -> dict[str, pa.Table]:
    """The three tables as exported after Japan-time day `number` closed."""
    end = day_start_ms(number + 1)
    nls, posts, subs, readers = world.newsletters, world.posts, world.subscriptions, world.readers

    rows = np.flatnonzero(nls.created_ms < end)
    last_edit = np.full(len(nls), -1, dtype=np.int64)
    edits = nls.edit_ms < end
    np.maximum.at(last_edit, nls.edit_nl[edits], nls.edit_ms[edits])
    newsletters = pa.table(
        {
            "newsletter_id": pa.array([nls.ids[i] for i in rows], pa.string()),
            "slug": pa.array([nls.slugs[i] for i in rows], pa.string()),
            "name": pa.array([nls.names[i] for i in rows], pa.string()),
            "category": pa.array([nls.categories[i] for i in rows], pa.string()),
            "author_id": pa.array([nls.authors[i] for i in rows], pa.string()),
            "created_at": _ts(nls.created_ms[rows]),
            "updated_at": _ts(np.maximum(nls.created_ms[rows], last_edit[rows])),
        }
    )

    rows = np.flatnonzero(posts.created_ms < end)
    published = posts.published_ms[rows] < end
    post_table = pa.table(
        {
            "post_id": pa.array([posts.ids[i] for i in rows], pa.string()),
            "newsletter_id": pa.array([nls.ids[posts.nl[i]] for i in rows], pa.string()),
            "title": pa.array([posts.titles[i] for i in rows], pa.string()),
            "status": text.take(text.vocabulary(["draft", "published"]), published.astype(np.int8)),
            "published_at": _ts(posts.published_ms[rows], published),
            "emailed": pa.array(posts.emailed[rows] & published, pa.bool_()),
            "created_at": _ts(posts.created_ms[rows]),
            "updated_at": _ts(
                _latest(
                    posts.created_ms[rows],
                    posts.draft_edit_ms[rows],
                    posts.published_ms[rows],
                    posts.post_edit_ms[rows],
                    before=end,
                )
            ),
        }
    )

    rows = np.flatnonzero(subs.start_ms < end)
    reader = subs.reader[rows]
    ended = subs.end_ms[rows] < end
    paid = subs.upgrade_ms[rows] < end
    nl_ids = text.vocabulary(nls.ids)
    subscriptions = pa.table(
        {
            "subscription_id": text.join(
                "su_", pc.utf8_lpad(text.decimal_strings(rows + 1), 9, "0")
            ),
            "newsletter_id": text.take(nl_ids, subs.nl[rows]),
            "reader_id": text.take(readers.ids, reader),
            "email": text.take(readers.emails, reader),
            "plan": text.take(text.vocabulary(["free", "paid"]), paid.astype(np.int8)),
            "subscribed_at": _ts(subs.start_ms[rows]),
            "unsubscribed_at": _ts(subs.end_ms[rows], ended),
            "updated_at": _ts(
                _latest(subs.start_ms[rows], subs.upgrade_ms[rows], subs.end_ms[rows], before=end)
            ),
            **signup_attribution(world, rows),
        }
    )
    return {"newsletters": newsletters, "posts": post_table, "subscriptions": subscriptions}


def write_snapshot(lake: Lake, world: World, number: int) -> dict[str, int]:
    """Write `appdb/<table>/dt=<day>/part-00000.parquet` for the three tables; row counts."""
    counts = {}
    day = day_of(number)
    for name, table in snapshot(world, number).items():
        with lake.open_output(f"{appdb_export_prefix(name, day)}part-00000.parquet") as out:
            pq.write_table(table, out, compression="zstd")
        counts[name] = table.num_rows
    return counts
