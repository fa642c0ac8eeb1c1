"""The one generic reader: an export + its spec -> accepted records and quarantine.

Contract (docs/design.md, Inputs): every identifier stays text; data rows are
numbered from 1 (header excluded); a row that cannot be parsed goes to
quarantine with its reason; ``rows_in == accepted + quarantined`` for every
file, and ``rows_in`` equals the file's physical records, counted apart from
the parser (see :func:`_csv_frame`): a file is never read short.

What a quarantined row keeps is :mod:`datapool.privacy`'s rule: a row split
into the header's fields keeps its non-personal, allow-listed values (free
text redacted); a row that could not be split keeps only its field count and
a keyed hash of its text.
"""

from __future__ import annotations

import codecs
import csv
import io
import json
import re
import zipfile
from dataclasses import dataclass, field
from datetime import date, datetime, time
from pathlib import Path
from typing import TYPE_CHECKING

import polars as pl

from datapool.columns import where
from datapool.connectors.decoding import REPLACEMENT, decode, ungarble
from datapool.connectors.specs import ExportSpec, Parser
from datapool.errors import InputError, MissingColumnError
from datapool.matching.identifiers import NUMBER_PATTERN
from datapool.privacy import kept_extra, keyed_hash, keyed_hashes, norm_header, redact_series

if TYPE_CHECKING:
    from openpyxl.workbook.workbook import Workbook

MAX_FIELD = 1000
MAX_FIELD_LINES = 20  # a quoted field may hold line breaks (an address), but not this many lines
RAW_CHARS = 4000  # a quarantined row's kept values, as JSON, are cut to this length
csv.field_size_limit(1 << 26)

__all__ = ["ReadResult", "find_export", "norm_header", "parse_frame", "read_export"]


@dataclass
class Unsplit:
    """A row that could not be split into the header's fields: only its shape and a keyed hash
    of its text are kept (the text may hold anything, in any place)."""

    fields: int
    text: str


@dataclass
class ReadResult:
    """What one export gave: accepted rows, quarantined rows, and how it was read.

    ``physical_rows`` is the number of records the file holds, counted apart from the parser
    (non-blank lines of a CSV, less the lines continuing a quoted field; non-empty rows of
    every sheet of a workbook). ``dropped_columns`` are the extra columns not kept.
    """

    source: str
    path: Path | None
    records: pl.DataFrame
    quarantine: pl.DataFrame
    encoding: str = ""
    note: str = ""
    physical_rows: int | None = None
    dropped_columns: list[str] = field(default_factory=list)
    duplicates: int = 0

    @property
    def rows_in(self) -> int:
        """Data rows read from the file (header excluded)."""
        return self.records.height + self.quarantine.height


def find_export(snapshot_dir: Path, spec: ExportSpec) -> Path | None:
    """The export file of ``spec`` in a snapshot folder, or None when the agency sent nothing."""
    for fmt in spec.formats:
        path = snapshot_dir / f"{spec.stem}.{fmt}"
        if path.exists():
            return path
    return None


