"""Page-view records as the beacon's JSON lines (`post_id` and `utm_*` null when absent)."""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from . import text
from .columns import Table
from .page_views import EMAIL_UTM, NO_UTM, PV_AGENTS
from .world import World

_UTM = (
    ("", "null", "null"),
    ("?utm_source=newsletter&utm_medium=email&utm_campaign=", '"newsletter"', '"email"'),
    ("?utm_source=x&utm_medium=social&utm_campaign=share", '"x"', '"social"'),
    ("?utm_source=facebook&utm_medium=social&utm_campaign=share", '"facebook"', '"social"'),
    ("?utm_source=line&utm_medium=social&utm_campaign=share", '"line"', '"social"'),
)


class PageViewLines:
    """Formats page-view rows as the beacon's JSON lines."""

    def __init__(self, world: World) -> None:
        nls, posts = world.newsletters, world.posts
        self.hosts = text.vocabulary([f"https://{s}.theletter.jp/" for s in nls.slugs])
        self.nl_ids = text.vocabulary(nls.ids)
        self.post_ids = text.vocabulary([*posts.ids, ""])
        self.n_posts = len(posts)
        self.referrers = text.vocabulary(world.referrers)
        self.agents = text.vocabulary([text.json_text(a) for a in PV_AGENTS])
        self.query = text.vocabulary([q for q, _, _ in _UTM])
        self.utm_source = text.vocabulary([s for _, s, _ in _UTM])
        self.utm_medium = text.vocabulary([m for _, _, m in _UTM])

    def _url(self, nl: np.ndarray, post: np.ndarray, utm: np.ndarray) -> tuple[pa.Array, pa.Array]:
        has_post = post >= 0
        pid = text.take(self.post_ids, np.where(has_post, post, self.n_posts))
        query = text.take(self.query, utm)
        query = text.choose(utm == EMAIL_UTM, text.join(query, pid), query)
        path = text.choose(has_post, text.join("posts/", pid), "")
        return text.join(text.take(self.hosts, nl), path, query), pid

    def __call__(self, rows: Table) -> pa.Array:
        post, utm = rows["post"], rows["utm"]
        url, pid = self._url(rows["nl"], post, utm)
        ref_page = rows["ref_kind"] == 1
        ref_url, _ = self._url(np.where(ref_page, rows["ref_a"], 0), rows["ref_b"], rows["ref_utm"])
        referrer = text.choose(
            ref_page, ref_url, text.take(self.referrers, np.where(ref_page, 0, rows["ref_a"]))
        )
        post_json = text.choose(post >= 0, text.join('"', pid, '"'), "null")
        campaign = text.choose(
            utm == EMAIL_UTM,
            text.join('"', pid, '"'),
            text.choose(utm == NO_UTM, "null", '"share"'),
        )
        return text.join(
            '{"event_id":"',
            text.uuid_strings(rows["id_hi"], rows["id_lo"]),
            '","timestamp":"',
            text.iso_strings(rows["ms"]),
            '","newsletter_id":"',
            text.take(self.nl_ids, rows["nl"]),
            '","post_id":',
            post_json,
            ',"url":"',
            url,
            '","referrer":"',
            referrer,
            '","utm_source":',
            text.take(self.utm_source, utm),
            ',"utm_medium":',
            text.take(self.utm_medium, utm),
            ',"utm_campaign":',
            campaign,
            ',"user_agent":"',
            text.take(self.agents, rows["ua"]),
            '","visitor_id":"',
            text.hex_strings(rows["visitor"], 16, "v_"),
            '","session_id":"',
            text.hex_strings(rows["session"], 16, "s_"),
            '"}\n',
        )
