"""How a page view's referrer becomes a traffic source: the one place to add a search engine,
a social network or a webmail host.

Categories, first match wins:
- email: the URL carries `utm_medium=email` (theLetter tags every link in its emails), or the
  referrer is a webmail host;
- direct: no referrer;
- internal: the referrer is the same newsletter's site (navigation within a visit);
- other_newsletter: another page on theLetter (`*.theletter.jp`), e.g. a recommendation;
- search, social: the referrer's domain is one listed below (subdomains included);
- referral: any other site.
"""

from __future__ import annotations

import re

SOURCE_CATEGORIES = (
    "email", "direct", "internal", "other_newsletter", "search", "social", "referral",
)  # fmt: skip

PLATFORM_DOMAIN = "theletter.jp"

SEARCH_ENGINES = (
    "google.com", "google.co.jp", "bing.com", "search.yahoo.co.jp", "search.yahoo.com",
    "duckduckgo.com", "ecosia.org", "baidu.com", "yandex.ru", "naver.com", "search.brave.com",
)  # fmt: skip

SOCIAL_NETWORKS = (
    "t.co", "x.com", "twitter.com", "facebook.com", "instagram.com", "linkedin.com", "lnkd.in",
    "threads.net", "b.hatena.ne.jp", "newspicks.com", "note.com", "reddit.com",
    "news.ycombinator.com", "line.me", "youtube.com", "bsky.app", "mastodon.social",
)  # fmt: skip

WEBMAIL = (
    "mail.google.com", "outlook.live.com", "outlook.office.com", "mail.yahoo.co.jp",
    "mail.yahoo.com", "icloud.com",
)  # fmt: skip

BOT_USER_AGENT = (
    r"bot|crawl|spider|slurp|facebookexternalhit|headless|python-requests|python-urllib|curl|"
    r"wget|httpclient|okhttp|go-http-client|java/|preview|monitor|scrapy|phantomjs|lighthouse"
)
"""Case-insensitive pattern of automated clients; an empty user agent counts as a bot too."""


def domain_pattern(domains: tuple[str, ...]) -> str:
    """A regular expression matching any of `domains` or their subdomains."""
    return r"(^|\.)(" + "|".join(re.escape(d) for d in domains) + r")$"


def sql_patterns() -> dict[str, str]:
    """The patterns the page-view projection names."""
    return {
        "search_pattern": domain_pattern(SEARCH_ENGINES),
        "social_pattern": domain_pattern(SOCIAL_NETWORKS),
        "webmail_pattern": domain_pattern(WEBMAIL),
        "platform_pattern": domain_pattern((PLATFORM_DOMAIN,)),
        "bot_pattern": f"(?i)({BOT_USER_AGENT})",
    }
