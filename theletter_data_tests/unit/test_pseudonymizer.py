"""The engine's SQL HMAC (the `pseudonym` macro every engine session has, which staging's SQL
calls) is RFC 2104 HMAC-SHA256, whatever the key's length; production will not start a run
without a key of its own."""

from __future__ import annotations

import hashlib
import hmac
import random

import dagster as dg
import pytest

from theletter_data.resources import resources_for
from theletter_data.resources.ingest_engine import IngestEngine, another_connection
from theletter_data.resources.pseudonymizer import (
    SPACE_SEPARATORS,
    Pseudonymizer,
    key_weakness,
)
from theletter_data.settings import load_settings

PRODUCTION_KEY = "3f9c0a7e51d24b68a0c3e9f17d5b2a84"  # shaped like `openssl rand -hex 16`
SQL = "SELECT pseudonym($address, $hmac_ipad, $hmac_opad)"


def in_sql(pseudonymizer: Pseudonymizer, address: str | None) -> str | None:
    """The pseudonym staging's SQL gives `address`, in an engine session as staging opens it."""
    with IngestEngine().session() as con:
        ((hashed,),) = con.execute(
            SQL, {**pseudonymizer.sql_params(), "address": address}
        ).fetchall()
    return hashed


@pytest.mark.parametrize("key", ["k", "x" * 64, "a much longer secret key " * 4])
def test_sql_and_python_agree_with_the_standard(key: str) -> None:
    pseudonymizer = Pseudonymizer(key=key)
    address = "  Hanako.Sato@Example.JP "
    expected = hmac.new(key.encode(), b"hanako.sato@example.jp", hashlib.sha256).hexdigest()
    assert in_sql(pseudonymizer, address) == pseudonymizer.hash(address) == expected


@pytest.mark.parametrize(
    "address",
    [
        "\tHanako@Example.JP\n",  # a tab and a line break: SQL's trim keeps them
        "\u3000hanako@example.jp\u00a0",  # ideographic and no-break spaces: both remove them
        "İPEK@ÖRNEK.COM.TR",  # simple lower case: `i`, not `i̇`
        "ΟΔΟΣ@EXAMPLE.GR",  # no final-sigma rule: U+03C3, not U+03C2
    ],
)
def test_the_reference_hashes_exactly_what_staging_hashes(address: str) -> None:
    """The app finds its subscribers among pseudonyms by computing them as `hash` does: it must
    give staging's pseudonym for any address staging accepts (before: `str.strip().lower()`,
    which differs from SQL's `lower(trim())` on three of these)."""
    pseudonymizer = Pseudonymizer(key=PRODUCTION_KEY)
    assert pseudonymizer.hash(address) == in_sql(pseudonymizer, address)


def test_no_address_has_no_pseudonym_and_a_second_connection_has_the_macro() -> None:
    """A missing address stays missing (not the pseudonym of ''); the projection that runs in a
    second connection of the session (staging/projection_ahead.py) calls the same macro."""
    pseudonymizer = Pseudonymizer(key=PRODUCTION_KEY)
    assert in_sql(pseudonymizer, None) is None
    params = {**pseudonymizer.sql_params(), "address": "hanako@example.jp"}
    with IngestEngine().session() as con:
        cursor = another_connection(con)
        try:
            ((hashed,),) = cursor.execute(SQL, params).fetchall()
        finally:
            cursor.close()
    assert hashed == pseudonymizer.hash("hanako@example.jp")


def test_space_separators_are_unicodes_category_zs() -> None:
    import sys
    import unicodedata

    zs = {chr(c) for c in range(sys.maxunicode + 1) if unicodedata.category(chr(c)) == "Zs"}
    assert set(SPACE_SEPARATORS) == zs


def test_another_key_gives_another_pseudonym() -> None:
    assert Pseudonymizer(key="a").hash("x@y.jp") != Pseudonymizer(key="b").hash("x@y.jp")


@pytest.mark.parametrize(
    ("value", "says"),
    [
        (None, 'environment variable "THELETTER_PSEUDONYM_KEY" which is not set'),
        ("", "THELETTER_PSEUDONYM_KEY is 0 characters long; it must have at least 16"),
        ("guessable", "THELETTER_PSEUDONYM_KEY is 9 characters long; it must have at least 16"),
        (" " * 16, "THELETTER_PSEUDONYM_KEY has 0 distinct characters besides whitespace"),
        ("\t \n" * 8, "THELETTER_PSEUDONYM_KEY has 0 distinct characters besides whitespace"),
        ("k" * 32, "THELETTER_PSEUDONYM_KEY has 1 distinct characters besides whitespace"),
        ("ab" * 20, "THELETTER_PSEUDONYM_KEY has 2 distinct characters besides whitespace"),
        (
            "12345 12345 12345",
            "has 5 distinct characters besides whitespace; it must have at least 6",
        ),
    ],
)
def test_production_requires_its_own_key(monkeypatch, value: str | None, says: str) -> None:
    monkeypatch.delenv("THELETTER_PSEUDONYM_KEY", raising=False)
    if value is not None:
        monkeypatch.setenv("THELETTER_PSEUDONYM_KEY", value)
    resources = resources_for(load_settings({"THELETTER_ENV": "production"}))
    with (
        pytest.raises(dg.DagsterError) as refused,
        dg.build_resources({"pseudonymizer": resources["pseudonymizer"]}),
    ):
        pass
    assert says in str(refused.value) + str(refused.value.__cause__)
    if value and value.strip():
        assert value not in str(refused.value) + str(refused.value.__cause__)


def test_production_takes_the_key_from_the_environment(monkeypatch) -> None:
    monkeypatch.setenv("THELETTER_PSEUDONYM_KEY", PRODUCTION_KEY)
    resources = resources_for(load_settings({"THELETTER_ENV": "production"}))
    with dg.build_resources({"pseudonymizer": resources["pseudonymizer"]}) as built:
        assert built.pseudonymizer.hash("x@y.jp") == Pseudonymizer(key=PRODUCTION_KEY).hash(
            "x@y.jp"
        )


def test_a_random_hex_key_of_the_minimum_length_passes() -> None:
    """The distinct-character floor is low enough for real keys: 16 random hex digits, the
    shortest allowed, pass (seeded: the 10,000 keys are the same every run)."""
    rng = random.Random(13)
    keys = ["".join(rng.choice("0123456789abcdef") for _ in range(16)) for _ in range(10_000)]
    assert sum(key_weakness(k) is not None for k in keys) <= 1
