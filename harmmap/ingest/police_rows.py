"""Validate parsed police.uk rows into canonical incidents plus rejects (see :mod:`harmmap.ingest.police_uk`).

A parsed batch is a table of text columns named as in the file's header plus
``row_number`` (and ``file_index`` when several files are validated
together).  Checks run on the distinct values of each column: a month, a
force or a crime type is checked once per batch, not once per row.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from harmmap.geo.crs import bng_to_wgs84
from harmmap.geo.validate import classify_grid, classify_latlng
from harmmap.ingest.result import ReadResult, make_rejects
from harmmap.ingest.tables import table_to_csv_lines
from harmmap.schema import CRIME_TYPES, LEGACY_CRIME_TYPES, LONDON_TZ, REJECT_REASONS, SOURCE_POLICE_UK

_KNOWN_TYPES = sorted(set(CRIME_TYPES) | set(LEGACY_CRIME_TYPES))
_MONTH = r"^\d{4}-(0[1-9]|1[0-2])$"


@dataclass(frozen=True)
class Part:
    """One batch read and validated; row numbers count from 1 within the batch."""

    incidents: pa.Table
    rejects: pd.DataFrame
    rows: int
    legacy: dict[str, int]  # rows accepted per older crime-type name
    quotes: int = 0  # double quotes in the batch's bytes (a cut must not fall inside a quoted field)
    legacy_by_file: dict[int, dict[str, int]] | None = None  # several files validated together


_REASON_CODES = ("",) + tuple(REJECT_REASONS)


def validate_rows(table: pa.Table, bad: pd.DataFrame, layout: str, name: str | list[str]) -> Part:
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
    return Part(incidents, rejects, n + len(bad), legacy, legacy_by_file=by_file)


def merge_parts(parts: list[Part]) -> ReadResult:
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
    return ReadResult(incidents, rejected, offset, partition_keys=used_keys(incidents["partition_key"]),
                      notes=legacy_notes(legacy))


def _filter_columns(table: pa.Table, mask: pa.Array) -> pa.Table:
    """Filter column by column (Arrow's Table.filter is several times slower on chunked columns)."""
    return pa.table([table[name].filter(mask) for name in table.column_names], names=table.column_names)


def used_keys(column: pa.ChunkedArray) -> tuple[str, ...]:
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



def legacy_notes(legacy: dict[str, int]) -> tuple[str, ...]:
    return tuple(f"{count} rows of the older category {value!r} mapped to {LEGACY_CRIME_TYPES[value]!r}"
                 for value, count in legacy.items())
