"""A new reader's traits: device, mail client, Apple Mail Privacy Protection, browser, ISP.

Drawn together from the sign-up day's random stream, consistent with the address's provider (an
iCloud address reads on Apple devices, a company one mostly on Windows), plus the picks
`reader_emails` turns into an address. Kept apart from `readers` so that the sign-up schedule
reads on its own.
"""

from __future__ import annotations

import numpy as np

from . import vocab


def reader_traits(rng: np.random.Generator, domain: np.ndarray) -> dict[str, np.ndarray]:
    """Device, mail client and Apple Mail Privacy Protection, consistent with the address."""
    n = len(domain)
    groups = np.array([vocab.DOMAIN_GROUPS.index(g) for _, _, g in vocab.MAIL_DOMAINS])[domain]
    g = {name: groups == i for i, name in enumerate(vocab.DOMAIN_GROUPS)}
    plat = {name: i for i, name in enumerate(vocab.PLATFORMS)}
    u = rng.random(n)
    platform = np.select(
        [u < 0.62, u < 0.86, u < 0.95, u < 0.99],
        [plat["iphone"], plat["android"], plat["windows"], plat["mac"]],
        plat["ipad"],
    )
    platform = np.where(g["icloud"], np.where(u < 0.88, plat["iphone"], plat["mac"]), platform)
    platform = np.where(g["carrier"], np.where(u < 0.64, plat["iphone"], plat["android"]), platform)
    v = rng.random(n)
    platform = np.where(
        g["company"],
        np.select(
            [v < 0.55, v < 0.72, v < 0.94],
            [plat["windows"], plat["mac"], plat["iphone"]],
            plat["android"],
        ),
        platform,
    )
    apple_device = np.isin(platform, [plat["iphone"], plat["ipad"], plat["mac"]])
    apple_share = np.select(
        [g["icloud"], g["gmail"], g["yahoo"], g["carrier"], g["microsoft"], g["company"]],
        [1.0, 0.55, 0.35, 0.95, 0.4, 0.5],
        0.0,
    )
    apple_mail = apple_device & (rng.random(n) < apple_share)
    mpp = apple_mail & ((rng.random(n) < 0.9) | g["icloud"])
    desktop = np.isin(platform, [plat["windows"], plat["mac"]])
    agent = np.select(
        [
            apple_mail & (platform == plat["mac"]),
            apple_mail,
            g["gmail"],
            g["yahoo"] & (platform == plat["iphone"]),
            g["yahoo"] & desktop,
            (g["microsoft"] | g["company"]) & (platform == plat["windows"]),
            g["microsoft"] & desktop,
            desktop,
        ],
        [
            vocab.MAIL_MAC,
            np.where(rng.random(n) < 0.8, vocab.MAIL_IPHONE, vocab.MAIL_IPHONE_OLD),
            vocab.MAIL_GMAIL_PROXY,
            vocab.MAIL_YAHOO_APP,
            vocab.MAIL_WEB,
            vocab.MAIL_OUTLOOK,
            vocab.MAIL_WEB,
            vocab.MAIL_WEB,
        ],
        vocab.MAIL_ANDROID,
    )
    lo = np.array([vocab.PLATFORM_BROWSERS[p][0] for p in vocab.PLATFORMS])[platform]
    hi = np.array([vocab.PLATFORM_BROWSERS[p][1] for p in vocab.PLATFORMS])[platform]
    browser = lo + (rng.random(n) * (hi - lo)).astype(np.int64)
    octet1 = np.array(vocab.ISP_FIRST_OCTETS, dtype=np.uint32)[
        rng.integers(len(vocab.ISP_FIRST_OCTETS), size=n)
    ]
    isp = (octet1 << np.uint32(24)) | (rng.integers(0, 256, n).astype(np.uint32) << np.uint32(16))
    invalid_rate = np.where(g["carrier"], 0.035, 0.005)
    return {
        "invalid": rng.random(n) < invalid_rate,
        "typo": rng.random(n) < 0.15,
        "engagement": rng.beta(2.0, 2.2, n),
        "platform": platform,
        "mail_agent": agent,
        "mpp": mpp,
        "isp": isp,
        "browser": browser,
        "given": rng.integers(len(vocab.GIVEN_NAMES), size=n),
        "family": rng.integers(len(vocab.FAMILY_NAMES), size=n),
        "pattern": rng.integers(0, 8, size=n),
        "digits": rng.integers(0, 1000, size=n),
        "year": rng.integers(1962, 2006, size=n),
    }
