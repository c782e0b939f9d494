"""Keys of the app database's snapshots: conflicting copies of one key keep the newest whatever
the file order, and ids that are not ids are quarantined and never known to the streams.

Day D, the export rows and `stage`: support/staged_app_exports.py.
"""

from __future__ import annotations

import pytest

from theletter_data.staging.app_exports import NEWSLETTERS, POSTS, SUBSCRIPTIONS
from theletter_data.staging.known_newsletters import known_newsletters
from theletter_data_tests.support.rawdata import put_export, utc
from theletter_data_tests.support.staged_app_exports import (
    AS_OF,
    D,
    post,
    put_newsletters,
    stage,
    subscription,
)

# --- Conflicting copies of one key: a documented choice, whatever the file order -------------


def conflicting_pairs() -> list[tuple[dict, dict, str]]:
    """(copy a, copy b, the copy that must be kept: 'a' or 'b') for 30 keys."""
    pairs = []
    for i in range(20):  # one copy active, one cancelled; the newer update wins
        active = subscription(f"c{i:02d}", f"c{i}@example.jp", "2026-11-01 00:00:00")
        cancelled = {**active, "unsubscribed_at": utc("2026-11-10 00:00:00")}
        older, newer = utc("2026-11-05 00:00:00"), utc("2026-11-11 00:00:00")
        if i % 2:
            pairs.append(({**active, "updated_at": newer}, {**cancelled, "updated_at": older}, "a"))
        else:
            pairs.append(({**active, "updated_at": older}, {**cancelled, "updated_at": newer}, "b"))
    for i in range(6):  # updated at the same instant: the greater value ('paid' > 'free')
        free = subscription(f"t{i}", f"t{i}@example.jp", "2026-11-01 00:00:00")
        pairs.append((free, {**free, "plan": "paid"}, "b"))
    for i in range(4):  # one copy without updated_at: the one that has it
        dated = subscription(f"u{i}", f"u{i}@example.jp", "2026-11-01 00:00:00")
        pairs.append(({**dated, "plan": "paid", "updated_at": None}, dated, "b"))
    return pairs


@pytest.mark.parametrize("layout", ["two_files", "two_files_swapped", "one_file", "one_reversed"])
def test_conflicting_copies_keep_the_newest_whatever_the_file_order(resources, layout) -> None:
    lake, warehouse = resources["lake"], resources["warehouse"]
    put_newsletters(lake, D)
    pairs = conflicting_pairs()
    first, second = [a for a, _, _ in pairs], [b for _, b, _ in pairs]
    if layout.startswith("two_files"):
        if layout.endswith("swapped"):
            first, second = second, first
        put_export(lake, "subscriptions", D, first)
        put_export(lake, "subscriptions", D, second, part=1)
    else:
        rows = [row for pair in zip(first, second, strict=True) for row in pair]
        put_export(lake, "subscriptions", D, rows[::-1] if layout == "one_reversed" else rows)

    result = stage(resources)

    staged = {
        r["subscription_id"]: (r["is_active"], r["plan"])
        for r in warehouse.query(
            f"SELECT subscription_id, is_active, plan FROM {AS_OF}"
        ).to_pylist()
    }
    expected = {
        (a if keep == "a" else b)["subscription_id"]: (
            (a if keep == "a" else b)["unsubscribed_at"] is None,
            (a if keep == "a" else b)["plan"],
        )
        for a, b, keep in pairs
    }
    wrong = sorted(k for k in expected if staged[k] != expected[k])
    assert wrong == [], f"{len(wrong)} of {len(expected)} kept the wrong copy: {wrong}"
    assert sum(active for active, _ in staged.values()) == 10 + 6 + 4
    assert (result.staged, result.duplicates, result.conflicting_duplicates) == (30, 30, 30)


# --- Ids that are not ids ----------------------------------------------------------------------

BAD_IDS = [
    "../../etc/x", "a/b", "../../../../../x", "x" * 5_000, "nl\x00x", "nl_1\n", "nl 1", "",
    "\uff4e\uff4c_1", "x" * 65, "..", "nl_1.json",
]  # fmt: skip


def test_ids_that_are_not_ids_are_quarantined_and_never_known(resources) -> None:
    lake, warehouse = resources["lake"], resources["warehouse"]
    put_newsletters(lake, D, ids=("nl_1", "nl_2", *BAD_IDS))
    put_export(lake, "posts", D, [
        post("po_1"), {**post("po_2"), "newsletter_id": "a/b"}, post("../po_3"), post("po/4"),
    ])  # fmt: skip
    put_export(lake, "subscriptions", D, [
        subscription("s1", "a@example.jp", "2026-11-01 00:00:00"),
        subscription("s/2", "b@example.jp", "2026-11-01 00:00:00"),
        subscription("s3", "c@example.jp", "2026-11-01 00:00:00", reader_id="../rd"),
        subscription("s4", "d@example.jp", "2026-11-01 00:00:00", reader_id=None),
    ])  # fmt: skip

    newsletters, posts, subscriptions = (
        stage(resources, export) for export in (NEWSLETTERS, POSTS, SUBSCRIPTIONS)
    )

    assert (newsletters.staged, newsletters.quarantined) == (2, len(BAD_IDS))
    assert (posts.staged, posts.quarantined) == (1, 3)
    assert (subscriptions.staged, subscriptions.quarantined) == (2, 2)
    reasons = warehouse.query(
        "SELECT stream, reason, SUM(occurrences) AS n, MAX(LENGTH(excerpt)) AS longest "
        "FROM staging.quarantine GROUP BY stream, reason ORDER BY stream, reason"
    ).to_pylist()
    assert [(r["stream"], r["reason"], r["n"]) for r in reasons] == [
        ("appdb_newsletters", "invalid_id:newsletter_id", len(BAD_IDS)),
        ("appdb_posts", "invalid_id:newsletter_id", 1),
        ("appdb_posts", "invalid_id:post_id", 2),
        ("appdb_subscriptions", "invalid_id:reader_id", 1),
        ("appdb_subscriptions", "invalid_id:subscription_id", 1),
    ]
    assert max(r["longest"] for r in reasons) <= 300
    ids = warehouse.query("SELECT newsletter_id FROM staging.stg_newsletters").column(0)
    assert sorted(ids.to_pylist()) == ["nl_1", "nl_2"]
    assert sorted(known_newsletters(lake, D).ids.column(0).to_pylist()) == ["nl_1", "nl_2"]
