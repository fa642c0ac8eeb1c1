"""Agency text made inert for each kind of output: it is shown, never run, followed or parsed.

Every text that came from an agency export (names, addresses, statuses, grid names) is hostile
input. Spreadsheets are written with xlsxwriter's ``strings_to_formulas`` and ``strings_to_urls``
off (:data:`datapool.visits.sheets.INERT`); HTML and SVG escape with :func:`html.escape`;
this module covers the rest: Markdown artifacts and the frames Great Expectations renders
into Data Docs (which puts unexpected values into its HTML as they are).
"""

from __future__ import annotations

import re

import polars as pl

_HTML = (("&", "&amp;"), ("<", "&lt;"), (">", "&gt;"), ('"', "&quot;"), ("'", "&#x27;"))
_MARKDOWN_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|<>~=:])")


def escape_html_columns(frame: pl.DataFrame) -> pl.DataFrame:
    """Every text column of ``frame`` HTML-escaped (nulls stay null).

    Escaping is one-to-one and leaves the characters of value sets, regexes and identifiers
    alone, so an expectation gives the same result on the escaped frame.
    """
    exprs = []
    for name, dtype in frame.schema.items():
        if dtype == pl.Utf8:
            e = pl.col(name)
            for ch, entity in _HTML:
                e = e.str.replace_all(ch, entity, literal=True)
            exprs.append(e)
    return frame.with_columns(exprs) if exprs else frame


def markdown_text(value: object) -> str:
    """``value`` as literal Markdown text: its punctuation backslash-escaped, on one line."""
    text = " ".join(str(value if value is not None else "").split())
    return _MARKDOWN_SPECIAL.sub(r"\\\1", text)
