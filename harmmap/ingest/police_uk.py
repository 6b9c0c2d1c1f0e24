"""Read police.uk street-level crime CSVs into canonical incidents plus rejects.

Two layouts are recognised by their header:

* current (2013-): ``Crime ID, Month, Reported by, Falls within, Longitude,
  Latitude, Location, LSOA code, LSOA name, Crime type, Last outcome category,
  Context``;
* older (2010-2013): ``Month, Reported by, Falls within, Easting, Northing,
  Location, Crime type, Context`` (British National Grid metres, no Crime ID).

Checks, in order (the first failing one is the row's reason): the row must
decode as UTF-8 (``encoding_error``) and have the header's number of fields
(``malformed_row``); ``Month`` must be ``YYYY-MM`` (``bad_date``); ``Crime
type`` must be one of police.uk's categories (``unknown_crime_type``); the
location must be present and in the UK (``no_location``, ``zero_coordinates``,
``lat_lng_swapped``, ``grid_as_degrees``, ``bad_coordinates``,
``outside_uk``).  Rows that are otherwise identical are all kept: police.uk
publishes one row per crime or anti-social-behaviour report.

Speed: a file is cut at line ends into batches of about ``BATCH_BYTES``, read
on two threads by Arrow's CSV reader as raw bytes (no per-value UTF-8 check or
hashing: ASCII data, which police.uk files are, is viewed as text as it is),
validated on the distinct values of each column (a month, a force or a crime
type is checked once per batch, not once per row), and the batches
concatenated.  If any batch holds a row Arrow cannot read (bad UTF-8, wrong
number of fields, a quoted field running over a cut), the whole file is read
again record by record with the csv module, which rejects just those rows.
:func:`read_police_uk_files` validates many small files as one table, and
:data:`POLICE_UK_PIECES` lets the ingest read a big file in pieces
(:mod:`harmmap.ingest.prepare`).
"""

from __future__ import annotations

import csv
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv

from harmmap.errors import SchemaError
from harmmap.ingest.police_rows import Part, legacy_notes, merge_parts, used_keys, validate_rows
from harmmap.ingest.result import PieceReader, ReadResult, make_rejects

CURRENT_COLUMNS = (
    "Crime ID", "Month", "Reported by", "Falls within", "Longitude", "Latitude",
    "Location", "LSOA code", "LSOA name", "Crime type", "Last outcome category", "Context",
)
OLDER_COLUMNS = ("Month", "Reported by", "Falls within", "Easting", "Northing", "Location", "Crime type", "Context")
_REQUIRED = {"current": ("Month", "Longitude", "Latitude", "Crime type"), "older": ("Month", "Easting", "Northing", "Crime type")}
BATCH_BYTES = 48 << 20  #: bytes of CSV per batch (about 200k rows)


class _SlowPath(Exception):
    """The fast parser met something it does not handle; use the careful one."""


def read_police_uk(data: bytes, name: str = "<bytes>") -> ReadResult:
    """Read one police.uk street-level CSV.

    Parameters
    ----------
    data : bytes-like
        The decompressed file content (``bytes``, ``mmap`` or ``memoryview``).
    name : str
        File name, used in messages and to find the force when the file has no
        ``Reported by`` column.

    Returns
    -------
    ReadResult
        Accepted incidents (canonical columns plus ``partition_key``,
        ``police_uk/<force>/<YYYY-MM>``) and rejects with reasons.

    Raises
    ------
    SchemaError
        When the header is not a police.uk layout.
    """
    view, header_end, header, layout = _open(data, name)
    return _read_span(view, header_end, header, layout, name, header_end, len(view))[0]


