"""Readers' email addresses are personal data: staging replaces them with a keyed hash.

HMAC-SHA256 (RFC 2104) with a secret key from the environment: the same address always gives the
same pseudonym (so joins and unique counts work), and nobody without the key can test a guessed
address against it. The hash is computed inside the ingestion engine's SQL (staging/sql/) with
the pads of `sql_params`; `hash` is the reference implementation in Python.
"""

from __future__ import annotations

import hashlib
import hmac

import dagster as dg
from pydantic import Field

_BLOCK = 64


class Pseudonymizer(dg.ConfigurableResource):
    key: str = Field(description="Secret HMAC key (THELETTER_PSEUDONYM_KEY).")

    def normalise(self, address: str) -> str:
        return address.strip().lower()

    def hash(self, address: str) -> str:
        return hmac.new(
            self.key.encode(), self.normalise(address).encode(), hashlib.sha256
        ).hexdigest()

    def sql_params(self) -> dict[str, bytes]:
        """The inner and outer HMAC pads, bound as query parameters (never formatted into SQL
        text): HMAC = sha256(opad || sha256(ipad || message))."""
        key = self.key.encode()
        if len(key) > _BLOCK:
            key = hashlib.sha256(key).digest()
        key = key.ljust(_BLOCK, b"\0")
        return {
            "hmac_ipad": bytes(b ^ 0x36 for b in key),
            "hmac_opad": bytes(b ^ 0x5C for b in key),
        }
