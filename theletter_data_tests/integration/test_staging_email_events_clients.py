"""stg_email_events' mail app and device of a person's open, and neither for a machine open:
staging's SQL agrees with the rules applied in Python (`email_clients.classify`).

Day D and its arrival window: support/staged_email_events.py.
"""

from __future__ import annotations

from theletter_data.staging.email_clients import CLIENT_RULES, DEVICE_RULES, classify
from theletter_data_tests.support.rawdata import machine_open, ses, utc
from theletter_data_tests.support.staged_email_events import staged_fields

_OPEN_AGENTS = {
    # agent: (email_client, device_class)
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, "
    "like Gecko) Mobile/15E148": ("apple_mail", "mobile"),
    "Mozilla/5.0 (iPad; CPU OS 17_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Mobile/15E148": ("apple_mail", "mobile"),
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko)": (
        "apple_mail",
        "desktop",
    ),
    "Mozilla/5.0 (Windows NT 5.1; rv:11.0) Gecko Firefox/11.0 (via ggpht.com GoogleImageProxy)": (
        "gmail",
        "webmail",
    ),
    "YahooMailProxy; https://help.yahoo.com/kb/yahoo-mail-proxy-SLN28749.html": (
        "yahoo",
        "webmail",
    ),
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_2 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like "
    "Gecko) Mobile/15E148 YJApp-IOS jp.co.yahoo.ymail/3.68.0": ("yahoo", "mobile"),
    "Microsoft Office/16.0 (Windows NT 10.0; Microsoft Outlook 16.0.18129; Pro)": (
        "outlook",
        "desktop",
    ),
    # Attacks: a browser on an iPhone is no Apple Mail; an Android app's web view is no browser;
    # an in-app browser on iOS; upper case; a 10 KB agent; none at all.
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like "
    "Gecko) Version/18.1 Mobile/15E148 Safari/604.1": ("other", "webmail"),
    "Mozilla/5.0 (Linux; Android 14; SO-51D Build/67.1.A.2.123; wv) AppleWebKit/537.36 (KHTML, "
    "like Gecko) Version/4.0 Chrome/131.0.6778.135 Mobile Safari/537.36": ("other", "mobile"),
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like "
    "Gecko) Mobile/15E148 Line/14.19.0": ("other", "mobile"),
    "MOZILLA/5.0 (WINDOWS NT 10.0) MICROSOFT OUTLOOK 16.0": ("outlook", "desktop"),
    "Mozilla/5.0 (X11; Linux x86_64) " + "x" * 10_000 + " Thunderbird/128.0": ("other", "desktop"),
    None: ("other", "unknown"),
}


def test_a_persons_open_gets_its_mail_app_and_device_and_a_machine_open_neither(resources):
    """Staging's SQL and the rules applied in Python (`email_clients.classify`) agree."""
    sent = utc("2026-11-19 16:00:00")
    records = [
        ses("Open", utc("2026-11-19 16:10:00"), message_id=f"m{i}", sent_at=sent, userAgent=agent)
        for i, agent in enumerate(_OPEN_AGENTS)
    ]
    for record in records:
        if record["open"]["userAgent"] is None:
            del record["open"]["userAgent"]
    records.append(machine_open(utc("2026-11-19 16:01:00"), message_id="mpp", sent_at=sent))
    rows = staged_fields(resources, *records)
    got = {m: (r["email_client"], r["device_class"]) for m, r in rows.items()}
    assert got == {
        **{f"m{i}": expected for i, expected in enumerate(_OPEN_AGENTS.values())},
        "mpp": (None, None),
    }
    for agent, expected in _OPEN_AGENTS.items():
        python = (
            classify(agent or "", CLIENT_RULES, "other"),
            classify(agent or "", DEVICE_RULES, "unknown"),
        )
        assert python == expected, agent