def read_police_uk_files(items: list[tuple[object, str]]) -> list[ReadResult]:
    """Read several small police.uk CSVs, validated together; the same results as reading each alone.

    police.uk publishes one file per force and month: a national download is
    ~1,500 files of a few thousand rows, where validating file by file spends
    more time in the fixed cost of each step than on the rows.  Files with the
    same header are parsed one by one and validated as one table (with a file
    index); a file the fast parser cannot take, or a big one, is read alone.

    Parameters
    ----------
    items : list of (bytes-like, str)
        Each file's content and name, as for :func:`read_police_uk`.
    """
    opened = [_open(data, name) for data, name in items]  # a file that is not police.uk raises here
    results: list[ReadResult | None] = [None] * len(items)
    together: dict[tuple, list[tuple[int, pa.Table]]] = {}
    for i, (view, header_end, header, layout) in enumerate(opened):
        alone = len(view) - header_end > BATCH_BYTES or bytes(view[:header_end]).count(b'"') % 2
        try:
            if not alone:
                table = _parse_fast(view[header_end:], header)
                together.setdefault((tuple(header), layout), []).append((i, table))
                continue
        except _SlowPath:
            pass
        results[i] = _read_span(view, header_end, header, layout, items[i][1], header_end, len(view))[0]
    for (header, layout), parsed in together.items():
        for i, result in zip([i for i, _ in parsed], _validate_files(parsed, layout, [items[i][1] for i, _ in parsed])):
            results[i] = result
    return results


def _validate_files(parsed: list[tuple[int, pa.Table]], layout: str, names: list[str]) -> list[ReadResult]:
    """Validate parsed files as one table and split the outcome back into one result per file."""
    rows = [table.num_rows for _, table in parsed]
    tagged = [table.append_column("file_index", pa.array(np.full(table.num_rows, k, dtype="int32")))
              for k, (_, table) in enumerate(parsed)]
    part = validate_rows(pa.concat_tables(tagged), make_rejects([], [], [], []), layout, names)
    index = part.incidents["file_index"].to_numpy()
    incidents = part.incidents.drop_columns(["file_index"])
    starts = np.searchsorted(index, np.arange(len(parsed) + 1))  # rows stay in file order
    reject_file = part.rejects["file_index"].to_numpy()
    rejects = part.rejects.drop(columns="file_index")
    out = []
    for k in range(len(parsed)):
        mine = incidents.slice(starts[k], starts[k + 1] - starts[k])
        bad = rejects[reject_file == k].reset_index(drop=True)
        legacy = (part.legacy_by_file or {}).get(k, {})
        out.append(ReadResult(mine, bad, rows[k], partition_keys=used_keys(mine["partition_key"]),
                              notes=legacy_notes(legacy)))
    return out


@dataclass(frozen=True)
class Piece:
    """A piece of a big file read on its own; ``quotes`` lets the caller check the cuts."""

    result: ReadResult
    quotes: int


def split_police_uk(data, piece_bytes: int) -> list[tuple[int, int]]:
    """Cut a police.uk CSV's rows into spans of about ``piece_bytes`` at line ends.

    Read each span with :func:`read_police_uk_piece`; rows are numbered from 1
    within a span.  A cut falling inside a quoted field (which Arrow would
    misread) shows as an odd number of quotes before it:
    :func:`pieces_cut_cleanly` tells, and the file must then be read whole.
    """
    view = _open(data, "<split>", check=False)[0]
    bounds = _batch_bounds(view, _line_end(view, 0), piece_bytes)
    return list(zip(bounds[:-1], bounds[1:]))


def read_police_uk_piece(data, name: str, span: tuple[int, int]) -> Piece:
    """Read the rows in ``span`` (from :func:`split_police_uk`) of a police.uk CSV."""
    view, header_end, header, layout = _open(data, name)
    return Piece(*_read_span(view, header_end, header, layout, name, *span))


def pieces_cut_cleanly(data, pieces: list[Piece]) -> bool:
    """True when no cut between pieces falls inside a quoted field."""
    view = _open(data, "<split>", check=False)[0]
    header_quotes = bytes(view[:_line_end(view, 0)]).count(b'"')
    return not (np.cumsum([header_quotes] + [p.quotes for p in pieces])[:-1] % 2).any()


