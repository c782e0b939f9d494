"""stg_email_events' per-type fields: SES's documented record shapes staged typed on their own
event type, addresses in servers' free text masked, and fields of another shape left empty.

Day D and its arrival window: support/staged_email_events.py.
"""

from __future__ import annotations

import json

import pytest

from theletter_data_tests.support.rawdata import ses, utc
from theletter_data_tests.support.staged_email_events import staged_fields, staged_rows


def test_the_documented_per_type_fields_are_staged_typed(resources):
    """SES's own record shapes (event-publishing examples): each field lands in its column, on
    its own event type only."""
    sent = utc("2026-11-19 16:00:00")
    at = utc("2026-11-19 16:00:05")
    rows = staged_fields(
        resources,
        ses("Reject", at, message_id="reject", sent_at=sent, reason="Bad content"),
        ses(
            "Bounce",
            at,
            message_id="bounce",
            sent_at=sent,
            bouncedRecipients=[
                {
                    "emailAddress": "hanako@example.jp",
                    "action": "failed",
                    "status": "5.1.1",
                    "diagnosticCode": "smtp; 550 5.1.1 user unknown",
                }
            ],
        ),
        ses(
            "Delivery",
            at,
            message_id="delivery",
            sent_at=sent,
            processingTimeMillis=546,
            smtpResponse="250 ok:  Message 64111812 accepted",
            reportingMTA="a8-70.smtp-out.amazonses.com",
        ),
        ses(
            "Click",
            at,
            message_id="click",
            sent_at=sent,
            link="https://tokyo-tech.theletter.jp/posts/po_1",
            linkTags={"samplekey0": ["samplevalue0"], "link_type": ["post", "header"]},
        ),
        ses(
            "Rendering Failure",
            at,
            message_id="failure",
            sent_at=sent,
            errorMessage="Attribute 'attributeName' is not present in the rendering data.",
            templateName="MyTemplate",
        ),
        ses(
            "Subscription",
            at,
            message_id="subscription",
            sent_at=sent,
            contactList="theletter-nl_1",
            source="UnsubscribeHeader",
        ),
        ses(
            "DeliveryDelay",
            at,
            message_id="delay",
            sent_at=sent,
            delayType="MailboxFull",
            delayedRecipients=[
                {
                    "emailAddress": "hanako@example.jp",
                    "status": "4.2.2",
                    "diagnosticCode": "smtp; 452 4.2.2 Mailbox full",
                }
            ],
        ),
    )
    fields = (
        "ses_reject_reason", "diagnostic_code", "smtp_response", "processing_time_ms",
        "link_tags", "error_message", "template_name", "subscription_source", "contact_list",
    )  # fmt: skip
    got = {m: {f: r[f] for f in fields if r[f] is not None} for m, r in rows.items()}
    assert got == {
        "reject": {"ses_reject_reason": "Bad content"},
        "bounce": {"diagnostic_code": "smtp; 550 5.1.1 user unknown"},
        "delivery": {
            "smtp_response": "250 ok:  Message 64111812 accepted",
            "processing_time_ms": 546,
        },
        "click": {"link_tags": '{"samplekey0":["samplevalue0"],"link_type":["post","header"]}'},
        "failure": {
            "error_message": "Attribute 'attributeName' is not present in the rendering data.",
            "template_name": "MyTemplate",
        },
        "subscription": {
            "subscription_source": "UnsubscribeHeader",
            "contact_list": "theletter-nl_1",
        },
        "delay": {"diagnostic_code": "smtp; 452 4.2.2 Mailbox full"},
    }


# Servers quote addresses in their free text, in every form; each must come out masked.
_DIAGNOSTICS = {
    "angle": (
        "smtp; 550 5.1.1 <Hanako.Sato@Example.JP>: Recipient address rejected: User unknown",
        "smtp; 550 5.1.1 <<email>>: Recipient address rejected: User unknown",
    ),
    "mailto": (
        "smtp; 550 mailbox unavailable mailto:hanako.sato@example.jp (alias of t.ito@corp.example)",
        "smtp; 550 mailbox unavailable mailto:<email> (alias of <email>)",
    ),
    "fullwidth": ("550 user hanako.sato\uff20example.jp unknown", "550 user <email> unknown"),
    "percent": ("550 rcpt=hanako.sato%40example.jp refused", "550 <email> refused"),
    "escaped": ("550 rcpt hanako.sato\\u0040example.jp refused", "550 rcpt <email> refused"),
    # A quoted local part with a space: the at-sign pattern alone would leave "hanako sato".
    "quoted": ('550 5.1.1 "hanako sato"@example.jp unknown', "550 5.1.1 <email> unknown"),
}


