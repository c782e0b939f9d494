"""The event-specific object of each SES record: `"delivery":{...}`, `"bounce":{...}`, ...

One branch per event type, each a column-wise template (see `text`) over the event rows of
`email_event_rows`. The per-post parts shared by every event (the mail object) are `ses_lines`.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from . import text, vocab
from .clock import hash64
from .columns import Table
from .email_event_rows import (
    BOUNCE,
    CLICK,
    COMPLAINT,
    DELAY,
    DELIVERY,
    GENERAL,
    OPEN,
    REJECT,
    RENDER,
    SEND,
    SES_AGENTS,
    SUBSCRIPTION,
    SUPPRESSED,
)
from .ses_wording import (
    BOUNCE_KINDS,
    COMPLAINT_AGENTS,
    DELAY_KINDS,
    SMTP_RESPONSES,
    UNKNOWN_USER_DIAGNOSTICS,
    UNSUB_SOURCES,
)
from .world import World


class SesEventDetails:
    """Words the event-specific part of SES records, given the world's posts and readers."""

    def __init__(self, world: World) -> None:
        posts, nls = world.posts, world.newsletters
        esc = text.json_text
        link, contact = [], []
        for p in range(len(posts)):
            n = int(posts.nl[p])
            nl_id, pid, slug = nls.ids[n], posts.ids[p], nls.slugs[n]
            link.append(
                f"https://{slug}.theletter.jp/posts/{pid}?utm_source=newsletter"
                f"&utm_medium=email&utm_campaign={pid}"
            )
            contact.append(f"theletter-{nl_id}")
        self.post_link = text.vocabulary(link)
        self.contact = text.vocabulary(contact)
        self.external = text.vocabulary(world.external_links)
        self.group = world.readers.group
        self.agents = text.vocabulary([text.json_text(a) for a in SES_AGENTS])
        self.smtp = text.vocabulary([SMTP_RESPONSES[g] or "" for g in vocab.DOMAIN_GROUPS])
        complaint_agent = [
            COMPLAINT_AGENTS.get(g, "ReturnPathFBL/2.0") for g in vocab.DOMAIN_GROUPS
        ]
        self.complaint_agents = text.vocabulary(complaint_agent)
        self.bounce_head = text.vocabulary(
            [
                f'","bounceType":"{bt}","bounceSubType":"{bs}","bouncedRecipients":[{{"emailAddress":"'
                for bt, bs, _, _ in BOUNCE_KINDS
            ]
        )
        self.bounce_tail = text.vocabulary(
            [
                f'","action":"failed","status":"{st}","diagnosticCode":"{text.json_text(dc)}"}}],'
                f'"timestamp":"'
                for _, _, st, dc in BOUNCE_KINDS
            ]
        )
        unknown = [UNKNOWN_USER_DIAGNOSTICS[g].split("<email>") for g in vocab.DOMAIN_GROUPS]
        self.unknown_head = text.vocabulary([esc(parts[0]) for parts in unknown])
        self.unknown_tail = text.vocabulary([esc("".join(parts[1:])) for parts in unknown])
        self.unknown_quotes = np.array([len(parts) > 1 for parts in unknown])
        self.delay_head = text.vocabulary(
            [f'","delayType":"{dt}","expirationTime":"' for dt, _, _ in DELAY_KINDS]
        )
        self.delay_tail = text.vocabulary(
            [f'","status":"{st}","diagnosticCode":"{dc}"}}]}}' for _, st, dc in DELAY_KINDS]
        )
        self.unsub_sources = text.vocabulary(UNSUB_SOURCES)

    def __call__(self, kind: int, r: Table, email: pa.Array) -> tuple[str | pa.Array, ...]:
        """The detail of events of type `kind` (`email`: their recipients), as line pieces."""
        ts = text.iso_strings(r["ms"]) if kind not in (SEND, REJECT, RENDER) else None
        if kind in (DELIVERY, BOUNCE):
            mta = text.join(
                "a27-",
                text.decimal_strings(r["key"] % np.uint64(180) + np.uint64(10)),
                ".smtp-out.ap-northeast-1.amazonses.com",
            )
        if kind == SEND:
            return ('"send":{}',)
        if kind == REJECT:
            return ('"reject":{"reason":"Bad content"}',)
        if kind == RENDER:
            return (
                '"failure":{"errorMessage":"Attribute \'reader_name\' is not present in '
                'the rendering data.","templateName":"newsletter-post-v3"}',
            )
        if kind == DELIVERY:
            group = self.group[r["reader"]]
            gmail = group == vocab.DOMAIN_GROUPS.index("gmail")
            queue = text.hex_strings(hash64(r["key"], 21), 12)
            google = text.join(
                "250 2.0.0 OK  ",
                text.decimal_strings(r["ms"] // 1000),
                " d2e1a72fcca58-",
                queue,
                "si",
                text.decimal_strings(r["key"] % np.uint64(9000000)),
                "pfb.123 - gsmtp",
            )
            other = text.join(text.take(self.smtp, group), pc.utf8_upper(queue))
            smtp = text.choose(gmail, google, other)
            return (
                '"delivery":{"timestamp":"',
                ts,
                '","processingTimeMillis":',
                text.decimal_strings(r["num"]),
                ',"recipients":["',
                email,
                '"],"smtpResponse":"',
                smtp,
                '","reportingMTA":"',
                mta,
                '"}',
            )
        if kind == BOUNCE:
            reporting = text.choose(
                r["kind"] == SUPPRESSED, "dns; amazonses.com", text.join("dns; ", mta)
            )
            # An unknown user is worded by the recipient's provider, often quoting the address.
            group = self.group[r["reader"]]
            unknown = text.join(
                '","action":"failed","status":"5.1.1","diagnosticCode":"',
                text.take(self.unknown_head, group),
                text.choose(self.unknown_quotes[group], email, ""),
                text.take(self.unknown_tail, group),
                '"}],"timestamp":"',
            )
            return (
                '"bounce":{"feedbackId":"',
                text.ses_ids(r["ms"], hash64(r["key"], 31)),
                text.take(self.bounce_head, r["kind"]),
                email,
                text.choose(r["kind"] == GENERAL, unknown, text.take(self.bounce_tail, r["kind"])),
                ts,
                '","reportingMTA":"',
                reporting,
                '"}',
            )
        if kind == COMPLAINT:
            return (
                '"complaint":{"feedbackId":"',
                text.ses_ids(r["ms"], hash64(r["key"], 41)),
                '","complaintSubType":null,"complainedRecipients":[{"emailAddress":"',
                email,
                '"}],"timestamp":"',
                ts,
                '","userAgent":"',
                text.take(self.complaint_agents, self.group[r["reader"]]),
                '","complaintFeedbackType":"abuse","arrivalDate":"',
                text.iso_strings(r["num"]),
                '"}',
            )
        if kind == OPEN:
            return (
                '"open":{"timestamp":"',
                ts,
                '","userAgent":"',
                text.take(self.agents, r["ua"]),
                '","ipAddress":"',
                text.ipv4_strings(r["ip"]),
                '"}',
            )
        if kind == CLICK:
            external = r["link"] >= 0
            link = text.choose(
                external,
                text.take(self.external, np.maximum(r["link"], 0)),
                text.take(self.post_link, r["post"]),
            )
            return (
                '"click":{"timestamp":"',
                ts,
                '","ipAddress":"',
                text.ipv4_strings(r["ip"]),
                '","userAgent":"',
                text.take(self.agents, r["ua"]),
                '","link":"',
                link,
                '","linkTags":{"link_type":["',
                text.choose(external, "external", "post"),
                '"]}}',
            )
        if kind == DELAY:
            return (
                '"deliveryDelay":{"timestamp":"',
                ts,
                text.take(self.delay_head, r["kind"]),
                text.iso_strings(r["num"]),
                '","delayedRecipients":[{"emailAddress":"',
                email,
                text.take(self.delay_tail, r["kind"]),
            )
        if kind == SUBSCRIPTION:
            return (
                '"subscription":{"contactList":"',
                text.take(self.contact, r["post"]),
                '","timestamp":"',
                ts,
                '","source":"',
                text.take(self.unsub_sources, r["kind"]),
                '","newTopicPreferences":{"unsubscribeAll":true,"topicSubscriptionStatus":'
                '[{"topicName":"posts","subscriptionStatus":"OptOut"}]},'
                '"oldTopicPreferences":{"unsubscribeAll":false,"topicSubscriptionStatus":'
                '[{"topicName":"posts","subscriptionStatus":"OptIn"}]}}',
            )
        raise ValueError(f"unknown SES event kind {kind}")