def _open(data, name: str, check: bool = True):
    """(view without BOM, header end, header names, layout) of a police.uk CSV."""
    view = np.frombuffer(data, dtype=np.uint8)
    if len(view) >= 3 and bytes(view[:3]) == b"\xef\xbb\xbf":
        view = view[3:]
    header_end = _line_end(view, 0)
    if not check:
        return view, header_end, None, None
    header = _read_header(bytes(view[:header_end]), name)
    return view, header_end, header, _detect_layout(header, name)


def _read_span(view: np.ndarray, header_end: int, header: list[str], layout: str, name: str,
               start: int, end: int) -> tuple[ReadResult, int]:
    """Read rows ``view[start:end]`` in batches on two threads; return the result and its quote count."""
    header_quotes = bytes(view[:header_end]).count(b'"')
    bounds = _batch_bounds(view[:end], start, BATCH_BYTES)
    pieces = [view[a:b] for a, b in zip(bounds[:-1], bounds[1:])]
    try:
        if len(pieces) == 1:
            parts = [_read_batch(pieces[0], header, layout, name)]
        else:
            with ThreadPoolExecutor(max_workers=2) as pool:
                parts = list(pool.map(lambda piece: _read_batch(piece, header, layout, name), pieces))
        if _cut_in_quotes(header_quotes, parts):
            raise _SlowPath
        quotes = sum(part.quotes for part in parts)
    except _SlowPath:
        body = bytes(view[start:end])
        table, bad = _parse_careful(body, header)
        parts, quotes = [validate_rows(table, bad, layout, name)], body.count(b'"')
    return merge_parts(parts), quotes


def _line_end(view: np.ndarray, start: int) -> int:
    """Offset just after the first newline at or after ``start`` (the end of the data if none)."""
    step = 1 << 16
    while start < len(view):
        hits = np.flatnonzero(view[start:start + step] == 10)
        if len(hits):
            return start + int(hits[0]) + 1
        start, step = start + step, step * 2
    return len(view)


def _batch_bounds(view: np.ndarray, start: int, size: int) -> list[int]:
    """Offsets cutting ``view[start:]`` at line ends into pieces of about ``size`` bytes."""
    bounds = [start]
    while len(view) - bounds[-1] > size * 3 // 2:
        bounds.append(_line_end(view, bounds[-1] + size))
    return bounds + [len(view)] if bounds[-1] < len(view) or len(bounds) == 1 else bounds


def _cut_in_quotes(header_quotes: int, parts: list[Part]) -> bool:
    """True if the header line or a cut between batches ends inside a quoted field (odd quotes before it)."""
    return bool((np.cumsum([header_quotes] + [part.quotes for part in parts])[:-1] % 2).any())


def _read_header(first_line: bytes, name: str) -> list[str]:
    first = first_line.rstrip(b"\r\n")
    if not first.strip():
        raise SchemaError("file is empty or has no header line", given=name, fix="use a police.uk street-level CSV")
    try:
        text = first.decode("utf-8")
    except UnicodeDecodeError:
        raise SchemaError("header is not UTF-8 text", given=name, fix="use a police.uk street-level CSV") from None
    return [col.strip() for col in next(csv.reader([text]))]


def _detect_layout(header: list[str], name: str) -> str:
    layout = "older" if "Easting" in header and "Longitude" not in header else "current"
    missing = [c for c in _REQUIRED[layout] if c not in header]
    if missing or len(set(header)) != len(header):
        raise SchemaError(
            f"not a police.uk street-level CSV: missing column(s) {missing}" if missing
            else "not a police.uk street-level CSV: duplicate column names",
            given=f"{name} with columns {header}",
            fix=f"police.uk files have the header {', '.join(CURRENT_COLUMNS)}",
        )
    return layout


