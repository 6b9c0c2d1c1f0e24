"""Open a retailer's CSV or XLSX file safely as a table of strings.

The file type is decided by content, never by extension: a zip archive holding
``xl/workbook.xml`` is an XLSX workbook (:mod:`harmmap.ingest.xlsx`), gzip data
is decompressed and read as CSV, GeoJSON and GeoPackage point layers are read
with :mod:`harmmap.ingest.points`, anything else is delimited text.  Every cell comes back as a string (or
NA when blank); typing is the caller's job, so one bad cell never loses a row.

Text files are UTF-8 (with or without a byte-order mark) unless ``encoding=``
says otherwise (e.g. ``"cp1252"`` for files saved by older Excel).  A row that
is not valid text in that encoding is rejected as ``encoding_error`` (its raw
text shown with backslash escapes); a row with the wrong number of fields or
broken quoting is rejected as ``malformed_row``.  The rest of the file is kept.
Trailing delimiters (``a,b,`` as written by some exports) are ignored when
the fields they add are blank, and old Mac files ending lines with a bare
carriage return are read as if they used newlines.

Rows are numbered from 1 after the header: in a CSV, every non-empty record
counts; in a workbook, row n is n sheet rows below the header (so blank sheet
rows count).  A row of empty cells keeps its number but is dropped: it is not
data, and is neither accepted nor rejected.

Workbooks are guarded against zip bombs (more than 200 MB uncompressed, or a
compression ratio over 100 for members over 1 MB) and XML bombs (openpyxl
parses with defusedxml; entity declarations are refused before parsing).
"""

from __future__ import annotations

import csv
import gzip
import io
import re
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from harmmap.errors import InputFileError
from harmmap.ingest.points import looks_like_point_layer, read_point_layer
from harmmap.ingest.result import make_rejects

STRING = pd.StringDtype("pyarrow")
_MAX_GUNZIP = 2 * 1024**3
_XLS_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_MAX_QUOTED_LINES = 200
_DELIMITERS = (",", "\t", ";", "|")


@dataclass(frozen=True)
class RawTable:
    """A file's rows as strings, with the rows that could not be read.

    Attributes
    ----------
    frame : pandas.DataFrame
        One column per header name (string dtype); blank cells are NA.
    row_numbers : numpy.ndarray of int64
        The 1-based data row of each row of ``frame``.
    columns : tuple of str
        Header names, in file order (duplicates made unique with ``.2``, ``.3``;
        blank ones named ``column_<n>``).
    bad_rows : pandas.DataFrame
        Rejects (see :func:`harmmap.ingest.result.make_rejects`) for rows that
        could not be decoded or split into the header's fields.
    """

    frame: pd.DataFrame
    row_numbers: np.ndarray
    columns: tuple[str, ...]
    bad_rows: pd.DataFrame

    @property
    def rows_read(self) -> int:
        """Data rows in the file: kept plus bad."""
        return len(self.frame) + len(self.bad_rows)


def read_table(path, *, sheet: str | None = None, encoding: str = "utf-8") -> RawTable:
    """Read a CSV (plain or gzip), XLSX, GeoJSON or GeoPackage file into a table of strings.

    A point layer (GeoJSON, GeoPackage) gives its attributes plus ``lat`` and
    ``lng`` (WGS84) of each point: map them like CSV columns.

    Parameters
    ----------
    path : str or os.PathLike
        The file.  Its type is decided by its content.
    sheet : str, optional
        Worksheet of an XLSX file (default: the first).
    encoding : str
        Text encoding of a CSV file.  A UTF-8 or UTF-16 byte-order mark wins.

    Returns
    -------
    RawTable

    Raises
    ------
    InputFileError
        Missing or unreadable file, empty file, no header, old binary ``.xls``,
        a zip that is not a workbook, a zip or XML bomb, an unknown sheet.
    """
    data = _read_bytes(Path(path))
    if data.startswith(b"\x1f\x8b"):
        data = _gunzip(data, path)
    elif data.startswith(_XLS_MAGIC):
        raise InputFileError("old binary Excel (.xls) files are not supported", given=str(path),
                             fix="open it in Excel or LibreOffice and save it as .xlsx or CSV")
    elif data.startswith(b"PK\x03\x04"):
        from harmmap.ingest.xlsx import read_workbook

        header, rows, numbers, bad = read_workbook(data, str(path), sheet)
        return _table_from_rows(header, rows, numbers, bad)
    elif looks_like_point_layer(data[:4096]):
        frame = read_point_layer(path)
        numbers = np.arange(1, len(frame) + 1, dtype="int64")
        return _finish(frame.astype(STRING), numbers, list(frame.columns), make_rejects([], [], [], []))
    return _read_text(data, str(path), encoding)


