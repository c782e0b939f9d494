"""SES's and the receiving providers' fixed wording, as SES event publishing reports it.

Event type names, bounce and delay kinds with their status and diagnostic, each provider's
"unknown user" diagnostic and delivery response, complaint reporters. Data, kept apart from the
code that assembles the lines (`ses_lines`, `ses_event_details`).
"""

from __future__ import annotations

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