def _parse_fast(piece: np.ndarray, header: list[str]) -> pa.Table:
    """Parse one batch with Arrow's reader; any malformed or undecodable row means _SlowPath.

    Fields are read as raw bytes (Arrow's text conversion validates UTF-8 value
    by value, and its dictionary conversion hashes every value: together most
    of the parse time).  Pure ASCII, which police.uk files are, is valid UTF-8,
    so the bytes are then viewed as text as they are; other bytes are checked
    column by column.
    """
    try:
        table = pacsv.read_csv(
            pa.BufferReader(pa.py_buffer(piece)),
            read_options=pacsv.ReadOptions(column_names=header, use_threads=False,
                                           block_size=max(len(piece) + 1, 1 << 20)),
            convert_options=pacsv.ConvertOptions(column_types={col: pa.binary() for col in header},
                                                 strings_can_be_null=True),
        )
        ascii_only = len(piece) == 0 or int(piece.max()) < 128
        table = pa.table([_as_text(table[name], ascii_only) for name in header], names=header)
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        raise _SlowPath from None
    rows = pa.array(np.arange(1, table.num_rows + 1, dtype="int64"))
    return table.append_column("row_number", rows)


def _as_text(column: pa.ChunkedArray, ascii_only: bool) -> pa.ChunkedArray:
    """Binary fields as UTF-8 text: a zero-copy view for ASCII, else a validating cast (ArrowInvalid if bad)."""
    if ascii_only:
        return pa.chunked_array([chunk.view(pa.string()) for chunk in column.chunks], pa.string())
    return column.cast(pa.string())


def _read_batch(piece: np.ndarray, header: list[str], layout: str, name: str) -> Part:
    part = validate_rows(_parse_fast(piece, header), make_rejects([], [], [], []), layout, name)
    return replace(part, quotes=int(np.count_nonzero(piece == 34)))


def _parse_careful(body: bytes, header: list[str]) -> tuple[pa.Table, pd.DataFrame]:
    """Parse record by record with the csv module, rejecting undecodable and malformed rows."""
    good: list[list[str]] = []
    numbers: list[int] = []
    bad_rows: list[tuple[int, str, str, str]] = []
    record = 0
    for line_bytes in _records(body):
        if not line_bytes.strip(b"\r\n"):
            continue
        record += 1
        try:
            line = line_bytes.decode("utf-8")
        except UnicodeDecodeError as exc:
            raw = line_bytes.decode("utf-8", errors="backslashreplace").rstrip("\r\n")
            bad_rows.append((record, "encoding_error", f"invalid UTF-8 byte at position {exc.start}", raw))
            continue
        try:
            fields = next(csv.reader([line.rstrip("\r\n")], strict=True))
        except csv.Error as exc:
            bad_rows.append((record, "malformed_row", f"broken quoting: {exc}", line.rstrip("\r\n")))
            continue
        if len(fields) != len(header):
            detail = f"{len(fields)} fields where the header has {len(header)}"
            bad_rows.append((record, "malformed_row", detail, line.rstrip("\r\n")))
            continue
        good.append(fields)
        numbers.append(record)
    columns = list(zip(*good)) if good else [() for _ in header]
    table = pa.table({col: pa.array([v if v != "" else None for v in values], type=pa.string())
                      for col, values in zip(header, columns)})
    table = table.append_column("row_number", pa.array(numbers, type=pa.int64()))
    rejects = make_rejects(*zip(*bad_rows)) if bad_rows else make_rejects([], [], [], [])
    return table, rejects


def _records(body: bytes):
    """Yield the byte records of a CSV body (no header), keeping quoted newlines inside one record."""
    lines = body.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    pending = b""
    for line in lines:
        pending = pending + b"\n" + line if pending else line
        if pending.count(b'"') % 2 == 0:
            yield pending
            pending = b""
    if pending:
        yield pending


#: Read big police.uk files in pieces (see :mod:`harmmap.ingest.prepare`).
POLICE_UK_PIECES = PieceReader(split_police_uk, read_police_uk_piece, pieces_cut_cleanly, read_police_uk_files)
