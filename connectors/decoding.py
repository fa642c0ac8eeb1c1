"""Bytes -> text for agency exports: UTF-8, UTF-8 with BOM, or GB18030 (GBK)."""

from __future__ import annotations

import codecs

REPLACEMENT = "\ufffd"


def decode(data: bytes) -> tuple[str, str]:
    """Decode an export, detecting its encoding.

    Returns ``(text, encoding)``. Bytes that fit no candidate become U+FFFD
    so the rows holding them can be quarantined; a NUL byte is treated the
    same way (csv cannot carry it).
    """
    if data.startswith(codecs.BOM_UTF8):
        candidates = ["utf-8-sig"]
    else:
        candidates = ["utf-8", "gb18030"]
    for enc in candidates:
        try:
            return data.decode(enc).replace("\x00", REPLACEMENT), enc
        except UnicodeDecodeError:
            continue
    best = min(candidates, key=lambda enc: data.decode(enc, errors="replace").count(REPLACEMENT))
    return data.decode(best, errors="replace").replace(
        "\x00", REPLACEMENT
    ), best + " (with invalid bytes)"
