"""Chinese enterprise identifiers: normalise, validate, bridge.

Facts (see shared/domain.md):
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

USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
USCC_WEIGHTS = [pow(3, i, 31) for i in range(17)]
ORG_WEIGHTS = [3, 7, 9, 10, 5, 8, 4, 2]
_USCC_VALUE = {c: i for i, c in enumerate(USCC_ALPHABET)}
_USCC_SHAPE = re.compile(r"^[0-9A-HJ-NP-RTUWXY]{2}[0-9]{6}[0-9A-Z]{10}$")  # ASCII only: \d would admit ٣
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


def clean_code_expr(col: pl.Expr) -> pl.Expr:
    """:func:`clean_code` in polars: NFKC, no spaces / dashes / underscores, upper case; null -> ''."""
    return col.fill_null("").str.normalize("NFKC").str.replace_all(r"[\s\-_]", "").str.to_uppercase()


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
    return len(code) == 18 and bool(_USCC_SHAPE.match(code)) and uscc_check_char(code[:17]) == code[17]


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
    table = np.full(256, -1, dtype=np.int64)
    for ch, v in values.items():
        table[ord(ch)] = v
    return table


_USCC_TABLE = _table(_USCC_VALUE)
_ORG_TABLE = _table({c: int(c, 36) for c in "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"})
_DIGIT_TABLE = _table({str(d): d for d in range(10)})


def _check_batch(shape: str, width: int, check: Callable[[np.ndarray], np.ndarray]) -> Callable[[pl.Series], pl.Series]:
    """A column function: True where a value has ``shape`` (ASCII, ``width`` long) and ``check`` holds.

    Values of the right shape are laid side by side as one byte matrix, so the check
    character is computed by numpy over all of them at once.
    """

    def run(col: pl.Series) -> pl.Series:
        out = np.zeros(len(col), dtype=bool)
        at = (col.str.len_bytes() == width).fill_null(False).arg_true()  # the shape is read only where it can fit
        if len(at):
            at = at.filter(col.gather(at).str.contains(shape))
        if len(at):
            text = col.gather(at).str.join("").item()
            out[at.to_numpy()] = check(np.frombuffer(text.encode("ascii"), dtype=np.uint8).reshape(-1, width))
        return pl.Series(col.name, out)

    return run


def _uscc_check(b: np.ndarray) -> np.ndarray:
    v = _USCC_TABLE[b]
    return (31 - (v[:, :17] @ np.array(USCC_WEIGHTS)) % 31) % 31 == v[:, 17]


def _org_check(b: np.ndarray) -> np.ndarray:
    expected = (11 - (_ORG_TABLE[b[:, :8]] @ np.array(ORG_WEIGHTS)) % 11) % 11  # 10 is written X, 11 as 0
    last = np.where(b[:, 8] == ord("X"), 10, _DIGIT_TABLE[b[:, 8]])
    return expected == last


def _regno_check(b: np.ndarray) -> np.ndarray:
    d = _DIGIT_TABLE[b]
    p = np.full(len(b), 10, dtype=np.int64)
    for i in range(14):  # ISO 7064 MOD 11,10: s = (p + d) mod 10, with 0 read as 10; p = 2s mod 11
        p = (2 * ((p + d[:, i] - 1) % 10 + 1)) % 11
    return (11 - p) % 10 == d[:, 14]


_USCC_BATCH = _check_batch(_USCC_SHAPE.pattern, 18, _uscc_check)
_ORG_BATCH = _check_batch(_ORG_SHAPE.pattern, 9, _org_check)
_REGNO_BATCH = _check_batch(r"^[0-9]{15}$", 15, _regno_check)


def uscc_valid_expr(col: pl.Expr) -> pl.Expr:
    """:func:`is_valid_uscc` over a column of cleaned codes (never null)."""
    return col.map_batches(_USCC_BATCH, return_dtype=pl.Boolean)


def org_valid_expr(col: pl.Expr) -> pl.Expr:
    """:func:`is_valid_org_code` over a column of cleaned codes (never null)."""
    return col.map_batches(_ORG_BATCH, return_dtype=pl.Boolean)


def regno_valid_expr(col: pl.Expr) -> pl.Expr:
    """:func:`is_valid_regno` over a column of cleaned codes (never null)."""
    return col.map_batches(_REGNO_BATCH, return_dtype=pl.Boolean)


def _regno_first(hint: str | pl.Expr) -> pl.Expr:
    return hint if isinstance(hint, pl.Expr) else pl.lit(hint == "regno")


def id_kind_expr(col: pl.Expr, hint: str | pl.Expr = "") -> pl.Expr:
    """The form of a cleaned identifier (see :func:`classify`), as an expression.

    ``hint`` is ``"regno"`` (or a boolean expression, true per row) where a 15-digit value
    that passes the 注册号 check is read as one before the tax-id reading is tried.
    """
    n = col.str.len_chars()
    regno = regno_valid_expr(col)
    regno_first = _regno_first(hint)
    fifteen = (
        pl.when(regno_first & regno).then(pl.lit("regno"))
        .when(col.str.contains(r"^[0-9]{6}") & org_valid_expr(col.str.slice(6))).then(pl.lit("taxid15"))
        .when(regno).then(pl.lit("regno"))
        .when(col.str.contains(r"^[0-9]+$")).then(pl.lit("regno_bad"))
        .otherwise(pl.lit("taxid15_bad"))
    )
    return (
        pl.when(col == "").then(pl.lit(""))
        .when(n == 18).then(pl.when(uscc_valid_expr(col)).then(pl.lit("uscc")).otherwise(pl.lit("uscc_bad")))
        .when(n == 9).then(pl.when(org_valid_expr(col)).then(pl.lit("org")).otherwise(pl.lit("org_bad")))
        .when(n == 15).then(fifteen)
        .otherwise(pl.lit("other"))
    )


def org_code_expr(col: pl.Expr, kind: pl.Expr) -> pl.Expr:
    """The check-passing organisation code an identifier carries, '' when none (see :func:`org_code_of`)."""
    part = (pl.when(kind.is_in(["uscc", "uscc_bad"])).then(col.str.slice(8, 9))
            .when(kind == "org").then(col).when(kind == "taxid15").then(col.str.slice(6)).otherwise(pl.lit("")))
    return pl.when(org_valid_expr(part)).then(part).otherwise(pl.lit(""))


def classify(code: str, hint: str = "") -> str:
    """Name the form of a cleaned identifier.

    Returns one of ``uscc``, ``uscc_bad`` (18 chars, check fails), ``org``,
    ``org_bad``, ``regno``, ``regno_bad``, ``taxid15`` (division code +
    organisation code), ``taxid15_bad``, ``other``, or ``''`` for blank. A
    15-digit value can pass both the 注册号 and the tax-id reading; ``hint``
    (``regno`` or ``taxid15``, from the column it came from) decides.
    """
    return pl.select(id_kind_expr(pl.lit(code, dtype=pl.Utf8), hint)).item()


def org_code_of(code: str, kind: str) -> str:
    """The organisation code carried by an identifier, '' when it has none.

    Only check-passing organisation codes count: a typo must not bridge.
    """
    return pl.select(org_code_expr(pl.lit(code, dtype=pl.Utf8), pl.lit(kind, dtype=pl.Utf8))).item()


def identifier_columns(df: pl.DataFrame, column: str, hint: str | pl.Expr = "") -> pl.DataFrame:
    """``id_clean``, ``id_kind``, ``uscc``, ``uscc_valid``, ``org_code``, ``id_regno``, ``org_strong`` of a raw id column.

    Returns only the new columns, one row per row of ``df``. Vectorised: the check
    characters are computed over the whole column.
    """
    c = pl.col("id_clean")
    out = df.select(clean_code_expr(pl.col(column)).alias("id_clean"), _regno_first(hint).alias("_hint"))
    out = out.with_columns(id_kind_expr(c, pl.col("_hint")).alias("id_kind"))
    out = out.with_columns(org_code_expr(c, pl.col("id_kind")).alias("org_code"))
    return out.select(
        "id_clean", "id_kind", "org_code",
        pl.when(pl.col("id_kind").is_in(["uscc", "uscc_bad"])).then(c).otherwise(None).alias("uscc"),
        pl.when(pl.col("id_kind") == "uscc").then(True).when(pl.col("id_kind") == "uscc_bad").then(False).otherwise(None).alias("uscc_valid"),
        pl.when(pl.col("id_kind").is_in(["regno", "regno_bad"])).then(c).otherwise(None).alias("id_regno"),
        # an organisation code read out of a USCC that fails its own check may hold the typo even when
        # it passes GB 11714 (mod 11 misses substitutions 11 apart, e.g. M <-> X): never a veto
        pl.when(pl.col("id_kind").is_in(["uscc", "org", "taxid15"])).then(pl.col("org_code")).otherwise(None)
        .alias("org_strong"),
    )
