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
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from harmmap.errors import SchemaError
from harmmap.geo.crs import bng_to_wgs84
from harmmap.geo.validate import classify_grid, classify_latlng
from harmmap.ingest.result import ReadResult, make_rejects
from harmmap.schema import CRIME_TYPES, LEGACY_CRIME_TYPES, LONDON_TZ, REJECT_REASONS, SOURCE_POLICE_UK

CURRENT_COLUMNS = (
    "Crime ID", "Month", "Reported by", "Falls within", "Longitude", "Latitude",
    "Location", "LSOA code", "LSOA name", "Crime type", "Last outcome category", "Context",
)
OLDER_COLUMNS = ("Month", "Reported by", "Falls within", "Easting", "Northing", "Location", "Crime type", "Context")
_REQUIRED = {"current": ("Month", "Longitude", "Latitude", "Crime type"), "older": ("Month", "Easting", "Northing", "Crime type")}
_KNOWN_TYPES = sorted(set(CRIME_TYPES) | set(LEGACY_CRIME_TYPES))
_MONTH = r"^\d{4}-(0[1-9]|1[0-2])$"


class _SlowPath(Exception):
    """The fast parser met something it does not handle; use the careful one."""


def read_police_uk(data: bytes, name: str = "<bytes>") -> ReadResult:
    """Read one police.uk street-level CSV.

    Parameters
    ----------
    data : bytes
        The decompressed file content.
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
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    header = _read_header(data, name)
    layout = _detect_layout(header, name)
    try:
        table, bad = _parse_fast(data, header, layout)
    except _SlowPath:
        table, bad = _parse_careful(data, header, layout)
    return _validate(table, bad, layout, name)


def _read_header(data: bytes, name: str) -> list[str]:
    first = data.split(b"\n", 1)[0].rstrip(b"\r")
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


def _string_types(header: list[str]) -> dict[str, pa.DataType]:
    return {col: pa.string() for col in header}


def _parse_fast(data: bytes, header: list[str], layout: str) -> tuple[pa.Table, pd.DataFrame]:
    """Parse with Arrow's multi-threaded reader; any malformed or undecodable row means _SlowPath."""
    try:
        table = pacsv.read_csv(
            io.BytesIO(data),
            read_options=pacsv.ReadOptions(column_names=header, skip_rows=1, use_threads=True, block_size=16 << 20),
            convert_options=pacsv.ConvertOptions(
                column_types=_string_types(header), strings_can_be_null=False, quoted_strings_can_be_null=False
            ),
        )
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        raise _SlowPath from None
    rows = pa.array(np.arange(1, table.num_rows + 1, dtype="int64"))
    return table.append_column("row_number", rows), make_rejects([], [], [], [])


def _parse_careful(data: bytes, header: list[str], layout: str) -> tuple[pa.Table, pd.DataFrame]:
    """Parse record by record with the csv module, rejecting undecodable and malformed rows."""
    good: list[list[str]] = []
    numbers: list[int] = []
    bad_rows: list[tuple[int, str, str, str]] = []
    record = 0
    for line_bytes in _records(data):
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
    table = pa.table({col: pa.array(list(values), type=pa.string()) for col, values in zip(header, columns)})
    table = table.append_column("row_number", pa.array(numbers, type=pa.int64()))
    rejects = make_rejects(*zip(*bad_rows)) if bad_rows else make_rejects([], [], [], [])
    return table, rejects


def _records(data: bytes):
    """Yield the byte records of a CSV, keeping quoted newlines inside one record."""
    lines = data.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    pending = b""
    for line in lines[1:]:
        pending = pending + b"\n" + line if pending else line
        if pending.count(b'"') % 2 == 0:
            yield pending
            pending = b""
    if pending:
        yield pending


def _validate(table: pa.Table, bad: pd.DataFrame, layout: str, name: str) -> ReadResult:
    n = table.num_rows
    reason = np.full(n, "", dtype=object)
    detail = np.full(n, "", dtype=object)
    month_text, month_ok = _lookup(table["Month"], lambda v: re.match(_MONTH, v.strip()) is not None)
    type_text, type_ok = _lookup(table["Crime type"], lambda v: v.strip() in _KNOWN_TYPES)
    lat, lng, easting, northing, location_reason = _locations(table, layout)
    _set_first(reason, detail, ~month_ok, "bad_date", lambda i: f"Month is not YYYY-MM: {month_text[i]!r}")
    _set_first(
        reason, detail, ~type_ok, "unknown_crime_type",
        lambda i: f"unknown crime type {type_text[i]!r}; known: {'; '.join(CRIME_TYPES)}",
    )
    _set_first(reason, detail, location_reason != "", location_reason, lambda i: REJECT_REASONS[location_reason[i]])
    rejected = reason != ""
    rejects = pd.concat([bad, _rejects_of(table, rejected, reason, detail)], ignore_index=True)
    rejects = rejects.sort_values("row_number", kind="stable").reset_index(drop=True)
    keep = pa.array(~rejected)
    incidents = _canonical(table.filter(keep), lat[~rejected], lng[~rejected],
                           easting[~rejected], northing[~rejected], name)
    notes = _legacy_notes(table.filter(keep)["Crime type"])
    keys = tuple(sorted(set(pc.unique(incidents["partition_key"]).to_pylist())))
    return ReadResult(incidents, rejects, n + len(bad), partition_keys=keys, notes=notes)


def _lookup(column: pa.ChunkedArray, check) -> tuple[list[str], np.ndarray]:
    """Check a low-cardinality column once per distinct value; return (text per row, ok per row)."""
    encoded = pc.dictionary_encode(column).combine_chunks()
    values = encoded.dictionary.to_pylist()
    ok_values = np.array([check(v) for v in values], dtype=bool)
    indices = encoded.indices.to_numpy(zero_copy_only=False)
    return _LazyText(values, indices), ok_values[indices] if len(values) else np.zeros(0, dtype=bool)


