"""The demo-lake generator's app exports: the documented columns growing day by day, where signups
came from in realistic shares, unsubscribes matching the email events, and sends only to
subscriptions active at send time.

Everything is checked against the files actually written, the way the platform's loaders will
read them, at a small size; the lake they read is generated once per session (the `generated`
fixture, support/generated_lake.py).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import date, timedelta

import pyarrow as pa

from theletter_data_tests.support.generated_lake import (
    END,
    LAUNCH,
    START,
    Run,
    day_end,
    jst_day,
    ts,
)

# --- the app exports ----------------------------------------------------------------------------


def test_exports_have_the_documented_columns_and_grow_day_by_day(generated: Run) -> None:
    stamp = pa.timestamp("ms", tz="UTC")
    expected = {
        "newsletters": {
            "newsletter_id": pa.string(),
            "slug": pa.string(),
            "name": pa.string(),
            "category": pa.string(),
            "author_id": pa.string(),
            "created_at": stamp,
            "updated_at": stamp,
        },
        "posts": {
            "post_id": pa.string(),
            "newsletter_id": pa.string(),
            "title": pa.string(),
            "status": pa.string(),
            "published_at": stamp,
            "emailed": pa.bool_(),
            "created_at": stamp,
            "updated_at": stamp,
        },
        "subscriptions": {
            "subscription_id": pa.string(),
            "newsletter_id": pa.string(),
            "reader_id": pa.string(),
            "email": pa.string(),
            "plan": pa.string(),
            "subscribed_at": stamp,
            "unsubscribed_at": stamp,
            "updated_at": stamp,
            "signup_source": pa.string(),
            "signup_post_id": pa.string(),
            "signup_referrer": pa.string(),
        },
    }
    previous: dict[str, set[str]] = {}
    day = START
    while day <= END:
        cutoff = day_end(day)
        for table, columns in expected.items():
            t = generated.snapshot(table, day)
            assert {f.name: f.type for f in t.schema} == columns
            rows = t.to_pylist()
            key = next(iter(columns))
            ids = {r[key] for r in rows}
            assert len(ids) == len(rows)
            assert previous.get(table, set()) <= ids, "rows are never deleted"
            previous[table] = ids
            for r in rows:
                created = r["created_at" if "created_at" in r else "subscribed_at"]
                assert LAUNCH <= created <= r["updated_at"] < cutoff
            if table == "posts":
                for r in rows:
                    assert (r["status"] == "published") == (r["published_at"] is not None)
                    assert r["published_at"] is None or r["published_at"] < cutoff
            if table == "subscriptions":
                assert {r["plan"] for r in rows} <= {"free", "paid"}
                assert all(
                    r["unsubscribed_at"] is None or r["unsubscribed_at"] < cutoff for r in rows
                )
        day += timedelta(days=1)
    subs = generated.snapshot("subscriptions", END).to_pylist()
    assert any(r["unsubscribed_at"] for r in subs)
    readers = Counter((r["reader_id"], r["newsletter_id"]) for r in subs)
    assert any(n > 1 for n in readers.values()), "expected a re-subscription (a new row)"
    assert 0.003 < sum(r["plan"] == "paid" for r in subs) / len(subs) < 0.1  # "a few %"
    statuses = Counter(r["status"] for r in generated.snapshot("posts", END).to_pylist())
    assert statuses["draft"] and statuses["published"]


def test_signups_say_where_they_came_from_in_realistic_shares(generated: Run) -> None:
    """Posts, the home page, other pages and imports; a post signup names a post of the same
    newsletter published before it; search and social referrers, direct visits; a signup's
    attribution is the same in every snapshot."""
    subs = generated.snapshot("subscriptions", END).to_pylist()
    posts = {r["post_id"]: r for r in generated.snapshot("posts", END).to_pylist()}
    sources = Counter(r["signup_source"] for r in subs)
    shares = {k: n / len(subs) for k, n in sources.items()}
    assert set(sources) == {"post", "home", "page", "import"}
    assert 0.2 < shares["post"] < 0.6 and 0.25 < shares["home"] < 0.7
    assert 0.02 < shares["page"] < 0.12 and 0.005 < shares["import"] < 0.07
    for r in subs:
        assert (r["signup_post_id"] is not None) == (r["signup_source"] == "post")
        if r["signup_post_id"]:
            post = posts[r["signup_post_id"]]
            assert post["newsletter_id"] == r["newsletter_id"]
            assert post["published_at"] < r["subscribed_at"]
        if r["signup_source"] == "import":
            assert r["signup_referrer"] is None
    referrers = [r["signup_referrer"] for r in subs if r["signup_source"] != "import"]
    direct = sum(not ref for ref in referrers) / len(referrers)
    assert 0.15 < direct < 0.5
    assert any("google" in (ref or "") for ref in referrers)
    assert any((ref or "").startswith("https://t.co/") for ref in referrers)
    assert any(".theletter.jp/" in (ref or "") for ref in referrers)
    first = generated.snapshot("subscriptions", START).to_pylist()
    earlier = {r["subscription_id"]: r for r in first}
    attribution = ("signup_source", "signup_post_id", "signup_referrer")
    assert all(
        [r[k] for k in attribution] == [earlier[r["subscription_id"]][k] for k in attribution]
        for r in subs
        if r["subscription_id"] in earlier
    )


def test_email_unsubscribes_match_the_exports(generated: Run) -> None:
    events = [r for r in generated.records("ses_events") if r["eventType"] == "Subscription"]
    assert events
    for r in events:
        at = ts(r["subscription"]["timestamp"])
        rows = [
            s
            for s in generated.snapshot("subscriptions", jst_day(at)).to_pylist()
            if s["email"] == r["mail"]["destination"][0]
            and s["newsletter_id"] == r["mail"]["tags"]["newsletter_id"][0]
        ]
        assert [s["unsubscribed_at"] for s in rows if s["unsubscribed_at"] == at] == [at]
        matched = next(s for s in rows if s["unsubscribed_at"] == at)
        assert matched["subscribed_at"] <= ts(r["mail"]["timestamp"])


def test_sends_go_to_subscriptions_active_at_send_time(generated: Run) -> None:
    by_day: dict[date, list[dict]] = defaultdict(list)
    for r in generated.records("ses_events"):
        if r["eventType"] == "Send":
            by_day[jst_day(ts(r["mail"]["timestamp"]))].append(r)
    for day, sends in by_day.items():
        subs = defaultdict(list)
        for s in generated.snapshot("subscriptions", day).to_pylist():
            subs[s["email"], s["newsletter_id"]].append(s)
        # Recipients are chosen when the post goes out; the throttled copies follow within
        # minutes, so a reader may leave (from the website) between the two.
        for r in sends:
            sent = ts(r["mail"]["timestamp"])
            rows = subs[r["mail"]["destination"][0], r["mail"]["tags"]["newsletter_id"][0]]
            assert any(
                s["subscribed_at"] <= sent
                and (
                    s["unsubscribed_at"] is None
                    or s["unsubscribed_at"] > sent - timedelta(minutes=30)
                )
                for s in rows
            ), r["mail"]["messageId"]
