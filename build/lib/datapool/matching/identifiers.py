"""Chinese enterprise identifiers: normalise, validate, bridge.

Facts (see docs/design.md):
- USCC, GB 32100-2015: 18 chars over a 31-char alphabet (no I O S V Z);
  weights 3^(i-1) mod 31; check = alphabet[(31 - sum mod 31) mod 31].
  Positions 9-17 are the organisation code.
- Organisation code, GB 11714-1997: 8 chars (digits keep value, A-Z = 10-35),
  weights 3 7 9 10 5 8 4 2, C9 = 11 - sum mod 11, 10 -> X, 11 -> 0.
- 注册号, GS15-2006: 15 digits, ISO 7064 MOD 11,10 check digit.
- Old tax id: 15 chars = 6-digit division code + 9-char organisation code.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable

import numpy as np
import polars as pl

from datapool.columns import where

USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
USCC_WEIGHTS = [pow(3, i, 31) for i in range(17)]
ORG_WEIGHTS = [3, 7, 9, 10, 5, 8, 4, 2]
_USCC_VALUE = {c: i for i, c in enumerate(USCC_ALPHABET)}
# ASCII only: \d would admit ٣
_USCC_SHAPE = re.compile(r"^[0-9A-HJ-NP-RTUWXY]{2}[0-9]{6}[0-9A-Z]{10}$")
_ORG_SHAPE = re.compile(r"^[0-9A-Z]{8}[0-9X]$")
# What a spreadsheet makes of a long code: 9.13607041234568E+17, 9E+17, 913607041234567000.0.
# A bare "digits E digits" is NOT one: 913607E18658005763 is a well-formed USCC.
NUMBER_PATTERN = r"^[+-]?\d\.\d+[eE][+-]?\d+$|^[+-]?\d[eE]\+?\d+$|^\d+\.\d+$"


def clean_code(raw: str | None) -> str:
    """Fold width, case and spacing of a code; '' for blank."""
    if raw is None:
        return ""
    text = unicodedata.normalize("NFKC", str(raw))
    return re.sub(r"[\s\-_]", "", text).upper()


def clean_codes(values: pl.Series) -> pl.Series:
    """:func:`clean_code` over a column: NFKC, no spaces / dashes / underscores, upper case.

    A null becomes ''.

    NFKC runs only on values with a non-ASCII character (ASCII is NFKC already); spacing and case
    only on values with a space, dash, underscore, lower-case ASCII letter or non-ASCII character.
    """
    v = values.cast(pl.Utf8).fill_null("")
    v = where(v, v.str.contains(r"[^\x00-\x7f]"), lambda wide: wide.str.normalize("NFKC"))
    return where(
        v,
        v.str.contains(r"[\s\-_a-z]|[^\x00-\x7f]"),
        lambda c: c.str.replace_all(r"[\s\-_]", "").str.to_uppercase(),
    )


def uscc_check_char(body17: str) -> str | None:
    """The check character for the first 17 USCC characters, None if not computable."""
    try:
        total = sum(_USCC_VALUE[c] * w for c, w in zip(body17, USCC_WEIGHTS, strict=True))
    except (KeyError, ValueError):
        return None
    return USCC_ALPHABET[(31 - total % 31) % 31]


def org_check_char(body8: str) -> str | None:
    """The GB 11714 check character for an 8-character organisation-code body."""
    if len(body8) != 8 or not body8.isalnum() or not body8.isascii():
        return None
    total = sum(int(c, 36) * w for c, w in zip(body8, ORG_WEIGHTS, strict=True))
    c9 = 11 - total % 11
    return "X" if c9 == 10 else "0" if c9 == 11 else str(c9)


def is_valid_uscc(code: str) -> bool:
    """Shape and check character of a cleaned USCC."""
    return (
        len(code) == 18 and bool(_USCC_SHAPE.match(code)) and uscc_check_char(code[:17]) == code[17]
    )


def is_valid_org_code(code: str) -> bool:
    """Shape and check character of a cleaned 9-character organisation code."""
    return len(code) == 9 and bool(_ORG_SHAPE.match(code)) and org_check_char(code[:8]) == code[8]


def regno_check_digit(body14: str) -> str | None:
    """ISO 7064 MOD 11,10 check digit for the first 14 digits of a 注册号."""
    if len(body14) != 14 or not body14.isdigit():
        return None
    p = 10
    for ch in body14:
        s = (p + int(ch)) % 10 or 10
        p = (2 * s) % 11
    return str((11 - p) % 10)


def is_valid_regno(code: str) -> bool:
    """Check digit of a cleaned 15-digit 注册号."""
    return len(code) == 15 and code.isdigit() and regno_check_digit(code[:14]) == code[14]


def _table(values: dict[str, int]) -> np.ndarray:
    table = np.full(256, -1, dtype=np.int32)
    for ch, v in values.items():
        table[ord(ch)] = v
    return table


_USCC_TABLE = _table(_USCC_VALUE)
_ORG_TABLE = _table({c: int(c, 36) for c in "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"})
_DIGIT_TABLE = _table({str(d): d for d in range(10)})


def _check_batch(
    shape: str, width: int, check: Callable[[np.ndarray], np.ndarray]
) -> Callable[[pl.Series], pl.Series]:
    """A column function: True where a value has ``shape`` (ASCII of ``width``) and ``check`` holds.

    Values of the right shape are laid side by side as one byte matrix, so the check
    character is computed by numpy over all of them at once.
    """

    def run(col: pl.Series) -> pl.Series:
        out = np.zeros(len(col), dtype=bool)
        # the shape is read only where it can fit
        at = (col.str.len_bytes() == width).fill_null(False).arg_true()
        if len(at):
            at = at.filter(col.gather(at).str.contains(shape))
        if len(at):
            text = col.gather(at).str.join("").item()
            out[at.to_numpy()] = check(
                np.frombuffer(text.encode("ascii"), dtype=np.uint8).reshape(-1, width)
            )
        return pl.Series(col.name, out)

    return run


def _uscc_check(b: np.ndarray) -> np.ndarray:
    v = _USCC_TABLE[b]
    ok: np.ndarray = (31 - (v[:, :17] @ np.array(USCC_WEIGHTS, dtype=np.int32)) % 31) % 31 == v[
        :, 17
    ]
    return ok


def _org_check(b: np.ndarray) -> np.ndarray:
    # 10 is written X, 11 as 0
    expected = (11 - (_ORG_TABLE[b[:, :8]] @ np.array(ORG_WEIGHTS, dtype=np.int32)) % 11) % 11
    last = np.where(b[:, 8] == ord("X"), 10, _DIGIT_TABLE[b[:, 8]])
    ok: np.ndarray = expected == last
    return ok


def _regno_check(b: np.ndarray) -> np.ndarray:
    d = _DIGIT_TABLE[b]
    p = np.full(len(b), 10, dtype=np.int32)
    for i in range(14):  # ISO 7064 MOD 11,10: s = (p + d) mod 10, with 0 read as 10; p = 2s mod 11
        p = (2 * ((p + d[:, i] - 1) % 10 + 1)) % 11
    ok: np.ndarray = (11 - p) % 10 == d[:, 14]
    return ok


# column functions (Series -> Series of bool) over cleaned codes
uscc_valid = _check_batch(_USCC_SHAPE.pattern, 18, _uscc_check)
org_valid = _check_batch(_ORG_SHAPE.pattern, 9, _org_check)
regno_valid = _check_batch(r"^[0-9]{15}$", 15, _regno_check)


def uscc_valid_expr(col: pl.Expr) -> pl.Expr:
    """:func:`is_valid_uscc` over a column of cleaned codes (never null)."""
    return col.map_batches(uscc_valid, return_dtype=pl.Boolean)


def org_valid_expr(col: pl.Expr) -> pl.Expr:
    """:func:`is_valid_org_code` over a column of cleaned codes (never null)."""
    return col.map_batches(org_valid, return_dtype=pl.Boolean)


def regno_valid_expr(col: pl.Expr) -> pl.Expr:
    """:func:`is_valid_regno` over a column of cleaned codes (never null)."""
    return col.map_batches(regno_valid, return_dtype=pl.Boolean)


# the forms an identifier can take (see :func:`classify`); an Enum, so comparing them is cheap
ID_KINDS = pl.Enum(
    [
        "",
        "uscc",
        "uscc_bad",
        "org",
        "org_bad",
        "regno",
        "regno_bad",
        "taxid15",
        "taxid15_bad",
        "other",
    ]
)


def id_kinds(codes: pl.Series, regno_first: pl.Series) -> pl.Series:
    """The form of each cleaned identifier (see :func:`classify`), as :data:`ID_KINDS`.

    ``regno_first`` is true per row where a 15-digit value that passes the 注册号 check is
    read as one before the tax-id reading is tried. Each check runs once, on the values
    whose length it fits.
    """
    n = codes.str.len_chars()
    tax, digits = np.zeros(len(codes), dtype=bool), np.zeros(len(codes), dtype=bool)
    at15 = (n == 15).fill_null(False).arg_true()
    if len(at15):  # the tax-id reading: a division code (6 digits) + an organisation code
        fifteen = codes.gather(at15)
        tax[at15.to_numpy()] = (
            fifteen.str.contains(r"^[0-9]{6}") & org_valid(fifteen.str.slice(6))
        ).to_numpy()
        digits[at15.to_numpy()] = fifteen.str.contains(r"^[0-9]+$").to_numpy()
    c = pl.col

    def k(kind: str) -> pl.Expr:
        return pl.lit(kind, dtype=ID_KINDS)

    return (
        pl.DataFrame(
            {
                "code": codes,
                "n": n,
                "regno_first": regno_first,
                "uscc": uscc_valid(codes),
                "org": org_valid(codes),
                "regno": regno_valid(codes),
                "tax": tax,
                "digits": digits,
            }
        )
        .select(
            pl.when(c("code") == "")
            .then(k(""))
            .when(c("n") == 18)
            .then(pl.when(c("uscc")).then(k("uscc")).otherwise(k("uscc_bad")))
            .when(c("n") == 9)
            .then(pl.when(c("org")).then(k("org")).otherwise(k("org_bad")))
            .when(c("n") == 15)
            .then(
                pl.when(c("regno_first") & c("regno"))
                .then(k("regno"))
                .when(c("tax"))
                .then(k("taxid15"))
                .when(c("regno"))
                .then(k("regno"))
                .when(c("digits"))
                .then(k("regno_bad"))
                .otherwise(k("taxid15_bad"))
            )
            .otherwise(k("other"))
            .alias("id_kind")
        )
        .to_series()
    )


def org_codes(codes: pl.Series, kinds: pl.Series) -> pl.Series:
    """The check-passing organisation code each identifier carries, '' when none.

    See :func:`org_code_of`.

    An ``org`` is one, a ``taxid15`` ends in one (both passed the check to be so named); a
    USCC's positions 9-17 are checked here.
    """
    out = pl.select(
        pl.when(kinds == "org")
        .then(codes)
        .when(kinds == "taxid15")
        .then(codes.str.slice(6))
        .otherwise(pl.lit(""))
        .alias("org_code")
    ).to_series()
    at = kinds.is_in(["uscc", "uscc_bad"]).fill_null(False).arg_true()
    if len(at):
        part = codes.gather(at).str.slice(8, 9)
        ok = org_valid(part)
        out = out.scatter(at.filter(ok), part.filter(ok))
    return out


def classify(code: str, hint: str = "") -> str:
    """Name the form of a cleaned identifier.

    Returns one of ``uscc``, ``uscc_bad`` (18 chars, check fails), ``org``,
    ``org_bad``, ``regno``, ``regno_bad``, ``taxid15`` (division code +
    organisation code), ``taxid15_bad``, ``other``, or ``''`` for blank. A
    15-digit value can pass both the 注册号 and the tax-id reading; ``hint``
    (``regno`` or ``taxid15``, from the column it came from) decides.
    """
    return str(id_kinds(pl.Series([code], dtype=pl.Utf8), pl.Series([hint == "regno"]))[0])


def org_code_of(code: str, kind: str) -> str:
    """The organisation code carried by an identifier, '' when it has none.

    Only check-passing organisation codes count: a typo must not bridge.
    """
    return str(org_codes(pl.Series([code], dtype=pl.Utf8), pl.Series([kind], dtype=pl.Utf8))[0])


def identifier_columns(df: pl.DataFrame, column: str, hint: str | pl.Expr = "") -> pl.DataFrame:
    """``id_clean``, ``id_kind``, ``uscc``, ``uscc_valid``, ``org_code``, ``id_regno``,
    ``org_strong`` of a raw id column.

    Returns only the new columns, one row per row of ``df``. ``hint`` is ``"regno"``, or a
    boolean expression over ``df`` true where 15-digit ids are read as 注册号 first.
    Vectorised: the check characters are computed over the whole column.
    """
    regno_first = df.select(
        hint if isinstance(hint, pl.Expr) else pl.repeat(hint == "regno", df.height)
    ).to_series()
    codes = clean_codes(df.get_column(column)).alias("id_clean")
    kinds = id_kinds(codes, regno_first)
    c, kind = pl.col("id_clean"), pl.col("id_kind")
    return pl.DataFrame([codes, kinds, org_codes(codes, kinds)]).select(
        "id_clean",
        kind.cast(pl.Utf8),
        "org_code",
        pl.when(kind.is_in(["uscc", "uscc_bad"])).then(c).otherwise(None).alias("uscc"),
        pl.when(kind == "uscc")
        .then(True)
        .when(kind == "uscc_bad")
        .then(False)
        .otherwise(None)
        .alias("uscc_valid"),
        pl.when(kind.is_in(["regno", "regno_bad"])).then(c).otherwise(None).alias("id_regno"),
        # an organisation code read out of a USCC that fails its own check may hold the typo even
        # when it passes GB 11714 (mod 11 misses substitutions 11 apart, e.g. M <-> X): never a veto
        pl.when(kind.is_in(["uscc", "org", "taxid15"]))
        .then(pl.col("org_code"))
        .otherwise(None)
        .alias("org_strong"),
    )