class _LazyText:
    """Row text looked up from a dictionary only for the (few) rows that need it."""

    def __init__(self, values: list[str], indices: np.ndarray):
        self.values, self.indices = values, indices

    def __getitem__(self, i: int) -> str:
        return self.values[self.indices[i]]


def _set_first(reason: np.ndarray, detail: np.ndarray, mask: np.ndarray, code, text_of) -> None:
    """Give ``code`` to rows in ``mask`` that have no reason yet, with ``text_of(row)`` as detail."""
    rows = np.flatnonzero(mask & (reason == ""))
    reason[rows] = code[rows] if isinstance(code, np.ndarray) else code
    detail[rows] = [text_of(i) for i in rows]


def _to_float(column: pa.ChunkedArray) -> tuple[np.ndarray, np.ndarray]:
    """Return (values, blank): values NaN where the text is blank or not a number."""
    text = pc.utf8_trim_whitespace(column)
    blank = pc.equal(text, "").to_numpy(zero_copy_only=False)
    nullable = pc.if_else(pc.equal(text, ""), pa.scalar(None, pa.string()), text)
    try:
        values = pc.cast(nullable, pa.float64()).to_numpy(zero_copy_only=False)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        values = pd.to_numeric(pd.Series(nullable.to_pylist(), dtype="object"), errors="coerce").to_numpy(
            dtype="float64", na_value=np.nan
        )
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


def _rejects_of(table: pa.Table, rejected: np.ndarray, reason: np.ndarray, detail: np.ndarray) -> pd.DataFrame:
    if not rejected.any():
        return make_rejects([], [], [], [])
    rows = table.filter(pa.array(rejected))
    data_cols = [c for c in rows.column_names if c != "row_number"]
    raw = []
    for values in zip(*(rows[c].to_pylist() for c in data_cols)):
        buffer = io.StringIO()
        csv.writer(buffer, lineterminator="").writerow(values)
        raw.append(buffer.getvalue())
    return make_rejects(rows["row_number"].to_numpy(), reason[rejected], detail[rejected], raw)


def _force_from_name(name: str) -> str:
    found = re.search(r"\d{4}-\d{2}-([a-z0-9-]+?)-street\.csv", name, re.I)
    return found.group(1).lower() if found else "unknown-force"


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def _optional(table: pa.Table, column: str) -> pa.Array:
    if column not in table.column_names:
        return pa.nulls(table.num_rows, pa.string())
    text = pc.utf8_trim_whitespace(table[column]).combine_chunks()
    return pc.if_else(pc.equal(text, ""), pa.scalar(None, pa.string()), text)


def _recode(column: pa.ChunkedArray, convert, type_: pa.DataType = pa.string()) -> pa.Array:
    """Apply ``convert`` to each distinct value of a low-cardinality column."""
    encoded = pc.dictionary_encode(pc.utf8_trim_whitespace(column)).combine_chunks()
    mapped = pa.array([convert(v) for v in encoded.dictionary.to_pylist()], type=type_)
    return mapped.take(encoded.indices)


def _canonical(table: pa.Table, lat, lng, easting, northing, name: str) -> pa.Table:
    n = table.num_rows
    month = _recode(table["Month"], lambda v: dt.date(int(v[:4]), int(v[5:7]), 1), pa.date32())
    crime_type = _recode(table["Crime type"], lambda v: LEGACY_CRIME_TYPES.get(v, v))
    offence = _recode(table["Crime type"], lambda v: _slug(LEGACY_CRIME_TYPES.get(v, v)).replace("-", "_"))
    occurred = pc.assume_timezone(pc.cast(month, pa.timestamp("s")), LONDON_TZ)
    reported = pc.fill_null(_optional(table, "Reported by"), _force_from_name(name))
    force = _recode(pa.chunked_array([reported], pa.string()), _slug)
    month_text = _recode(table["Month"], str.strip)
    key = pc.binary_join_element_wise(pa.array(["police_uk"] * n, pa.string()), force, month_text, "/")
    nulls = pa.nulls(n, pa.string())
    return pa.table(
        {
            "source": pa.array(np.full(n, SOURCE_POLICE_UK, dtype=object), pa.string()),
            "source_ref": _optional(table, "Crime ID"),
            "police_ref": nulls,
            "month": month,
            "occurred_at": occurred,
            "time_precision": pa.array(np.full(n, "month", dtype=object), pa.string()),
            "crime_type": crime_type,
            "offence": offence,
            "lat": lat, "lng": lng, "easting": easting, "northing": northing,
            "location_text": _optional(table, "Location"),
            "lsoa_code": _optional(table, "LSOA code"),
            "outcome": _optional(table, "Last outcome category"),
            "store_id": nulls, "org_id": nulls,
            "value_gbp": pa.nulls(n, pa.float64()),
            "injury": pa.nulls(n, pa.bool_()), "weapon": pa.nulls(n, pa.bool_()),
            "row_number": table["row_number"],
            "partition_key": key,
        }
    )


def _legacy_notes(crime_type: pa.ChunkedArray) -> tuple[str, ...]:
    counts = pc.value_counts(pc.utf8_trim_whitespace(crime_type)).to_pylist()
    return tuple(
        f"{c['counts']} rows of the older category {c['values']!r} mapped to {LEGACY_CRIME_TYPES[c['values']]!r}"
        for c in counts
        if LEGACY_CRIME_TYPES.get(c["values"], c["values"]) != c["values"]
    )
