"""The engine's SQL HMAC is RFC 2104 HMAC-SHA256, whatever the key's length."""

from __future__ import annotations

import hashlib
import hmac

import duckdb
import pytest

from theletter_data.resources.pseudonymizer import Pseudonymizer

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