def read_export(path: Path, spec: ExportSpec, hmac_key: str) -> ReadResult:
    """Read one export. Raises InputError for a file that cannot be read at all."""
    if path.suffix.lower() == ".xlsx":
        header, cells, physical, note = _xlsx_rows(path, spec)
        frame, bad = _cells_frame(header, cells, spec)
        encoding = "xlsx"
    else:
        header, frame, bad, encoding, physical = _csv_frame(path)
        note = ""
    result = parse_frame(path, spec, header, frame, bad, encoding, hmac_key)
    result.physical_rows, result.note = physical, note
    if result.rows_in != physical:  # a safety net: every path above accounts for every record
        raise InputError(
            f"{path}: {physical} records in the file but {result.rows_in} read; "
            "refusing to publish it short"
        )
    return result


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
    The lines are counted apart from polars (line feeds in the bytes); a file where the two
    disagree (a lone carriage return ends a line for Python, not for polars) goes the text path.
    """
    if b'"' in data or b"\x00" in data or b"\r" in data.replace(b"\r\n", b"") or not data.strip():
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
    body = data[:-1] if data.endswith(b"\n") else data
    if lines.len() != body.count(b"\n") + 1:
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


def _ragged(n_fields: int, width: int, text: str, unit: str = "fields") -> str:
    why = f"ragged row: {n_fields} {unit} where the header has {width}"
    return why + (" (a quote is not closed)" if text.count('"') % 2 else "")


def _csv_frame(
    path: Path,
) -> tuple[list[str], pl.DataFrame, list[tuple[int, str, object]], str, int]:
    """Split a CSV into text columns ``c0..cN`` + ``source_row``, the rows that are not rows, the
    encoding and the number of physical records.

    Blank lines are not data rows. A file with no quote character is split
    line by line in polars (the fast path: every line is one record, so field
    counts are exact); otherwise Python's csv module parses it (quoted commas
    and newlines, see :func:`_csv_records`). Both paths give the same result.
    """
    data = _read_bytes(path)
    fast = _utf8_lines(data)
    if fast is None:
        text, encoding = _decoded(path, data)
        split = _utf8_lines(text.encode("utf-8")) if '"' not in text else None
        if split is not None:  # decoded (GB18030, or invalid bytes marked): split as UTF-8 anyway
            fast = split[0], encoding
    if fast is not None:
        lines, encoding = fast
        del data
        lines = lines.filter(lines.str.strip_chars() != "")  # blank lines are not rows
        if lines.is_empty():
            raise InputError(f"{path}: file is empty (no header row)")
        header: list[str] = lines[0].split(",")
        width = len(header)
        body = (
            pl.DataFrame({"line": lines.slice(1)})
            .with_row_index("source_row", offset=1)
            .with_columns(pl.col("source_row").cast(pl.Int64))
        )
        fields = body.get_column("line").str.count_matches(",", literal=True) + 1
        bad: list[tuple[int, str, object]] = [
            (n, _ragged(line.count(",") + 1, width, line), Unsplit(line.count(",") + 1, line))
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
        return header, frame, bad, encoding, body.height
    header, rows, physical = _csv_records(path, text)
    width = len(header)
    bad = []
    good: list[tuple[int, list[str]]] = []
    for n, (r, line) in enumerate(rows, start=1):
        if len(r) == width:
            good.append((n, r))
        else:
            bad.append((n, _ragged(len(r), width, line), Unsplit(len(r), line)))
    return header, _text_frame(good, width), bad, encoding, physical


def _csv_records(path: Path, text: str) -> tuple[list[str], list[tuple[list[str], str]], int]:
    """The header, each data record with its text, and the number of physical records.

    A quoted field may hold a line break, so one record may span lines. A stray opening quote
    would make one field of the rest of the file: a record spanning more than
    ``MAX_FIELD_LINES`` lines, or with the wrong number of fields, or holding a line that is
    a record of its own (as many commas as the header), is not believed: each of its lines is
    read as a record alone, and the line with the stray quote is quarantined. The physical
    records are counted from the lines themselves: every non-blank line, less the lines that
    continue a believed quoted field.
    """
    lines = io.StringIO(text, newline="").readlines()
    reader = csv.reader(lines, strict=False)
    spans: list[tuple[int, int, list[str]]] = []
    done = 0
    try:
        for r in reader:
            spans.append((done, reader.line_num, r))
            done = reader.line_num
    except csv.Error as exc:
        raise InputError(f"{path}: not a readable CSV file ({exc})") from None
    spans = [(a, b, r) for a, b, r in spans if "".join(lines[a:b]).strip()]  # blank lines
    if not spans:
        raise InputError(f"{path}: file is empty (no header row)")
    a, b, header = spans[0]
    if b - a > 1:
        raise InputError(f"{path}: the header row holds a line break (a quote is not closed)")
    width = len(header)
    records: list[tuple[list[str], str]] = []
    continued = 0
    for a, b, r in spans[1:]:
        text_of = "".join(lines[a:b])
        if b - a == 1:
            records.append((r, text_of.rstrip("\r\n")))
            continue
        believed = (
            len(r) == width
            and b - a <= MAX_FIELD_LINES
            and not any(line.count(",") + 1 >= width for line in lines[a + 1 : b])
        )
        if believed:
            records.append((r, text_of))
            continued += sum(1 for line in lines[a + 1 : b] if line.strip())
            continue
        for line in lines[a:b]:
            if line.strip():
                alone = line.rstrip("\r\n")
                records.append((next(csv.reader([alone], strict=False), []), alone))
    physical = sum(1 for line in lines[spans[0][1] :] if line.strip()) - continued
    return header, records, physical


def _sheet_has_formulas(path: Path) -> bool:
    """Whether any worksheet of the workbook holds a formula (read as a stream)."""
    try:
        with zipfile.ZipFile(path) as z:
            for name in z.namelist():
                if name.startswith("xl/worksheets/") and name.endswith(".xml"):
                    with z.open(name) as f:
                        tail = b""
                        while chunk := f.read(1 << 20):
                            if b"<f>" in tail + chunk or b"<f " in tail + chunk:
                                return True
                            tail = chunk[-3:]
    except (OSError, zipfile.BadZipFile, KeyError, ValueError):
        return False
    return False


def _xlsx_rows(path: Path, spec: ExportSpec) -> tuple[list[str], list[list[object]], int, str]:
    """The header and data rows of a workbook, read as a stream, each row cut to the header's
    width (a value beyond it makes the row ragged); the number of non-empty rows; a note.

    Every sheet with the first sheet's header is read, its rows numbered on from the previous
    sheet's. A sheet naming none of the spec's columns (a lookup list) is skipped and noted; a
    sheet with another header is refused. A formula cell without a cached value (a workbook
    saved by a program that does not compute) quarantines its row.
    """
    from openpyxl import load_workbook

    def open_book(data_only: bool) -> Workbook:
        try:
            return load_workbook(path, read_only=True, data_only=data_only)
        except (OSError, zipfile.BadZipFile, KeyError, ValueError, TypeError) as exc:
            raise InputError(
                f"{path}: not a readable .xlsx workbook ({type(exc).__name__})"
            ) from None

    wb = open_book(True)
    formulas = open_book(False) if _sheet_has_formulas(path) else None
    known = {norm_header(c.header) for c in spec.columns}
    header: list[str] | None = None
    out: list[list[object]] = []
    skipped: list[str] = []
    physical = 0
    try:
        for i, ws in enumerate(wb.worksheets):
            ws.reset_dimensions()  # a declared dimension is not believed (1M x 16k in 25 KB)
            values = ws.iter_rows(values_only=True)
            raw = None
            if formulas is not None:
                fs = formulas.worksheets[i]
                fs.reset_dimensions()
                raw = fs.iter_rows(values_only=True)
            width = len(header) if header else None
            sheet_header: list[str] | None = None
            for row in values:
                f_row = next(raw, ()) if raw is not None else ()
                if not any(v not in (None, "") for v in (*row, *f_row)):
                    continue
                if sheet_header is None:
                    found = ["" if v is None else str(v) for v in row]
                    if spec.title_rows and not known & {norm_header(h) for h in found}:
                        continue  # a title row above the header (a visit sheet handed back)
                    sheet_header = found
                    while sheet_header and sheet_header[-1] == "":
                        sheet_header.pop()
                    names = [norm_header(h) for h in sheet_header]
                    if header is None:
                        header, width = sheet_header, len(sheet_header)
                    elif names != [norm_header(h) for h in header]:
                        if known & set(names):
                            raise InputError(
                                f"{path}: sheet '{ws.title}' has another header than the first "
                                "sheet; send one sheet per export, or sheets with one header"
                            )
                        skipped.append(ws.title)
                        break
                    continue
                physical += 1
                assert width is not None  # set with the header, which comes first
                cut: list[object] = [*row[:width], *[None] * max(0, width - len(row))]
                if any(v not in (None, "") for v in row[width:]):
                    cut.append(_Ragged(len(row)))
                else:
                    for c, v in enumerate(f_row[:width]):
                        if cut[c] is None and isinstance(v, str) and v.startswith("="):
                            cut[c] = _NO_CACHE
                out.append(cut)
    finally:
        wb.close()
        if formulas is not None:
            formulas.close()
    if header is None:
        raise InputError(f"{path}: workbook's first sheet is empty (no header row)")
    note = f"sheets skipped (no column of this export): {', '.join(skipped)}" if skipped else ""
    return header, out, physical, note


@dataclass(frozen=True)
class _Ragged:
    cells: int


_NO_CACHE = object()  # a formula cell whose value the workbook does not hold


def _cells_frame(
    header: list[str], cells: list[list[object]], spec: ExportSpec
) -> tuple[pl.DataFrame, list[tuple[int, str, object]]]:
    """Spreadsheet cells -> text frame; a number in an identifier column is quarantined
    (precision lost), as is a formula without a cached value."""
    by_norm = {norm_header(c.header): c.parser for c in spec.columns}
    parsers = [by_norm.get(norm_header(h), Parser.TEXT) for h in header]
    keep: list[tuple[int, list[str]]] = []
    bad: list[tuple[int, str, object]] = []
    for n, row in enumerate(cells, start=1):
        if row and isinstance(row[-1], _Ragged):
            texts = [_cell_text(v, Parser.TEXT)[0] for v in row[:-1]]
            reason = _ragged(row[-1].cells, len(header), "", "cells")
            bad.append((n, reason, Unsplit(row[-1].cells, ",".join(texts))))
            continue
        texts, reason = [], ""
        for h, parser, value in zip(header, parsers, row, strict=True):
            if value is _NO_CACHE:
                texts.append("")
                reason = reason or f"{h}: formula without a stored value (recalculate and save)"
                continue
            text, why = _cell_text(value, parser)
            texts.append(text)
            reason = reason or (f"{h}: {why}" if why else "")
        if reason:
            bad.append((n, reason, texts))
        else:
            keep.append((n, texts))
    return _text_frame(keep, len(header)), bad


def _cell_text(value: object, parser: Parser) -> tuple[str, str]:
    """An .xlsx cell as text; second item is a reason when the cell type is wrong for the column."""
    if value is None:
        return "", ""
    if isinstance(value, datetime | date):
        return value.strftime("%Y-%m-%d"), ""
    if isinstance(value, time):
        return value.isoformat(), ""
    if isinstance(value, bool):
        return str(value), ""
    if isinstance(value, int | float):
        if parser == Parser.ID:
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
    bad: list[tuple[int, str, object]],
    encoding: str,
    hmac_key: str,
) -> ReadResult:
    """Map columns by header, check every row, parse fields; see module docstring.

    ``bad`` holds ``(row, reason, values)``: the row's values as split, or an :class:`Unsplit`.
    """
    names = [norm_header(h) for h in header]
    dupes = sorted({h for h in names if h and names.count(h) > 1})
    if dupes:
        raise InputError(f"{path}: column '{dupes[0]}' appears more than once in the header")
    by_norm = {norm_header(c.header): c for c in spec.columns}
    for col in spec.columns:
        if col.required and norm_header(col.header) not in names:
            _encoding_problem(path, spec, header, encoding)
            raise MissingColumnError(str(path), col.header)
    index = {by_norm[h].field: i for i, h in enumerate(names) if h in by_norm}
    extra = [(i, header[i]) for i, h in enumerate(names) if h not in by_norm and kept_extra(h)]
    dropped = [
        header[i] for i, h in enumerate(names) if h and h not in by_norm and not kept_extra(h)
    ]
    parsers = {c.field: c.parser for c in spec.columns if c.field in index}
    # what a quarantined row keeps: spec columns that are not personal, and the kept extras
    kept = {i: "id" for f, i in index.items() if parsers[f] == Parser.ID} | {
        i: "note" if parsers[f] == Parser.FREE_TEXT else "text"
        for f, i in index.items()
        if parsers[f] not in (Parser.PERSONAL, Parser.PHONE, Parser.PSEUDONYM, Parser.ID)
    }
    kept |= {i: "text" for i, _ in extra}
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
    # an exact copy of an earlier row (a file exported twice, a pasted block) is not a second record
    first = frame.select(pl.col("source_row").min().over(pl.struct(cols)).alias("_first"))
    duplicate = first.get_column("_first") != frame.get_column("source_row")
    for n, of, *row in (
        frame.with_columns(first)
        .filter(duplicate)
        .select("source_row", "_first", *cols)
        .iter_rows()
    ):
        bad.append((n, f"exact duplicate of row {of}", list(row)))
    n_duplicates = int(duplicate.sum())
    frame = frame.filter(~duplicate)
    extras = (
        pl.struct(
            [pl.lit(redact_series(frame.get_column(f"c{i}"))).alias(h) for i, h in extra]
        ).struct.json_encode()
        if extra
        else pl.lit("")
    )
    typed_in = frame.select(
        "source_row", *[pl.col(f"c{i}").alias(f) for f, i in index.items()], extras.alias("extra")
    )
    records, rejected = _check_and_parse(typed_in, spec, parsers, hmac_key)
    rej_rows = frame.join(rejected.select("source_row"), on="source_row")
    raw_of = {r[0]: list(r[1:]) for r in rej_rows.iter_rows()}
    bad += [(n, reason, raw_of[n]) for n, reason in rejected.iter_rows()]
    quarantine = pl.DataFrame(
        {
            "source_row": [n for n, _, _ in bad],
            "reason": [r for _, r, _ in bad],
            "raw": _raws(header, [row for _, _, row in bad], kept, hmac_key),
        },
        schema={"source_row": pl.Int64, "reason": pl.Utf8, "raw": pl.Utf8},
    ).sort("source_row")
    return ReadResult(
        spec.source,
        path,
        records,
        quarantine,
        encoding,
        dropped_columns=dropped,
        duplicates=n_duplicates,
    )


def _encoding_problem(path: Path, spec: ExportSpec, header: list[str], encoding: str) -> None:
    """Raise an InputError naming the encoding when a header misses columns because of it.

    Two cases: UTF-8 text garbled by being opened in another encoding and saved again (its
    headers repair to the expected ones), and headers that hold undecodable bytes or Latin-1 /
    private-use characters with none of them one expected (the wrong encoding). Otherwise
    return, and the missing column is reported as such.
    """
    expected = {norm_header(c.header) for c in spec.columns}
    found = ", ".join(h.strip() for h in header[:8]) + (" …" if len(header) > 8 else "")
    repaired = [ungarble(h) for h in header]
    hits = [r for r in repaired if r and norm_header(r[0]) in expected]
    if hits:
        raise InputError(
            f"{path}: encoding problem: the file is UTF-8 text that was opened as {hits[0][1]} "
            f"and saved again, so its headers are garbled (detected encoding {encoding}; headers "
            f"found: {found}); export it again as UTF-8 or GB18030"
        )
    garbled = any(REPLACEMENT in h or re.search(r"[\u0080-\u00ff\ue000-\uf8ff]", h) for h in header)
    if garbled and not any(norm_header(h) in expected for h in header):
        raise InputError(
            f"{path}: encoding problem or wrong file: none of its headers is one the "
            f"{spec.source} export has (detected encoding {encoding}; headers found: {found})"
        )


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


def _raws(header: list[str], rows: list[object], kept: dict[int, str], key: str) -> list[str]:
    """What each quarantined row keeps (see the module docstring), as JSON.

    A split row keeps its identifiers as read and its other kept columns redacted; an
    :class:`Unsplit` row only its field count and a keyed hash of its text.
    """
    split = [(k, r) for k, r in enumerate(rows) if isinstance(r, list) and r]
    out = ["" for _ in rows]
    for k, r in enumerate(rows):
        if isinstance(r, Unsplit):
            out[k] = json.dumps({"fields": r.fields, "row_hash": keyed_hash(r.text, key)})
    if not split:
        return out
    values = {
        i: pl.Series([str(r[i] if r[i] is not None else "") for _, r in split], dtype=pl.Utf8)
        for i in kept
    }
    values = {
        i: v if kept[i] == "id" else redact_series(v, persons=kept[i] == "note")
        for i, v in values.items()
    }
    for j, (k, _) in enumerate(split):
        out[k] = json.dumps({header[i]: values[i][j] for i in sorted(kept)}, ensure_ascii=False)[
            :RAW_CHARS
        ]
    return out


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

        def to_iso(found: pl.Series, p: str = pattern) -> pl.Series:
            return found.str.replace(p, "$1-$2-$3")

        v = where(v, v.str.contains(shape), to_iso)
    return v.str.strptime(pl.Date, "%Y-%m-%d", strict=False)


def _check_and_parse(
    frame: pl.DataFrame, spec: ExportSpec, parsers: dict[str, Parser], hmac_key: str
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Vectorised field checks; first failing check names the reason."""
    headers = {c.field: c.header for c in spec.columns}
    stripped = frame.with_columns([pl.col(f).str.strip_chars() for f in parsers])
    # dates are parsed once: the check reads the result, and _typed keeps it
    stripped = stripped.with_columns(
        [
            _dates(stripped.get_column(f)).alias(f"_date_{f}")
            for f, parser in parsers.items()
            if parser == Parser.DATE
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
        if parser == Parser.ID:
            checks.append(
                (
                    present & v.str.contains(NUMBER_PATTERN),
                    f"{h}: identifier was turned into a number (e.g. by Excel); precision lost",
                )
            )
        elif parser == Parser.DATE:
            checks.append((present & pl.col(f"_date_{f}").is_null(), f"{h}: not a valid date"))
        elif parser == Parser.COUNT:
            num = v.str.replace(r"\.0+$", "").cast(pl.Int64, strict=False)
            checks.append((present & num.is_null(), f"{h}: not a whole number"))
            checks.append((present & (num < 0).fill_null(False), f"{h}: negative count"))
        elif parser in (Parser.DECIMAL, Parser.LON, Parser.LAT):
            num = v.cast(pl.Float64, strict=False)
            checks.append((present & num.is_null(), f"{h}: not a number"))
            if parser == Parser.LON:
                checks.append(
                    (
                        present & ~num.is_between(-180, 180).fill_null(True),
                        f"{h}: longitude out of range",
                    )
                )
            if parser == Parser.LAT:
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
    ok: pl.DataFrame, spec: ExportSpec, parsers: dict[str, Parser], hmac_key: str
) -> pl.DataFrame:
    exprs: list[pl.Expr] = []
    for f, parser in parsers.items():
        v = pl.when(pl.col(f) == "").then(None).otherwise(pl.col(f))
        if parser == Parser.DATE:
            exprs.append(pl.col(f"_date_{f}").alias(f))  # parsed by _check_and_parse
        elif parser == Parser.COUNT:
            exprs.append(v.str.replace(r"\.0+$", "").cast(pl.Int64).alias(f))
        elif parser in (Parser.DECIMAL, Parser.LON, Parser.LAT):
            exprs.append(v.cast(pl.Float64).alias(f))
        elif parser == Parser.PHONE:
            digits = v.str.replace_all(r"[^\d]", "")
            exprs.append(
                pl.when(digits.str.len_chars() >= 7)
                .then(digits)
                .otherwise(None)
                .alias("phone_hash")
            )
        elif parser != Parser.PERSONAL:
            exprs.append(v.alias(f))
    out = ok.select(["source_row", *exprs, "extra"])
    for f, parser in parsers.items():  # one HMAC per distinct name; free text redacted
        if parser == Parser.PSEUDONYM:
            out = out.with_columns(keyed_hashes(out.get_column(f), hmac_key))
        elif parser == Parser.FREE_TEXT:  # notes people write: people named in them too
            out = out.with_columns(redact_series(out.get_column(f), persons=True))
    if "phone_hash" in out.columns:  # one HMAC per distinct number, never per row
        out = out.with_columns(keyed_hashes(out.get_column("phone_hash"), hmac_key))
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
