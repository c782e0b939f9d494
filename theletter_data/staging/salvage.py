"""Recover what can be read from a damaged gzip object (truncated upload, corrupt tail)."""

from __future__ import annotations

import zlib
from pathlib import Path

_CHUNK = 1 << 20


def salvage_gzip_lines(source: Path, target: Path) -> int:
    """Write the complete lines readable from `source` (a gzip file, possibly of several members)
    to `target`, uncompressed, and return how many there are. Stops at the first unreadable
    byte; the incomplete last line, if any, is dropped."""
    lines = 0
    tail = b""
    with open(source, "rb") as raw, open(target, "wb") as out:
        decoder = zlib.decompressobj(wbits=31)
        try:
            while chunk := raw.read(_CHUNK):
                while chunk:
                    data = decoder.decompress(chunk)
                    tail = _write_complete_lines(out, tail + data)
                    lines += data.count(b"\n")
                    if decoder.eof:  # another gzip member may follow
                        chunk = decoder.unused_data
                        decoder = zlib.decompressobj(wbits=31)
                    else:
                        chunk = b""
        except zlib.error:
            pass
    return lines


def _write_complete_lines(out, data: bytes) -> bytes:  # type: ignore[no-untyped-def]
    cut = data.rfind(b"\n") + 1
    out.write(data[:cut])
    return data[cut:]