def _read_bytes(path: Path) -> bytes:
    if not path.exists():
        raise InputFileError("file not found", given=str(path), fix="check the path and file name")
    if path.is_dir():
        raise InputFileError("expected a file, got a folder", given=str(path), fix="give the path of one file")
    try:
        return path.read_bytes()
    except OSError as exc:
        raise InputFileError("cannot read file", given=f"{path}: {exc.strerror}",
                             fix="check the file's permissions") from None


def _gunzip(data: bytes, path) -> bytes:
    try:
        with gzip.GzipFile(fileobj=io.BytesIO(data)) as handle:
            out = handle.read(_MAX_GUNZIP + 1)
    except (OSError, EOFError, zlib.error) as exc:
        raise InputFileError("cannot decompress gzip file", given=f"{path}: {exc}",
                             fix="re-create the .gz file") from None
    if len(out) > _MAX_GUNZIP:
        raise InputFileError("decompressed file is larger than 2 GiB", given=str(path), fix="split the file")
    if out.startswith((b"\x1f\x8b", b"PK\x03\x04", _XLS_MAGIC)):
        raise InputFileError("a .gz file must hold CSV text", given=str(path), fix="decompress it first")
    return out


def _read_text(data: bytes, name: str, encoding: str) -> RawTable:
    data, encoding = _strip_bom(data, encoding)
    if b"\n" not in data and b"\r" in data:
        data = data.replace(b"\r", b"\n")  # classic Mac line endings
    first = next(_records(data), None) if re.search(rb"\S", data) else None
    if first is None:
        raise InputFileError("file is empty", given=name, fix="export the report again with its header row")
    header_bytes, body_start = first
    try:
        header_text = header_bytes.decode(encoding)
    except UnicodeDecodeError:
        raise InputFileError(f"the header row is not valid {encoding} text", given=name,
                             fix='set encoding = "cp1252" (or the right one) under [format] in the mapping'
                             ) from None
    except LookupError:
        raise InputFileError("unknown text encoding", given=encoding, fix='use e.g. "utf-8" or "cp1252"') from None
    delimiter = _sniff_delimiter(header_text)
    header, spare = _split_header(header_text, delimiter, name)
    body = data[body_start:]
    try:
        frame, numbers = _parse_fast(body, header, spare, delimiter, encoding)
        bad = _rejects([])
    except _SlowPath:
        rows, numbers, bad = _parse_careful(body, header, delimiter, encoding)
        return _table_from_rows(header, rows, numbers, bad)
    return _finish(frame, numbers, header, bad)


def _strip_bom(data: bytes, encoding: str) -> tuple[bytes, str]:
    """A byte-order mark decides the encoding; UTF-16 is re-encoded as UTF-8."""
    if data.startswith(b"\xef\xbb\xbf"):
        return data[3:], "utf-8"
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return data.decode("utf-16", errors="replace").encode("utf-8"), "utf-8"
    return data, encoding


