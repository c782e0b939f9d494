"""Readers' email addresses are personal data: staging replaces them with a keyed hash.

HMAC-SHA256 (RFC 2104) with a secret key from the environment: the same address always gives the
same pseudonym (so joins and unique counts work), and nobody without the key can test a guessed
address against it. The hash is computed inside the ingestion engine's SQL by the macro
`PSEUDONYM_MACRO` defines, which every engine session has (staging/sql/ calls it as
`pseudonym(address, $hmac_ipad, $hmac_opad)`), with the pads of `sql_params`; `hash` is the
reference implementation in Python, the one the app follows to find its own subscribers among
pseudonyms (metrics/newsletter_engagement_segments.py): the key's UTF-8 bytes, the normalised
address's UTF-8 bytes, the digest in lower-case hex.
"""

from __future__ import annotations

import hashlib
import hmac

import dagster as dg
from pydantic import Field

_BLOCK = 64
PSEUDONYM_MACRO = (
    "CREATE OR REPLACE MACRO pseudonym(address, ipad, opad) AS "
    "sha256(opad || unhex(sha256(ipad || encode(lower(trim(address))))))"
)
"""The pseudonym of an address in the engine's SQL, its one definition: HMAC-SHA256 =
sha256(opad || sha256(ipad || message)) of the normalised address (`normalise`), with the pads
bound as parameters; NULL for NULL."""
SPACE_SEPARATORS = (
    "\u0020\u00a0\u1680" + "".join(map(chr, range(0x2000, 0x200B))) + ("\u202f\u205f\u3000")
)
"""Unicode's space separators (category Zs), which DuckDB's `trim` removes; `str.strip` also
removes tabs, line breaks and other controls, which it keeps."""
MINIMUM_KEY_LENGTH = 16
"""A short key could be guessed, and with it every reader's address tested against a pseudonym."""
MINIMUM_DISTINCT_CHARACTERS = 6
"""A long key of few symbols (16 spaces, `aaaa...`, `abababab...`) is as guessable as a short one.
A random key has many more: 16 random hex digits have 6 or more distinct ones but for about
one key in 25,000 (measured), `openssl rand -hex 32` (64 digits) practically always."""


class Pseudonymizer(dg.ConfigurableResource):
    key: str = Field(description="Secret HMAC key (THELETTER_PSEUDONYM_KEY).")

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        # Checked when a run starts, after EnvVar resolution; the message never shows the key.
        problem = key_weakness(self.key)
        if problem:
            raise ValueError(
                f"THELETTER_PSEUDONYM_KEY {problem}; use a random key (e.g. `openssl rand -hex 32`)"
            )

    def normalise(self, address: str) -> str:
        """What staging's SQL hashes (DuckDB's `lower(trim(address))`): leading and trailing
        Unicode space separators removed (tabs and line breaks kept), then each code point
        mapped to its simple lower case, without context: capital I with dot above (U+0130)
        becomes `i` and a final capital sigma the medial small sigma (U+03C3), where
        `str.lower` gives `i` with a combining dot and the final sigma (U+03C2)."""
        trimmed = address.strip(SPACE_SEPARATORS)
        return "".join("i" if c == "\u0130" else c.lower() for c in trimmed)

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


def key_weakness(key: str) -> str | None:
    """Why `key` is too weak to be the pseudonym key (None: it is not), without quoting it."""
    if len(key) < MINIMUM_KEY_LENGTH:
        return f"is {len(key)} characters long; it must have at least {MINIMUM_KEY_LENGTH}"
    distinct = len({c for c in key if not c.isspace()})
    if distinct < MINIMUM_DISTINCT_CHARACTERS:
        return (
            f"has {distinct} distinct characters besides whitespace; it must have at least "
            f"{MINIMUM_DISTINCT_CHARACTERS}"
        )
    return None
