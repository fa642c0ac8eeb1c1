"""Personal data, in one place: the keyed hash, the redaction patterns, and which columns are kept.

What the pipeline does with personal data (the README's personal-data section says the same):

* **Kept**: the columns each export spec names (identifiers, names, addresses, counts, dates,
  statuses), and of the columns no spec names only those in :data:`KEPT_EXTRA_COLUMNS`. Free
  text that is kept (extra columns, and the values of a quarantined row) has phone numbers, ID
  numbers and e-mail addresses blanked by :func:`redact_series`.
* **Hashed** with :func:`keyed_hash` (HMAC-SHA256 under the run's key): phone numbers, union
  members' ids, the raw text of a row that could not be split into fields, and the anchors of
  new enterprise ids.
* **Dropped**: columns with the ``personal`` parser (legal representatives), every extra column
  not in the allow-list (contact persons, 办税人, 联系方式, Tel, ...), and the text of rows that
  cannot be parsed (their row number, field count, reason and keyed hash are kept instead).

Redaction is written once, in polars' regex dialect (no look-around); :func:`redact` runs the
same expressions on one string, so Python and polars cannot drift apart.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import unicodedata

import polars as pl

KEY_ENV = "DATAPOOL_HMAC_KEY"
TEST_KEY = "datapool-public-test-key"
"""The documented key for the bundled samples and the tests. It is public, so hashes made with
it protect nothing: never use it for real exports."""
MIN_KEY_LENGTH = 16
HASH_HEX = 16  # hex characters kept of a keyed hash (64 bits)

# Columns no spec names that are kept (headers compare after NFKC with spaces dropped, see
# norm_header). Everything else an agency adds is dropped on read: a deny-list of header words
# always misses one (办税人, 联系方式, Tel, ...).
KEPT_EXTRA_COLUMNS = frozenset(
    {
        "主管税务所",
        "主管税务机关",
        "登记机关",
        "发证机关",
        "经营范围",
        "所属行业",
        "行业门类",
        "行政区划",
        "所属街道",
        "所属乡镇",
        "所属社区",
        "数据来源",
    }
)

# Personal-looking values in kept free text, and their placeholders; applied in this order.
# Phone numbers written with separators or a country code go first, then any run of 7 or more
# digits (local landlines, mobiles, 15- and 18-digit ID numbers with their check letter X).
# Dates (2019-03-05) and house numbers are left alone.
REDACTIONS: tuple[tuple[str, str], ...] = (
    (r"[A-Za-z0-9._%+\-]+@[A-Za-z0-9\-]+(\.[A-Za-z0-9\-]+)+", "<email>"),
    (r"(\+|＋|00)?86[\s\-]*1[3-9]\d[\s\-]*\d{4}[\s\-]*\d{4}", "<phone>"),
    (r"1[3-9]\d[\s\-]\d{4}[\s\-]?\d{4}", "<phone>"),
    (r"\(?0\d{2,3}\)?[\s\-]\d{7,8}", "<phone>"),
    (r"\d{7,}[Xx]?", "<number>"),
)
_REDACT_HINT = r"\d{7}|@|\d[\s\-]\d{4}|\d[\s\-]\d{7}"  # values that may match any of REDACTIONS


def check_key(key: str | None) -> str:
    """Return ``key`` if it can key the hashes; raise ValueError with the fix otherwise."""
    if not key:
        raise ValueError(
            f"no HMAC key: set {KEY_ENV} to a secret of {MIN_KEY_LENGTH}+ characters (or "
            "DATAPOOL_HMAC_KEY_BLOCK to the name of a Prefect Secret block holding one); "
            f"for the bundled samples only, the public test key: {KEY_ENV}={TEST_KEY}"
        )
    if len(key) < MIN_KEY_LENGTH:
        raise ValueError(f"the HMAC key is too short: use {MIN_KEY_LENGTH} characters or more")
    return key


def keyed_hash(value: str, key: str) -> str:
    """HMAC-SHA256 of ``value`` under ``key``, 16 hex characters."""
    return hmac.new(key.encode(), value.encode(), hashlib.sha256).hexdigest()[:HASH_HEX]


def file_label(name: str, key: str, kind: str) -> str:
    """The label a handed-in file is stored under instead of its name (which may hold a
    person's name, e.g. a grid worker's on a printed sheet): ``F`` + 12 hex digits of a keyed
    hash of ``kind`` and the name."""
    return "F" + keyed_hash(kind + "\x1f" + name, key)[:12].upper()


def keyed_hashes(values: pl.Series, key: str) -> pl.Series:
    """:func:`keyed_hash` of every value (nulls stay null), one HMAC per distinct value."""
    distinct = values.drop_nulls().unique().to_list()
    return values.replace_strict(
        {v: keyed_hash(str(v), key) for v in distinct}, default=None, return_dtype=pl.Utf8
    )


def norm_header(text: object) -> str:
    """Headers compare after NFKC (full-width parentheses), with spaces dropped."""
    return re.sub(r"\s+", "", unicodedata.normalize("NFKC", str(text or "")))


def kept_extra(header: str) -> bool:
    """Whether a column no spec names is kept (see :data:`KEPT_EXTRA_COLUMNS`)."""
    return norm_header(header) in KEPT_EXTRA_COLUMNS


def redact_series(values: pl.Series) -> pl.Series:
    """Blank phone numbers, ID numbers and e-mail addresses in a text column (:data:`REDACTIONS`).

    Only the values that may hold one are rewritten (most hold none).
    """
    values = values.cast(pl.Utf8)
    hit = values.str.contains(_REDACT_HINT).fill_null(False)
    if not hit.any():
        return values
    found = values.filter(hit)
    for pattern, tag in REDACTIONS:
        found = found.str.replace_all(pattern, tag)
    return values.scatter(hit.arg_true(), found)


def redact(text: str) -> str:
    """:func:`redact_series` of one string."""
    return str(redact_series(pl.Series([text], dtype=pl.Utf8))[0])