def test_addresses_inside_diagnostics_and_responses_are_masked(resources):
    sent = utc("2026-11-19 16:00:00")
    at = utc("2026-11-19 16:00:05")
    records = []
    for name, (diagnostic, _) in _DIAGNOSTICS.items():
        recipient = '"hanako sato"@example.jp' if name == "quoted" else "hanako.sato@example.jp"
        records.append(
            ses(
                "Bounce",
                at,
                message_id=f"bounce-{name}",
                recipient=recipient,
                sent_at=sent,
                bouncedRecipients=[
                    # Another recipient's entry comes first: each row takes its own.
                    {"emailAddress": "other@example.jp", "diagnosticCode": "smtp; 250 other"},
                    {"emailAddress": recipient, "diagnosticCode": diagnostic},
                ],
            )
        )
    records.append(
        ses(
            "Delivery",
            at,
            message_id="delivery",
            sent_at=sent,
            smtpResponse="250 2.1.5 Ok <HANAKO@example.jp> queued as 4Xyz",
        )
    )
    records.append(
        ses(
            "Rendering Failure",
            at,
            message_id="failure",
            sent_at=sent,
            errorMessage="Attribute 'name' missing for hanako@example.jp " + "x" * 2_000,
            templateName="newsletter-post-v3",
        )
    )
    rows = staged_fields(resources, *records)
    bounces = [r for r in staged_rows(resources["warehouse"]) if r["event_type"] == "bounce"]
    other = resources["pseudonymizer"].hash("other@example.jp")
    assert {
        r["message_id"].removeprefix("bounce-"): r["diagnostic_code"]
        for r in bounces
        if r["recipient_hash"] != other
    } == {name: masked for name, (_, masked) in _DIAGNOSTICS.items()}
    # The other recipient's rows keep their own text.
    assert [r["diagnostic_code"] for r in bounces if r["recipient_hash"] == other] == [
        "smtp; 250 other"
    ] * len(_DIAGNOSTICS)
    assert rows["delivery"]["smtp_response"] == "250 2.1.5 Ok <<email>> queued as 4Xyz"
    message = rows["failure"]["error_message"]
    assert message.startswith("Attribute 'name' missing for <email> xxx") and len(message) == 1000
    assert all(
        "@" not in str(v) and "hanako" not in str(v).lower()
        for r in staged_rows(resources["warehouse"])
        for v in r.values()
    )


@pytest.mark.parametrize(
    "link_tags",
    [
        "link_type:post",  # a string, as written in the anchor's ses:tags
        ["post"],
        {"link_type": "post"},  # a value that is not a list
        {"link_type": [1]},  # a number where SES writes strings
        {"link_type": [{"nested": ["post"]}]},
        {"link_type": [None]},
        {"to": ["hanako@example.jp"]},  # a character SES does not allow in a tag
        {"link type": ["post"]},
        {},
    ],
    ids=lambda v: json.dumps(v)[:30],
)
def test_link_tags_of_another_shape_leave_the_click_without_tags(resources, link_tags):
    sent = utc("2026-11-19 16:00:00")
    rows = staged_fields(
        resources,
        ses(
            "Click",
            utc("2026-11-19 16:00:05"),
            sent_at=sent,
            link="https://tokyo-tech.theletter.jp/posts/po_1",
            linkTags=link_tags,
        ),
    )
    (click,) = rows.values()
    assert (click["event_type"], click["link_url"], click["link_tags"]) == (
        "click",
        "https://tokyo-tech.theletter.jp/posts/po_1",
        None,
    )


def test_processing_time_of_another_shape_is_no_processing_time(resources):
    sent = utc("2026-11-19 16:00:00")
    at = utc("2026-11-19 16:00:05")
    rows = staged_fields(
        resources,
        ses("Delivery", at, message_id="negative", sent_at=sent, processingTimeMillis=-5),
        ses("Delivery", at, message_id="text", sent_at=sent, processingTimeMillis="soon"),
        ses("Delivery", at, message_id="object", sent_at=sent, processingTimeMillis={"ms": 5}),
    )
    assert {m: r["processing_time_ms"] for m, r in rows.items()} == {
        "negative": None,
        "text": None,
        "object": None,
    }
