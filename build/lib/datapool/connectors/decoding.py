"""Bytes -> text for agency exports: UTF-8, UTF-8 with BOM, GB18030 (GBK), or UTF-16 (Excel's
"Unicode text"), and a check for UTF-8 text garbled by being re-saved in another encoding."""

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
    elif data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        candidates = ["utf-16"]
    elif (wide := _utf16_without_bom(data)) is not None:
        candidates = [wide]
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


def _utf16_without_bom(data: bytes) -> str | None:
    """``utf-16-le`` / ``utf-16-be`` for UTF-16 text without a BOM, else None.

    CSV text is mostly ASCII punctuation and digits, so one byte of many pairs is NUL.
    """
    head = data[:4096]
    if len(head) < 4 or head.count(b"\x00") < len(head) // 8:
        return None
    even, odd = head[0::2].count(b"\x00"), head[1::2].count(b"\x00")
    enc = "utf-16-le" if odd > even else "utf-16-be"
    try:
        head[: len(head) // 2 * 2].decode(enc)
    except UnicodeDecodeError:
        return None
    return enc


GARBLERS = ("gb18030", "cp1252", "latin-1")


def ungarble(text: str) -> tuple[str, str] | None:
    """UTF-8 text that was decoded as another encoding and saved again, repaired.

    Returns ``(repaired, encoding it was wrongly read as)``, or None when ``text`` does not
    read as such a garbling (it is then what it looks like).
    """
    for enc in GARBLERS:
        try:
            fixed = text.encode(enc).decode("utf-8")
        except (UnicodeEncodeError, UnicodeDecodeError):
            continue
        if fixed != text:
            return fixed, enc
    return None
