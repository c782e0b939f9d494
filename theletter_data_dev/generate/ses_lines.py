"""SES event-publishing records as JSON lines, exactly as SES writes them to Firehose.

Lines are assembled column-wise (see `text`): the mail object is shared by every event of a
message, headers carry RFC 2047 encoded words while `commonHeaders` are decoded, and every
message is tagged with `newsletter_id` and `post_id` (arrays of strings, SES's convention).
"""

from __future__ import annotations

import base64

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from . import text, vocab
from .clock import hash64
from .columns import Table, select
from .email_events import (
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
from .world import World

TYPE_NAMES = (
    "Send",
    "Delivery",
    "Bounce",
    "Complaint",
    "Reject",
    "Open",
    "Click",
    "DeliveryDelay",
    "Rendering Failure",
    "Subscription",
)

# bounceType, bounceSubType, status, diagnosticCode
BOUNCE_KINDS = (
    ("Permanent", "General", "5.1.1", "smtp; 550 5.1.1 user unknown"),
    (
        "Permanent",
        "Suppressed",
        "5.1.1",
        "Amazon SES has suppressed sending to this address because it has a recent history of "
        "bouncing as an invalid address. For more information about how to remove an address from "
        "the suppression list, see the Amazon SES Developer Guide: "
        "https://docs.aws.amazon.com/ses/latest/DeveloperGuide/remove-from-suppressionlist.html ",
    ),
    ("Transient", "MailboxFull", "5.2.2", "smtp; 552 5.2.2 Mailbox full"),
    (
        "Transient",
        "General",
        "4.4.7",
        "smtp; 421 4.4.7 Message expired: unable to deliver in 840 minutes",
    ),
    ("Undetermined", "Undetermined", "5.0.0", "smtp; 550 5.0.0 Undetermined error"),
)
DELAY_KINDS = (
    ("TransientCommunicationFailure", "4.4.1", "smtp; 421 4.4.1 Unable to connect to remote host"),
    ("MailboxFull", "4.2.2", "smtp; 452 4.2.2 Mailbox full"),
    (
        "RecipientServerError",
        "4.3.0",
        "smtp; 451 4.3.0 Temporary server error. Please try again later",
    ),
)
# A hard bounce's diagnostic as each receiving provider words it ("<email>" is the recipient's
# address, which several quote): Gmail's, Outlook's, Yahoo's, and Postfix's elsewhere.
_POSTFIX_UNKNOWN = (
    "smtp; 550 5.1.1 <<email>>: Recipient address rejected: User unknown in virtual mailbox table"
)
UNKNOWN_USER_DIAGNOSTICS = {
    "gmail": (
        "smtp; 550-5.1.1 The email account that you tried to reach does not exist. Please try "
        "double-checking the recipient's email address for typos or unnecessary spaces. For more "
        "information, go to https://support.google.com/mail/?p=NoSuchUser "
        "d2e1a72fcca58-7f0a1c2b3d4si1234567pfb.123 - gsmtp"
    ),
    "icloud": "smtp; 550 5.1.1 <<email>>: user does not exist",
    "yahoo": (
        "smtp; 554 delivery error: dd This user doesn't have a yahoo.co.jp account (<email>) "
        "[0] - mta1024.mail.ssk.yahoo.co.jp"
    ),
    "carrier": _POSTFIX_UNKNOWN,
    "microsoft": (
        "smtp; 550 5.5.0 Requested action not taken: mailbox unavailable (S2017062302). "
        "[TYZPR01MB5634.jpnprd01.prod.outlook.com]"
    ),
    "company": _POSTFIX_UNKNOWN,
}
UNSUB_SOURCES = ("UnsubscribeHeader", "UnsubscribeLink")
SMTP_RESPONSES = {
    "gmail": None,  # built per message: Google's response carries a time and a queue id
    "icloud": "250 2.0.0 Ok: queued as ",
    "yahoo": "250 ok dirdel ",
    "carrier": "250 2.0.0 Message accepted for delivery ",
    "microsoft": "250 2.6.0 Queued mail for delivery ",
    "company": "250 2.0.0 Ok: queued as ",
}
COMPLAINT_AGENTS = {
    "yahoo": "Yahoo!-Mail-Feedback/2.0",
    "microsoft": "Microsoft-Junk-Mail-Reporting/1.0",
}


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
        a, b, c, e, link, contact = [], [], [], [], [], []
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
            link.append(
                f"https://{slug}.theletter.jp/posts/{pid}?utm_source=newsletter"
                f"&utm_medium=email&utm_campaign={pid}"
            )
            contact.append(f"theletter-{nl_id}")
        self.a, self.b, self.c, self.e = (text.vocabulary(x) for x in (a, b, c, e))
        self.post_link = text.vocabulary(link)
        self.contact = text.vocabulary(contact)
        self.post_nl = posts.nl
        self.external = text.vocabulary(world.external_links)
        self.emails = world.readers.emails
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
            *self._detail(kind, rows, email),
            "}\n",
        )

    def _detail(self, kind: int, r: Table, email: pa.Array) -> tuple[str | pa.Array, ...]:
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
