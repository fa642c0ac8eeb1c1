"""The one generic reader: an export + its spec -> accepted records and quarantine.

Contract (docs/design.md, Inputs): every identifier stays text; data rows are
numbered from 1 (header excluded); a row that cannot be parsed goes to
quarantine with its reason and its raw text (personal columns redacted);
``rows_in == accepted + quarantined`` for every file.
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import hmac
import io
import json
import re
import unicodedata
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

import polars as pl

from datapool.columns import where
from datapool.connectors.decoding import REPLACEMENT, decode
from datapool.connectors.specs import ExportSpec
from datapool.errors import InputError, MissingColumnError
from datapool.matching.identifiers import NUMBER_PATTERN

MAX_FIELD = 1000
# An extra (unknown) column whose header names a person or a way to reach one: its values are
# withheld from provenance and quarantine, as a known personal column's are.
PERSONAL_HEADER = re.compile(
    r"联系人|联络|姓名|名字|负责人|法人|代表人|经办人|股东|身份证|证件|电话|手机|邮箱|"
    r"e-?mail|微信|qq|出生|性别|住址|户籍",
    re.IGNORECASE,
)
# Personal-looking values in free text and their placeholders: a mobile number (no digit either
# side) and an ID number (no letter or digit either side). Written without look-around, which
# polars' regex engine lacks, so Python and polars read the same patterns: the character either side
# is matched and put back. A match thus takes the character after it, and a value right after
# another (two numbers split by one comma) is only caught by a second pass.
_PERSONAL = (
    (r"(^|\D)1[3-9]\d{9}($|\D)", "<mobile>"),
    (r"(^|[^0-9A-Za-z])\d{17}[\dXx]($|[^0-9A-Za-z])", "<id-number>"),
)
_PERSONAL_RE = tuple((re.compile(p), rf"\g<1>{tag}\g<2>") for p, tag in _PERSONAL)
csv.field_size_limit(1 << 26)


@dataclass
class ReadResult:
    """What one export gave: accepted rows, quarantined rows, and how it was read."""

    source: str
    path: Path | None
    records: pl.DataFrame
    quarantine: pl.DataFrame
    encoding: str = ""
    note: str = ""

    @property
    def rows_in(self) -> int:
        """Data rows read from the file (header excluded)."""
        return self.records.height + self.quarantine.height


def norm_header(text: str) -> str:
    """Headers compare after NFKC (full-width parentheses), with spaces dropped."""
    return re.sub(r"\s+", "", unicodedata.normalize("NFKC", str(text or "")))


def find_export(snapshot_dir: Path, spec: ExportSpec) -> Path | None:
    """The export file of ``spec`` in a snapshot folder, or None when the agency sent nothing."""
    for fmt in spec.formats:
        path = snapshot_dir / f"{spec.stem}.{fmt}"
        if path.exists():
            return path
    return None


def hash_value(value: str, key: str) -> str:
    """Keyed hash (HMAC-SHA256, 16 hex) standing in for personal data."""
    return hmac.new(key.encode(), value.encode(), hashlib.sha256).hexdigest()[:16]


def redact(text: str) -> str:
    """Blank out mobile numbers and ID numbers in free text."""
    for pattern, placeholder in _PERSONAL_RE:
        text = pattern.sub(placeholder, pattern.sub(placeholder, text))  # twice: see _PERSONAL
    return text


def read_export(path: Path, spec: ExportSpec, hmac_key: str) -> ReadResult:
    """Read one export. Raises InputError for a file that cannot be read at all."""
    if path.suffix.lower() == ".xlsx":
        header, cells, encoding = _xlsx_rows(path)
        frame, bad = _cells_frame(header, cells, spec)
    else:
        header, frame, bad, encoding = _csv_frame(path)
    return parse_frame(path, spec, header, frame, bad, encoding, hmac_key)


def _read_bytes(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise InputError(f"{path}: cannot read file ({exc.strerror})") from None


def _decoded(path: Path, data: bytes) -> tuple[str, str]:
    text, encoding = decode(data)
    if not text.strip():
        raise InputError(f"{path}: file is empty (no header row)")
    return text, encoding


def _utf8_lines(data: bytes) -> tuple[pl.Series, str] | None:
    """The lines of a UTF-8 export with no quote character and no NUL byte, split by polars'
    multi-threaded reader (the whole line is one field); None for any other file.

    Empty lines come as nulls, a BOM and line ends are dropped, as :func:`_csv_frame`'s text
    path does. Bytes that are not UTF-8 make polars refuse the file: the text path decodes it.
    """
    if b'"' in data or b"\x00" in data or not data.strip():
        return None
    try:
        lines = (
            pl.read_csv(
                data, has_header=False, separator="\x00", quote_char=None, schema={"line": pl.Utf8}
            )
            .to_series()
            .rechunk()
        )
    except pl.exceptions.ComputeError:  # invalid UTF-8
        return None
    return lines, "utf-8-sig" if data.startswith(codecs.BOM_UTF8) else "utf-8"


def _text_frame(rows: list[tuple[int, list[str]]], width: int) -> pl.DataFrame:
    columns = list(zip(*(r for _, r in rows), strict=True)) if rows else [() for _ in range(width)]
    return pl.DataFrame(
        {
            "source_row": [n for n, _ in rows],
            **{f"c{i}": pl.Series(col, dtype=pl.Utf8) for i, col in enumerate(columns)},
        },
        schema={"source_row": pl.Int64, **{f"c{i}": pl.Utf8 for i in range(width)}},
    )


def _csv_frame(path: Path) -> tuple[list[str], pl.DataFrame, list[tuple[int, str, list]], str]:
    """Split a CSV into text columns ``c0..cN`` + ``source_row``, and the rows that are not rows.

    Blank lines are not data rows. A file with no quote character is split
    line by line in polars (the fast path: every line is one record, so field
    counts are exact); otherwise Python's csv module parses it (quoted commas
    and newlines). Both paths give the same result.
    """
    data = _read_bytes(path)
    fast = _utf8_lines(data)
    if fast is None:
        text, encoding = _decoded(path, data)
        split = _utf8_lines(text.encode("utf-8")) if '"' not in text else None
        # decoded (GB18030, or with invalid bytes marked): split as UTF-8 all the same
        if split is not None:
            fast = split[0], encoding
    if fast is not None:
        lines, encoding = fast
        del data
        # blank lines are not rows (nulls go too)
        lines = lines.filter(lines.str.strip_chars() != "")
        if lines.is_empty():
            raise InputError(f"{path}: file is empty (no header row)")
        header = lines[0].split(",")
        width = len(header)
        body = (
            pl.DataFrame({"line": lines.slice(1)})
            .with_row_index("source_row", offset=1)
            .with_columns(pl.col("source_row").cast(pl.Int64))
        )
        fields = body.get_column("line").str.count_matches(",", literal=True) + 1
        bad = [
            (
                n,
                f"ragged row: {line.count(',') + 1} fields where the header has {width}",
                line.split(","),
            )
            for n, line in body.filter(fields != width).iter_rows()
        ]
        names = [f"c{i}" for i in range(width)]
        frame = (
            body.filter(fields == width)
            .select(
                "source_row",
                pl.col("line")
                .str.split_exact(",", width - 1)
                .struct.rename_fields(names)
                .alias("f"),
            )
            .unnest("f")
        )
        return header, frame, bad, encoding
    try:
        rows = [r for r in csv.reader(io.StringIO(text, newline=""), strict=False) if r]
    except csv.Error as exc:
        raise InputError(f"{path}: not a readable CSV file ({exc})") from None
    header, body = rows[0], rows[1:]
    width = len(header)
    bad = [
        (n, f"ragged row: {len(r)} fields where the header has {width}", r)
        for n, r in enumerate(body, start=1)
        if len(r) != width
    ]
    frame = _text_frame([(n, r) for n, r in enumerate(body, start=1) if len(r) == width], width)
    return header, frame, bad, encoding


def _xlsx_rows(path: Path) -> tuple[list[str], list[list[object]], str]:
    import zipfile

    from openpyxl import load_workbook

    try:
        wb = load_workbook(path, read_only=True, data_only=True)
    except (OSError, zipfile.BadZipFile, KeyError, ValueError) as exc:
        raise InputError(f"{path}: not a readable .xlsx workbook ({type(exc).__name__})") from None
    try:
        ws = wb.worksheets[0]
        rows = [list(r) for r in ws.iter_rows(values_only=True)]
    finally:
        wb.close()
    rows = [r for r in rows if any(v not in (None, "") for v in r)]
    if not rows:
        raise InputError(f"{path}: workbook's first sheet is empty (no header row)")
    header = ["" if v is None else str(v) for v in rows[0]]
    while header and header[-1] == "":
        header.pop()
    width = len(header)
    return (
        header,
        [
            (r + [None] * width)[:width] if len(r) <= width or not any(r[width:]) else r
            for r in rows[1:]
        ],
        "xlsx",
    )


def _cells_frame(
    header: list[str], cells: list[list[object]], spec: ExportSpec
) -> tuple[pl.DataFrame, list]:
    """Spreadsheet cells -> text frame; a number in an id column is quarantined (precision lost)."""
    by_norm = {norm_header(c.header): c.parser for c in spec.columns}
    parsers = [by_norm.get(norm_header(h), "text") for h in header]
    keep, bad = [], []
    for n, row in enumerate(cells, start=1):
        if len(row) != len(header):
            bad.append(
                (
                    n,
                    f"ragged row: {len(row)} cells where the header has {len(header)}",
                    [str(v or "") for v in row],
                )
            )
            continue
        texts, reason = [], ""
        for h, parser, value in zip(header, parsers, row, strict=True):
            text, why = _cell_text(value, parser)
            texts.append(text)
            reason = reason or (f"{h}: {why}" if why else "")
        if reason:
            bad.append((n, reason, texts))
        else:
            keep.append((n, texts))
    return _text_frame(keep, len(header)), bad


def _cell_text(value: object, parser: str) -> tuple[str, str]:
    """An .xlsx cell as text; second item is a reason when the cell type is wrong for the column."""
    if value is None:
        return "", ""
    if isinstance(value, datetime | date):
        return value.strftime("%Y-%m-%d"), ""
    if isinstance(value, bool):
        return str(value), ""
    if isinstance(value, int | float):
        if parser == "id":
            return repr(value), "identifier stored as a number by the spreadsheet (precision lost)"
        if isinstance(value, float) and value.is_integer():
            return str(int(value)), ""
        return str(value), ""
    return str(value), ""


def parse_frame(
    path: Path,
    spec: ExportSpec,
    header: list[str],
    frame: pl.DataFrame,
    bad: list,
    encoding: str,
    hmac_key: str,
) -> ReadResult:
    """Map columns by header, check every row, parse fields; see module docstring."""
    names = [norm_header(h) for h in header]
    dupes = sorted({h for h in names if h and names.count(h) > 1})
    if dupes:
        raise InputError(f"{path}: column '{dupes[0]}' appears more than once in the header")
    by_norm = {norm_header(c.header): c for c in spec.columns}
    for col in spec.columns:
        if col.required and norm_header(col.header) not in names:
            raise MissingColumnError(str(path), col.header)
    index = {by_norm[h].field: i for i, h in enumerate(names) if h in by_norm}
    extra = [(i, header[i]) for i, h in enumerate(names) if h not in by_norm and h]
    parsers = {c.field: c.parser for c in spec.columns if c.field in index}
    personal_pos = {i for f, i in index.items() if parsers[f] in ("personal", "phone")} | {
        i for i, _ in extra if PERSONAL_HEADER.search(names[i])
    }
    id_pos = {i for f, i in index.items() if parsers[f] == "id"}
    cols = [f"c{i}" for i in range(len(header))]

    frame = frame.with_columns(_blank_rows(frame, cols).alias("_empty"))
    bad = [
        *bad,
        *((n, "empty row", []) for n in frame.filter(pl.col("_empty"))["source_row"].to_list()),
    ]
    frame = frame.filter(~pl.col("_empty")).drop("_empty")
    # undecodable bytes anywhere in the row, extra columns included: the first such column is named
    broken = pl.coalesce(
        [
            pl.when(pl.col(c).str.contains(REPLACEMENT, literal=True)).then(
                pl.lit(i, dtype=pl.UInt16)
            )
            for i, c in enumerate(cols)
        ]
    )
    frame = frame.with_columns(
        broken.replace_strict(
            {i: f"{h}: invalid bytes for the file's encoding" for i, h in enumerate(header)},
            return_dtype=pl.Utf8,
        ).alias("_broken")
    )
    for n, reason, *row in (
        frame.filter(pl.col("_broken").is_not_null())
        .select("source_row", "_broken", *cols)
        .iter_rows()
    ):
        bad.append((n, reason, list(row)))
    frame = frame.filter(pl.col("_broken").is_null()).drop("_broken")
    shown = {
        i: (_withheld if i in personal_pos else _redact_series)(frame.get_column(f"c{i}"))
        for i, _ in extra
    }
    extras = (
        pl.struct([pl.lit(shown[i]).alias(h) for i, h in extra]).struct.json_encode()
        if extra
        else pl.lit("")
    )
    typed_in = frame.select(
        "source_row", *[pl.col(f"c{i}").alias(f) for f, i in index.items()], extras.alias("extra")
    )
    records, rejected = _check_and_parse(typed_in, spec, parsers, hmac_key)
    rej_rows = frame.join(rejected.select("source_row"), on="source_row")
    raw_of = {r[0]: list(r[1:]) for r in rej_rows.iter_rows()}
    quarantine = pl.DataFrame(
        {
            "source_row": [n for n, _, _ in bad] + rejected.get_column("source_row").to_list(),
            "reason": [r for _, r, _ in bad] + rejected.get_column("reason").to_list(),
            "raw": [_raw(header, row, personal_pos, id_pos) if row else "" for _, _, row in bad]
            + [
                _raw(header, raw_of[n], personal_pos, id_pos)
                for n in rejected.get_column("source_row").to_list()
            ],
        },
        schema={"source_row": pl.Int64, "reason": pl.Utf8, "raw": pl.Utf8},
    ).sort("source_row")
    return ReadResult(spec.source, path, records, quarantine, encoding)


def _blank_rows(frame: pl.DataFrame, cols: list[str]) -> pl.Series:
    """True for the rows whose fields are all empty, null or white space. Each column is read only
    for the rows every column before it left blank (few after the first)."""
    blank, at = (
        pl.Series([True] * frame.height, dtype=pl.Boolean),
        pl.int_range(frame.height, dtype=pl.UInt32, eager=True),
    )
    for c in cols:
        filled = frame.get_column(c).gather(at).str.contains(r"\S").fill_null(False)
        blank = blank.scatter(at.filter(filled), False)
        at = at.filter(~filled)
        if at.is_empty():
            break
    return blank


def _withheld(values: pl.Series) -> pl.Series:
    """A personal column's values in provenance: ``<redacted>`` where it held anything."""
    return pl.select(
        pl.when(values.str.strip_chars() != "").then(pl.lit("<redacted>")).otherwise(values)
    ).to_series()