def _records(data: bytes, start: int = 0):
    """Yield (record bytes, offset after it) for each non-empty CSV record.

    A record continues over newlines while its quotes are unbalanced, for at
    most ``_MAX_QUOTED_LINES`` lines; past that, or at the end of the data, the
    first line alone is taken as a (broken) record and reading goes on after it.
    """
    n = len(data)
    pos = start
    while pos < n:
        end = data.find(b"\n", pos)
        end = n if end < 0 else end + 1
        record_end, quotes, lines = end, data.count(b'"', pos, end), 1
        while quotes % 2 and record_end < n and lines < _MAX_QUOTED_LINES:
            nxt = data.find(b"\n", record_end)
            nxt = n if nxt < 0 else nxt + 1
            quotes += data.count(b'"', record_end, nxt)
            record_end, lines = nxt, lines + 1
        if quotes % 2:
            record_end = end
        record = data[pos:record_end].rstrip(b"\r\n")
        pos = record_end
        if record:
            yield record, record_end


def _sniff_delimiter(header: str) -> str:
    """The commonest of comma, tab, semicolon and bar in the header line (comma when none)."""
    return max(_DELIMITERS, key=header.count) if any(d in header for d in _DELIMITERS) else ","


def _split_header(text: str, delimiter: str, name: str) -> tuple[list[str], int]:
    """Return the header names and the number of blank cells after the last one (trailing delimiters)."""
    try:
        cells = next(csv.reader([text], delimiter=delimiter))
    except csv.Error as exc:
        raise InputFileError(f"the header row cannot be read: {exc}", given=name,
                             fix="the first row must hold the column names") from None
    header = unique_header(cells, name)
    return header, len(cells) - len(header)


def unique_header(cells: list, name: str) -> list[str]:
    """Return header names: trimmed, blank ones named, duplicates suffixed; refuse a missing header."""
    names = ["" if c is None else str(c).strip() for c in cells]
    while names and not names[-1]:
        names.pop()
    if not names or all(_looks_like_data(c) for c in names if c):
        raise InputFileError("the file has no header row (the first row is blank or looks like data)",
                             given=f"{name}: first row {names[:6]}",
                             fix="add a first row with the column names, e.g. Incident Date,Category,Store No")
    out, seen = [], {}
    for i, label in enumerate(names):
        label = label or f"column_{i + 1}"
        seen[label] = seen.get(label, 0) + 1
        out.append(label if seen[label] == 1 else f"{label}.{seen[label]}")
    return out


def _looks_like_data(text: str) -> bool:
    return re.fullmatch(r"[-+\d./: ]*\d[-+\d./: ]*", text) is not None


class _SlowPath(Exception):
    """The fast parser met something it does not handle; use the careful one."""


def _parse_fast(body: bytes, header: list[str], spare: int, delimiter: str,
                encoding: str) -> tuple[pd.DataFrame, np.ndarray]:
    """Parse with Arrow's reader; any malformed or undecodable row means _SlowPath.

    ``spare`` blank header cells (trailing delimiters) are parsed as extra
    fields that must be blank in every row, and dropped.
    """
    if encoding.replace("-", "").replace("_", "").lower() not in ("utf8", "utf8sig"):
        try:
            body = body.decode(encoding).encode("utf-8")
        except (UnicodeDecodeError, UnicodeEncodeError):
            raise _SlowPath from None
    if body.count(b'"') % 2:
        raise _SlowPath  # an unclosed quote: Arrow would swallow the rest of the file into one field
    names = header + [f"\0spare{i}" for i in range(spare)]
    try:
        table = pacsv.read_csv(
            io.BytesIO(body),
            read_options=pacsv.ReadOptions(column_names=names, use_threads=True, block_size=16 << 20),
            parse_options=pacsv.ParseOptions(delimiter=delimiter, newlines_in_values=True),
            convert_options=pacsv.ConvertOptions(
                column_types={c: pa.string() for c in names}, null_values=[""],
                strings_can_be_null=True, quoted_strings_can_be_null=True,
            ),
        )
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError, OverflowError):
        raise _SlowPath from None
    if any(table[c].null_count < table.num_rows for c in names[len(header):]):
        raise _SlowPath  # values under the blank trailing headings: the careful parser rejects those rows
    table = table.select(header)
    frame = table.to_pandas(types_mapper={pa.string(): STRING, pa.large_string(): STRING}.get)
    return frame, np.arange(1, len(frame) + 1, dtype="int64")


