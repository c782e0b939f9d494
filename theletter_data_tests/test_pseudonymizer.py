"""The engine's SQL HMAC is RFC 2104 HMAC-SHA256, whatever the key's length; production will not
start a run without a key of its own."""

from __future__ import annotations

import hashlib
import hmac

import dagster as dg
import duckdb
import pytest

from theletter_data.resources import resources_for
from theletter_data.resources.pseudonymizer import Pseudonymizer
from theletter_data.settings import load_settings

SQL = "SELECT sha256($hmac_opad || unhex(sha256($hmac_ipad || encode(lower(trim($address))))))"


@pytest.mark.parametrize("key", ["k", "x" * 64, "a much longer secret key " * 4])
def test_sql_and_python_agree_with_the_standard(key: str) -> None:
    pseudonymizer = Pseudonymizer(key=key)
    address = "  Hanako.Sato@Example.JP "
    expected = hmac.new(key.encode(), b"hanako.sato@example.jp", hashlib.sha256).hexdigest()
    with duckdb.connect() as con:
        (in_sql,) = con.execute(SQL, {**pseudonymizer.sql_params(), "address": address}).fetchall()[
            0
        ]
    assert in_sql == pseudonymizer.hash(address) == expected


def test_another_key_gives_another_pseudonym() -> None:
    assert Pseudonymizer(key="a").hash("x@y.jp") != Pseudonymizer(key="b").hash("x@y.jp")


@pytest.mark.parametrize(
    ("value", "says"),
    [
        (None, 'environment variable "THELETTER_PSEUDONYM_KEY" which is not set'),
        ("", "THELETTER_PSEUDONYM_KEY is 0 characters long; it must have at least 16"),
        ("guessable", "THELETTER_PSEUDONYM_KEY is 9 characters long; it must have at least 16"),
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
    if value:
        assert value not in str(refused.value) + str(refused.value.__cause__)


def test_production_takes_the_key_from_the_environment(monkeypatch) -> None:
    monkeypatch.setenv("THELETTER_PSEUDONYM_KEY", "k" * 32)
    resources = resources_for(load_settings({"THELETTER_ENV": "production"}))
    with dg.build_resources({"pseudonymizer": resources["pseudonymizer"]}) as built:
        assert built.pseudonymizer.hash("x@y.jp") == Pseudonymizer(key="k" * 32).hash("x@y.jp")