def _redact_series(values: pl.Series) -> pl.Series:
    """:func:`redact` over a text column; only values holding 11 digits in a row are rewritten."""

    def blank(found: pl.Series) -> pl.Series:
        for pattern, tag in _PERSONAL:  # twice: see _PERSONAL
            found = found.str.replace_all(pattern, f"${{1}}{tag}${{2}}").str.replace_all(
                pattern, f"${{1}}{tag}${{2}}"
            )
        return found

    return where(values, values.str.contains(r"\d{11}"), blank)


def _raw(header: list[str], row: list, personal: set[int], ids: set[int]) -> str:
    """The row as read, personal columns and personal-looking values blanked (identifiers kept)."""
    values = [
        "<redacted>"
        if i in personal and str(v or "").strip()
        else str(v if v is not None else "")
        if i in ids
        else redact(str(v if v is not None else ""))
        for i, v in enumerate(row)
    ]
    return json.dumps(
        dict(zip(header, values, strict=False)) if len(values) == len(header) else values,
        ensure_ascii=False,
    )[:4000]


def _dates(values: pl.Series) -> pl.Series:
    """2019-03-05, 2019/3/5, 20190305, 2019年3月5日 (and 2019.3.5) -> Date; anything else -> null.

    Spellings are folded to Y-M-D first, so one strict format parses them all; an impossible
    date (2019-02-30) stays null and is quarantined. Each rewrite reads only the values of its
    shape (told by a regex without capture groups, which is fast).
    """
    v = values.str.strip_chars().str.replace(r"\s+00:00:00$", "")
    for shape, pattern in (
        (r"^\d{8}$", r"^(\d{4})(\d{2})(\d{2})$"),
        (r"^\d{4}[年/.]\d{1,2}[月/.]\d{1,2}日?$", r"^(\d{4})[年/.](\d{1,2})[月/.](\d{1,2})日?$"),
    ):
        v = where(
            v, v.str.contains(shape), lambda found, p=pattern: found.str.replace(p, "$1-$2-$3")
        )
    return v.str.strptime(pl.Date, "%Y-%m-%d", strict=False)