def _parse_careful(body: bytes, header: list[str], delimiter: str, encoding: str):
    """Parse record by record with the csv module, rejecting undecodable and malformed rows.

    Fields beyond the header's are dropped when they are all blank (trailing delimiters).
    """
    good, numbers, bad = [], [], []
    for number, (record, _) in enumerate(_records(body), start=1):
        try:
            line = record.decode(encoding)
        except UnicodeDecodeError as exc:
            raw = record.decode(encoding, errors="backslashreplace")
            bad.append((number, "encoding_error", f"invalid {encoding} byte at position {exc.start}", raw))
            continue
        try:
            fields = next(csv.reader([line], delimiter=delimiter, strict=True))
        except (csv.Error, StopIteration) as exc:
            bad.append((number, "malformed_row", f"broken quoting: {exc}", line))
            continue
        if len(fields) > len(header) and not any(f.strip() for f in fields[len(header):]):
            fields = fields[:len(header)]
        if len(fields) != len(header):
            bad.append((number, "malformed_row", f"{len(fields)} fields where the header has {len(header)}", line))
            continue
        good.append(fields)
        numbers.append(number)
    return good, numbers, _rejects(bad)


def _rejects(bad: list[tuple]) -> pd.DataFrame:
    return make_rejects(*zip(*bad)) if bad else make_rejects([], [], [], [])


def _table_from_rows(header: list[str], rows: list[list], numbers: list[int], bad: pd.DataFrame) -> RawTable:
    columns = list(zip(*rows)) if rows else [() for _ in header]
    frame = pd.DataFrame({c: pd.array(list(v), dtype=STRING) for c, v in zip(header, columns)}, columns=header)
    frame = frame.replace("", pd.NA) if len(frame) else frame
    return _finish(frame, np.asarray(numbers, dtype="int64"), header, bad)


def _finish(frame: pd.DataFrame, numbers: np.ndarray, header: list[str], bad: pd.DataFrame) -> RawTable:
    """Drop rows whose every cell is blank and package the result."""
    if len(frame):
        blank = frame.apply(lambda col: col.isna() | (col.str.strip() == "")).all(axis=1).to_numpy(dtype=bool)
        if blank.any():
            frame, numbers = frame.loc[~blank], numbers[~blank]
    frame = frame.reset_index(drop=True).astype(STRING)
    return RawTable(frame, np.asarray(numbers, dtype="int64"), tuple(header), bad.reset_index(drop=True))


def rows_to_csv_text(frame: pd.DataFrame) -> list[str]:
    """Return each row of a string frame as one line of CSV text (minimal quoting, blank for NA)."""
    if frame.shape[1] == 0:
        return [""] * len(frame)
    line = None
    for column in frame.columns:
        text = frame[column].astype(STRING).fillna("").reset_index(drop=True)
        quote = text.str.contains('[",\r\n]', regex=True)
        text = text.where(~quote, '"' + text.str.replace('"', '""', regex=False) + '"')
        line = text if line is None else line + "," + text
    return line.tolist()


def table_to_csv_lines(table: pa.Table) -> list[str]:
    """Arrow twin of :func:`rows_to_csv_text`: each row as one CSV line (minimal quoting, blank for null)."""
    if table.num_columns == 0:
        return [""] * table.num_rows
    cells = []
    for column in table.columns:
        text = pc.fill_null(column.cast(pa.string()), "")
        quoted = pc.binary_join_element_wise('"', pc.replace_substring(text, '"', '""'), '"', "")
        cells.append(pc.if_else(pc.match_substring_regex(text, '[",\r\n]'), quoted, text))
    return pc.binary_join_element_wise(*cells, ",").to_pylist()
