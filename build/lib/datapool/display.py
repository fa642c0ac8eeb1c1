"""The display form of golden text: what people read on sheets, maps and the 一企一档.

Agencies type names and addresses in traditional characters now and then, and digits and Latin
letters in full width (``８号``, ``ＡＢＣ``). The golden record shows simplified characters and
half-width digits and letters; Chinese punctuation and brackets stay as written. The spelling
the fused value came with is kept beside it (``name_raw``, ``address_raw``) as provenance.
"""

from __future__ import annotations

import polars as pl

from datapool.matching.names import _to_simplified

# full-width digits, upper- and lower-case Latin letters -> ASCII; the ideographic space -> space
_WIDE = {chr(0xFF10 + i): chr(0x30 + i) for i in range(10)}
_WIDE |= {chr(0xFF21 + i): chr(0x41 + i) for i in range(26)}
_WIDE |= {chr(0xFF41 + i): chr(0x61 + i) for i in range(26)}
_WIDE["\u3000"] = " "
DISPLAYED = ("name", "address")


def display_text(values: pl.Series) -> pl.Series:
    """Simplified characters and half-width digits/letters; nulls stay null."""
    filled = values.fill_null("")
    wide = filled.str.replace_many(list(_WIDE), list(_WIDE.values()))
    simple = _to_simplified(wide)
    return pl.Series(values.name, simple, dtype=pl.Utf8).zip_with(
        values.is_not_null(), pl.Series([None] * len(values), dtype=pl.Utf8)
    )


def display_forms(enterprises: pl.DataFrame) -> pl.DataFrame:
    """``name`` and ``address`` in their display form, the spelling fused kept as ``*_raw``."""
    return enterprises.with_columns(
        *(pl.col(c).alias(f"{c}_raw") for c in DISPLAYED if c in enterprises.columns)
    ).with_columns(
        *(
            display_text(enterprises.get_column(c)).alias(c)
            for c in DISPLAYED
            if c in enterprises.columns
        )
    )