def _check_and_parse(
    frame: pl.DataFrame, spec: ExportSpec, parsers: dict[str, str], hmac_key: str
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Vectorised field checks; first failing check names the reason."""
    headers = {c.field: c.header for c in spec.columns}
    stripped = frame.with_columns([pl.col(f).str.strip_chars() for f in parsers])
    # dates are parsed once: the check reads the result, and _typed keeps it
    stripped = stripped.with_columns(
        [
            _dates(stripped.get_column(f)).alias(f"_date_{f}")
            for f, parser in parsers.items()
            if parser == "date"
        ]
    )
    checks: list[tuple[pl.Expr, str]] = []
    for f, parser in parsers.items():
        v = pl.col(f)
        present = v.is_not_null() & (v != "")
        h = headers[f]
        checks.append(
            (
                v.str.len_chars().fill_null(0) > MAX_FIELD,
                f"{h}: value longer than {MAX_FIELD} characters",
            )
        )
        col = next(c for c in spec.columns if c.field == f)
        if col.not_blank:
            checks.append((~present, f"{h}: required value is blank"))
        if parser == "id":
            checks.append(
                (
                    present & v.str.contains(NUMBER_PATTERN),
                    f"{h}: identifier was turned into a number (e.g. by Excel); precision lost",
                )
            )
        elif parser == "date":
            checks.append((present & pl.col(f"_date_{f}").is_null(), f"{h}: not a valid date"))
        elif parser == "count":
            num = v.str.replace(r"\.0+$", "").cast(pl.Int64, strict=False)
            checks.append((present & num.is_null(), f"{h}: not a whole number"))
            checks.append((present & (num < 0).fill_null(False), f"{h}: negative count"))
        elif parser in ("decimal", "lon", "lat"):
            num = v.cast(pl.Float64, strict=False)
            checks.append((present & num.is_null(), f"{h}: not a number"))
            if parser == "lon":
                checks.append(
                    (
                        present & ~num.is_between(-180, 180).fill_null(True),
                        f"{h}: longitude out of range",
                    )
                )
            if parser == "lat":
                checks.append(
                    (
                        present & ~num.is_between(-90, 90).fill_null(True),
                        f"{h}: latitude out of range",
                    )
                )
    # the first failing check's number (small integers, not a text column per check), then its text
    first = pl.coalesce(
        [pl.when(cond).then(pl.lit(i, dtype=pl.UInt8)) for i, (cond, _) in enumerate(checks)]
    )
    reason = first.replace_strict(
        {i: text for i, (_, text) in enumerate(checks)}, return_dtype=pl.Utf8
    )
    tagged = stripped.with_columns(reason.alias("reason"))
    rejected = tagged.filter(pl.col("reason").is_not_null()).select("source_row", "reason")
    ok = tagged.filter(pl.col("reason").is_null()).drop("reason")
    return _typed(ok, spec, parsers, hmac_key), rejected


def _typed(
    ok: pl.DataFrame, spec: ExportSpec, parsers: dict[str, str], hmac_key: str
) -> pl.DataFrame:
    exprs: list[pl.Expr] = []
    for f, parser in parsers.items():
        v = pl.when(pl.col(f) == "").then(None).otherwise(pl.col(f))
        if parser == "date":
            exprs.append(pl.col(f"_date_{f}").alias(f))  # parsed by _check_and_parse
        elif parser == "count":
            exprs.append(v.str.replace(r"\.0+$", "").cast(pl.Int64).alias(f))
        elif parser in ("decimal", "lon", "lat"):
            exprs.append(v.cast(pl.Float64).alias(f))
        elif parser == "phone":
            digits = v.str.replace_all(r"[^\d]", "")
            exprs.append(
                pl.when(digits.str.len_chars() >= 7)
                .then(digits)
                .otherwise(None)
                .alias("phone_hash")
            )
        elif parser != "personal":
            exprs.append(v.alias(f))
    out = ok.select(["source_row", *exprs, "extra"])
    if "phone_hash" in out.columns:  # one HMAC per distinct number, never per row
        numbers = out.get_column("phone_hash").drop_nulls().unique().to_list()
        out = out.with_columns(
            pl.col("phone_hash").replace_strict(
                {n: hash_value(n, hmac_key) for n in numbers}, default=None, return_dtype=pl.Utf8
            )
        )
    key = spec.key_field
    return out.with_columns(
        pl.lit(spec.source).alias("source"),
        pl.col(key).str.to_uppercase().alias("source_key")
        if key in out.columns
        else pl.lit(None, pl.Utf8).alias("source_key"),
        pl.col("status").is_in(list(spec.active_values)).fill_null(False).alias("active")
        if "status" in out.columns
        else pl.lit(True).alias("active"),
    )
