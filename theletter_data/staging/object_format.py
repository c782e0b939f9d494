"""What a raw object really holds, from its first bytes rather than its name.

Firehose and the log exports write gzip text named `.gz`, but a misconfigured producer or a hand
copy can leave plain text, another compression, or nothing under that name. Plain text is read
as it is; anything else cannot be read, and says what it looks like so that the failure or the
quarantine row names the cause.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

_SNIFF_BYTES = 64 << 10
_GZIP = b"\x1f\x8b"
_KNOWN = (
    (b"\x28\xb5\x2f\xfd", "zstd-compressed"),
    (b"BZh", "bzip2-compressed"),
    (b"\xfd7zXZ\x00", "xz-compressed"),
    (b"PK\x03\x04", "a zip archive"),
    (b"\xff\x06\x00\x00sNaPpY", "snappy-compressed"),
    (b"PAR1", "a Parquet file"),
)
_TEXT_BYTES = bytes(range(0x20, 0x100)) + b"\t\n\f\r"
_MAX_CONTROL_SHARE = 0.01
"""Random or compressed bytes are ~11% control characters; text with a stray one is still text."""


@dataclass(frozen=True)
class ObjectFormat:
    readable_as: str | None
    """DuckDB's `compression` to read it with ('gzip', 'none'), or None: it cannot be read."""
    cause: str = ""
    """Why it cannot be read (or what it is, when it is not what its name says)."""


GZIP = ObjectFormat("gzip")


def sniff(path: Path) -> ObjectFormat:
    """Gzip by its magic bytes; plain text when at most 1% of its first 64 KiB are control
    characters other than tabs and line breaks (binary formats hold about 11%; a bad byte or
    invalid UTF-8 in a text line is left to the reader, which quarantines that line);
    otherwise unreadable, named if known."""
    with open(path, "rb") as raw:
        head = raw.read(len(_GZIP))
        if head == _GZIP:  # nearly every object: no need to read further
            return GZIP
        head += raw.read(_SNIFF_BYTES - len(head))
    if not head:
        return ObjectFormat(None, "the object is empty")
    for magic, name in _KNOWN:
        if head.startswith(magic):
            return ObjectFormat(None, f"{name}, not gzip")
    if len(head.translate(None, _TEXT_BYTES)) <= _MAX_CONTROL_SHARE * len(head):
        return ObjectFormat("none", "plain text, not gzip: read as it is")
    return ObjectFormat(None, f"neither gzip nor text (first bytes {head[:8].hex(' ')})")
