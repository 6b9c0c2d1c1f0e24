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
on two threads by Arrow's CSV reader straight into dictionary-encoded columns
(a month, a force or a street name is decoded once per batch, not once per
row), validated on the distinct values, and the batches concatenated.  If any
batch holds a row Arrow cannot read (bad UTF-8, wrong number of fields, a
quoted field running over a cut), the whole file is read again record by
record with the csv module, which rejects just those rows.
"""

from __future__ import annotations

import csv
import datetime as dt
import re
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from harmmap.errors import SchemaError
from harmmap.geo.crs import bng_to_wgs84
from harmmap.geo.validate import classify_grid, classify_latlng
from harmmap.ingest.result import PieceReader, ReadResult, make_rejects
from harmmap.ingest.tables import table_to_csv_lines
from harmmap.schema import CRIME_TYPES, LEGACY_CRIME_TYPES, LONDON_TZ, REJECT_REASONS, SOURCE_POLICE_UK

CURRENT_COLUMNS = (
    "Crime ID", "Month", "Reported by", "Falls within", "Longitude", "Latitude",
    "Location", "LSOA code", "LSOA name", "Crime type", "Last outcome category", "Context",
)
OLDER_COLUMNS = ("Month", "Reported by", "Falls within", "Easting", "Northing", "Location", "Crime type", "Context")
_REQUIRED = {"current": ("Month", "Longitude", "Latitude", "Crime type"), "older": ("Month", "Easting", "Northing", "Crime type")}
_KNOWN_TYPES = sorted(set(CRIME_TYPES) | set(LEGACY_CRIME_TYPES))
_MONTH = r"^\d{4}-(0[1-9]|1[0-2])$"
BATCH_BYTES = 48 << 20  #: bytes of CSV per batch (about 200k rows)


class _SlowPath(Exception):
    """The fast parser met something it does not handle; use the careful one."""


@dataclass(frozen=True)
class _Part:
    """One batch read and validated; row numbers count from 1 within the batch."""

    incidents: pa.Table
    rejects: pd.DataFrame
    rows: int
    legacy: dict[str, int]  # rows accepted per older crime-type name
    quotes: int = 0  # double quotes in the batch's bytes (a cut must not fall inside a quoted field)
    legacy_by_file: dict[int, dict[str, int]] | None = None  # several files validated together


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
    part = _validate(pa.concat_tables(tagged), make_rejects([], [], [], []), layout, names)
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
        out.append(ReadResult(mine, bad, rows[k], partition_keys=_used_keys(mine["partition_key"]),
                              notes=_legacy_notes(legacy)))
    return out


def _legacy_notes(legacy: dict[str, int]) -> tuple[str, ...]:
    return tuple(f"{count} rows of the older category {value!r} mapped to {LEGACY_CRIME_TYPES[value]!r}"
                 for value, count in legacy.items())


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
        parts, quotes = [_validate(table, bad, layout, name)], body.count(b'"')
    return _merge(parts), quotes


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


def _cut_in_quotes(header_quotes: int, parts: list[_Part]) -> bool:
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


def _read_batch(piece: np.ndarray, header: list[str], layout: str, name: str) -> _Part:
    part = _validate(_parse_fast(piece, header), make_rejects([], [], [], []), layout, name)
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


_REASON_CODES = ("",) + tuple(REJECT_REASONS)


def _validate(table: pa.Table, bad: pd.DataFrame, layout: str, name: str | list[str]) -> _Part:
    """Validate parsed rows; with a ``file_index`` column (several files at once) ``name`` lists the files."""
    n = table.num_rows
    names = [name] if isinstance(name, str) else list(name)
    file_index = table["file_index"].to_numpy() if "file_index" in table.column_names else None
    reason = np.zeros(n, dtype="int8")  # index into _REASON_CODES; 0 = accepted
    month = _Encoded(table["Month"], str.strip)
    crime = _Encoded(table["Crime type"], str.strip)
    month_ok = month.test(lambda v: re.match(_MONTH, v) is not None)
    type_ok = crime.test(lambda v: v in _KNOWN_TYPES)
    lat, lng, easting, northing, location_reason = _locations(table, layout)
    _set_first(reason, ~month_ok, "bad_date")
    _set_first(reason, ~type_ok, "unknown_crime_type")
    for code in set(location_reason.tolist()) - {""}:
        _set_first(reason, location_reason == code, code)
    rejected = reason > 0

    def detail(i: int) -> str:
        code = _REASON_CODES[reason[i]]
        if code == "bad_date":
            return f"Month is not YYYY-MM: {month.text(i)!r}"
        if code == "unknown_crime_type":
            return f"unknown crime type {crime.text(i)!r}; known: {'; '.join(CRIME_TYPES)}"
        return REJECT_REASONS[code]

    rejects = _rejects_of(table, rejected, reason, detail, file_index)
    if len(bad):
        rejects = pd.concat([bad, rejects], ignore_index=True)
        rejects = rejects.sort_values("row_number", kind="stable").reset_index(drop=True)
    accepted = ~rejected
    canonical = _canonical(table, month, crime, lat, lng, easting, northing, accepted, names, file_index)
    incidents = _filter_columns(canonical, pa.array(accepted)) if rejected.any() else canonical
    legacy = _legacy_counts(crime, accepted)
    by_file = None if file_index is None else {
        k: _legacy_counts(crime, accepted & (file_index == k)) for k in (np.unique(file_index) if legacy else [])}
    return _Part(incidents, rejects, n + len(bad), legacy, legacy_by_file=by_file)


def _merge(parts: list[_Part]) -> ReadResult:
    """One ReadResult from batches in file order: row numbers continue from batch to batch."""
    tables, rejects, offset = [], [], 0
    for part in parts:
        table, bad = part.incidents, part.rejects
        if offset:
            index = table.schema.get_field_index("row_number")
            table = table.set_column(index, "row_number", pc.add(table["row_number"], offset))
            bad = bad.assign(row_number=bad["row_number"] + offset) if len(bad) else bad
        tables.append(table)
        rejects.append(bad)
        offset += part.rows
    incidents = tables[0] if len(tables) == 1 else pa.concat_tables(tables)
    rejected = rejects[0] if len(rejects) == 1 else pd.concat(rejects, ignore_index=True)
    legacy: dict[str, int] = {}
    for part in parts:
        for value, count in part.legacy.items():
            legacy[value] = legacy.get(value, 0) + count
    return ReadResult(incidents, rejected, offset, partition_keys=_used_keys(incidents["partition_key"]),
                      notes=_legacy_notes(legacy))


def _filter_columns(table: pa.Table, mask: pa.Array) -> pa.Table:
    """Filter column by column (Arrow's Table.filter is several times slower on chunked columns)."""
    return pa.table([table[name].filter(mask) for name in table.column_names], names=table.column_names)


def _used_keys(column: pa.ChunkedArray) -> tuple[str, ...]:
    if len(column) == 0:
        return ()
    array = column.combine_chunks()
    used = np.unique(array.indices.to_numpy(zero_copy_only=False))
    return tuple(sorted(array.dictionary.take(pa.array(used)).to_pylist()))


class _Encoded:
    """A low-cardinality text column as distinct values plus one code per row (-1 = blank)."""

    def __init__(self, column: pa.ChunkedArray, clean=lambda v: v):
        encoded = (column if pa.types.is_dictionary(column.type) else pc.dictionary_encode(column)).combine_chunks()
        self.values = [None if v is None else clean(v) for v in encoded.dictionary.to_pylist()]
        self.codes = encoded.indices.fill_null(-1).to_numpy(zero_copy_only=False).astype("int32")

    def test(self, check) -> np.ndarray:
        """Return ``check(value)`` per row (False for blanks)."""
        ok = np.array([v is not None and bool(check(v)) for v in self.values] + [False], dtype=bool)
        return ok[self.codes]

    def text(self, i: int) -> str:
        return "" if self.codes[i] < 0 else self.values[self.codes[i]]

    def recode(self, convert, type_: pa.DataType = pa.string()) -> pa.DictionaryArray:
        """Return a dictionary array of ``convert`` of each value (distinct values that convert alike merge)."""
        mapped = [None if v is None else convert(v) for v in self.values]
        distinct = list(dict.fromkeys(v for v in mapped if v is not None))
        slot = {v: i for i, v in enumerate(distinct)}
        lookup = np.array([-1 if v is None else slot[v] for v in mapped] + [-1], dtype="int32")
        codes = lookup[self.codes]
        return pa.DictionaryArray.from_arrays(pa.array(codes, mask=codes < 0), pa.array(distinct, type=type_))


def _set_first(reason: np.ndarray, mask: np.ndarray, code: str) -> None:
    """Give ``code`` to rows in ``mask`` that have no reason yet."""
    reason[mask & (reason == 0)] = _REASON_CODES.index(code)


def _to_float(column: pa.ChunkedArray) -> tuple[np.ndarray, np.ndarray]:
    """Return (values, blank): values NaN where the text is blank or not a number."""
    blank = column.is_null().to_numpy(zero_copy_only=False)
    try:
        values = pc.cast(column, pa.float64()).to_numpy(zero_copy_only=False)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        text = pd.Series(column.to_pylist(), dtype="object").str.strip()
        values = pd.to_numeric(text, errors="coerce").to_numpy(dtype="float64", na_value=np.nan)
    return np.asarray(values, dtype="float64"), np.asarray(blank, dtype=bool)


def _locations(table: pa.Table, layout: str):
    x_col, y_col = ("Longitude", "Latitude") if layout == "current" else ("Easting", "Northing")
    x, x_blank = _to_float(table[x_col])
    y, y_blank = _to_float(table[y_col])
    garbage = (np.isnan(x) & ~x_blank) | (np.isnan(y) & ~y_blank)
    if layout == "current":
        reason = classify_latlng(y, x)
        reason[garbage] = "bad_coordinates"
        nan = np.full(len(x), np.nan)
        return y, x, nan, nan.copy(), reason
    reason = classify_grid(x, y)
    reason[garbage] = "bad_coordinates"
    ok = reason == ""
    lat, lng = bng_to_wgs84(np.where(ok, x, 0.0), np.where(ok, y, 0.0))
    latlng_reason = classify_latlng(lat, lng)
    reason = np.where(ok & (latlng_reason != ""), latlng_reason, reason)
    return lat, lng, x, y, reason


def _rejects_of(table: pa.Table, rejected: np.ndarray, reason: np.ndarray, detail,
                file_index: np.ndarray | None = None) -> pd.DataFrame:
    """Rejects of ``table``; with ``file_index``, an extra ``file_index`` column says whose."""
    if not rejected.any():
        empty = make_rejects([], [], [], [])
        return empty if file_index is None else empty.assign(file_index=np.zeros(0, dtype="int32"))
    rows_idx = np.flatnonzero(rejected)
    rows = _filter_columns(table, pa.array(rejected))  # take() on chunked columns copies them whole
    raw = table_to_csv_lines(rows.select([c for c in rows.column_names if c not in ("row_number", "file_index")]))
    codes = np.asarray(_REASON_CODES, dtype=object)[reason[rows_idx]]
    details = [detail(i) for i in rows_idx] if len(rows_idx) < 10_000 else _details(codes, rows_idx, detail)
    rejects = make_rejects(rows["row_number"].to_numpy(), codes, details, raw)
    return rejects if file_index is None else rejects.assign(file_index=file_index[rows_idx])


def _details(codes: np.ndarray, rows_idx: np.ndarray, detail) -> list[str]:
    """Details for many rejects: location reasons share one text each, others are per row."""
    out = pd.Series(codes).map(REJECT_REASONS).to_numpy(dtype=object)
    special = np.flatnonzero(np.isin(codes, ["bad_date", "unknown_crime_type"]))
    for k in special:
        out[k] = detail(rows_idx[k])
    return out.tolist()


def _force_from_name(name: str) -> str:
    found = re.search(r"\d{4}-\d{2}-([a-z0-9-]+?)-street\.csv", name, re.I)
    return found.group(1).lower() if found else "unknown-force"


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def _text(table: pa.Table, column: str, encode: bool = True) -> pa.ChunkedArray:
    """An optional text column (blank = null), dictionary-encoded unless ``encode`` is False."""
    if column not in table.column_names:
        return pa.chunked_array([pa.nulls(table.num_rows, pa.string())])
    values = table[column]
    if not encode:
        return values.cast(pa.string()) if pa.types.is_dictionary(values.type) else values
    return values if pa.types.is_dictionary(values.type) else pc.dictionary_encode(values)


def _partition_keys(table: pa.Table, month: _Encoded, accepted: np.ndarray, names: list[str],
                    file_index: np.ndarray | None) -> pa.DictionaryArray:
    """``police_uk/<force>/<YYYY-MM>`` per row, built once per distinct (file, force, month).

    The force is the ``Reported by`` value, or else taken from the file name.
    """
    force = _Encoded(table["Reported by"]) if "Reported by" in table.column_names else None
    force_codes = force.codes if force else np.full(table.num_rows, -1, dtype="int32")
    files = np.zeros(table.num_rows, dtype="int64") if file_index is None else file_index.astype("int64")
    forces, months = (len(force.values) if force else 0) + 1, len(month.values) + 1
    combined = (files * forces + force_codes.astype("int64") + 1) * months + month.codes + 1
    combined = np.where(accepted, combined, -1)
    codes, uniques = pd.factorize(combined)
    labels = []
    for value in uniques:
        rest, m = divmod(int(value), months)
        k, f = divmod(rest, forces)
        force_name = force.values[f - 1] if force and f > 0 and force.values[f - 1] else _force_from_name(names[k])
        labels.append(f"police_uk/{_slug(force_name)}/{month.values[m - 1] if m > 0 else ''}")
    distinct, slot = np.unique(np.asarray(labels, dtype=object), return_inverse=True) if labels else ([], [])
    codes = np.asarray(slot, dtype="int32")[codes.ravel()] if len(labels) else codes.ravel().astype("int32")
    return pa.DictionaryArray.from_arrays(pa.array(codes, pa.int32()), pa.array(list(distinct), pa.string()))


def _constant(value: str, n: int) -> pa.DictionaryArray:
    return pa.DictionaryArray.from_arrays(pa.array(np.zeros(n, dtype="int32")), pa.array([value], pa.string()))


def _canonical(table, month: _Encoded, crime: _Encoded, lat, lng, easting, northing, accepted, names,
               file_index=None) -> pa.Table:
    n = table.num_rows
    extra = {} if file_index is None else {"file_index": pa.array(file_index, pa.int32())}
    canonical_type = lambda v: LEGACY_CRIME_TYPES.get(v, v)
    month_start = month.recode(lambda v: dt.date(int(v[:4]), int(v[5:7]), 1) if re.match(_MONTH, v) else None,
                               pa.date32())
    start_of_month = pc.assume_timezone(pc.cast(month_start.dictionary, pa.timestamp("s")), LONDON_TZ)
    nulls = pa.nulls(n, pa.string())
    return pa.table(
        {
            "source": _constant(SOURCE_POLICE_UK, n),
            "source_ref": _text(table, "Crime ID", encode=False),
            "police_ref": nulls,
            "month": month_start.cast(pa.date32()),
            "occurred_at": start_of_month.take(month_start.indices),  # the month's first instant, per distinct month
            "time_precision": _constant("month", n),
            "crime_type": crime.recode(canonical_type),
            "offence": crime.recode(lambda v: _slug(canonical_type(v)).replace("-", "_")),
            "lat": lat, "lng": lng, "easting": easting, "northing": northing,
            "location_text": _text(table, "Location"),
            "lsoa_code": _text(table, "LSOA code"),
            "outcome": _text(table, "Last outcome category"),
            "store_id": nulls, "org_id": nulls,
            "value_gbp": pa.nulls(n, pa.float64()),
            "injury": pa.nulls(n, pa.bool_()), "weapon": pa.nulls(n, pa.bool_()),
            "row_number": table["row_number"],
            "partition_key": _partition_keys(table, month, accepted, names, file_index),
        } | extra
    )


def _legacy_counts(crime: _Encoded, accepted: np.ndarray) -> dict[str, int]:
    """Accepted rows per older crime-type name that is mapped to a current one."""
    counts = np.bincount(crime.codes[accepted & (crime.codes >= 0)], minlength=len(crime.values))
    return {value: int(count) for value, count in zip(crime.values, counts)
            if count and value is not None and LEGACY_CRIME_TYPES.get(value, value) != value}


#: Read big police.uk files in pieces (see :mod:`harmmap.ingest.prepare`).
POLICE_UK_PIECES = PieceReader(split_police_uk, read_police_uk_piece, pieces_cut_cleanly, read_police_uk_files)
