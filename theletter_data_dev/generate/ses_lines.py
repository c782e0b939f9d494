"""SES event-publishing records as JSON lines, exactly as SES writes them to Firehose.

Lines are assembled column-wise (see `text`): the mail object is shared by every event of a
message, headers carry RFC 2047 encoded words while `commonHeaders` are decoded, and every
message is tagged with `newsletter_id` and `post_id` (arrays of strings, SES's convention).
"""

from __future__ import annotations

import base64

import numpy as np
import pyarrow as pa

from . import text
from .columns import Table, select
from .ses_event_details import SesEventDetails
from .ses_wording import TYPE_NAMES
from .world import World


def _encoded_word(value: str) -> str:
    """RFC 2047 form of a header value, as SES reports raw headers (ASCII passes unchanged)."""
    if value.isascii():
        return value
    return "=?UTF-8?B?" + base64.b64encode(value.encode()).decode() + "?="


class SesLines:
    """Formats SES event rows as the JSON lines SES event publishing writes to Firehose."""

    def __init__(self, world: World) -> None:
        posts, nls = world.posts, world.newsletters
        esc = text.json_text
        a, b, c, e = [], [], [], []
        for p in range(len(posts)):
            n = int(posts.nl[p])
            nl_id, pid, slug = nls.ids[n], posts.ids[p], nls.slugs[n]
            plain_from = f"{nls.names[n]} <{slug}@mail.theletter.jp>"
            header_from = f"{_encoded_word(nls.names[n])} <{slug}@mail.theletter.jp>"
            subject = posts.titles[p]
            a.append(
                f'","source":"{esc(header_from)}","sourceArn":"arn:aws:ses:ap-northeast-1:'
                f'111122223333:identity/mail.theletter.jp","sendingAccountId":"111122223333",'
                f'"messageId":"'
            )
            b.append(
                f'"],"headersTruncated":false,"headers":[{{"name":"From","value":"'
                f'{esc(header_from)}"}},{{"name":"To","value":"'
            )
            c.append(
                f'"}},{{"name":"Subject","value":"{esc(_encoded_word(subject))}"}}],'
                f'"commonHeaders":{{"from":["{esc(plain_from)}"],"to":["'
            )
            e.append(
                f'","subject":"{esc(subject)}"}},"tags":{{"ses:configuration-set":'
                f'["theletter-newsletters"],"ses:source-ip":["10.0.3.17"],"ses:from-domain":'
                f'["mail.theletter.jp"],"ses:caller-identity":["theletter-mailer"],'
                f'"newsletter_id":["{nl_id}"],"post_id":["{pid}"]}}}}'
            )
        self.a, self.b, self.c, self.e = (text.vocabulary(x) for x in (a, b, c, e))
        self.emails = world.readers.emails
        self.details = SesEventDetails(world)

    def __call__(self, rows: Table) -> pa.Array:
        """One newline-terminated line per row, in row order."""
        kinds = rows["type"]
        present = np.unique(kinds)
        if len(present) == 1:
            return self._lines(int(present[0]), rows)
        order = np.argsort(kinds, kind="stable")
        pieces = [self._lines(int(k), select(rows, kinds == k)) for k in present]
        inverse = np.empty(len(order), dtype=np.int64)
        inverse[order] = np.arange(len(order))
        return text.take(pa.concat_arrays(pieces), inverse)

    def _lines(self, kind: int, rows: Table) -> pa.Array:
        post = rows["post"]
        mid = text.ses_ids(rows["msg_ms"], rows["key"])
        email = text.take(self.emails, rows["reader"])
        return text.join(
            '{"eventType":"',
            TYPE_NAMES[kind],
            '","mail":{"timestamp":"',
            text.iso_strings(rows["msg_ms"]),
            text.take(self.a, post),
            mid,
            '","destination":["',
            email,
            text.take(self.b, post),
            email,
            text.take(self.c, post),
            email,
            '"],"messageId":"',
            mid,
            text.take(self.e, post),
            ",",
            *self.details(kind, rows, email),
            "}\n",
        )
