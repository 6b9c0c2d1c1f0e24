"""Postcode lookups: postcode -> WGS84 and British National Grid coordinates.

Two open sources are recognised by their content:

* the ONS Postcode Directory (ONSPD) CSV: a header with ``pcd``, ``pcd2`` or
  ``pcds`` and ``lat``/``long`` (and ``oseast1m``/``osnrth1m``).  ONSPD writes
  ``lat = 99.999999`` for postcodes without a grid reference: those are left
  out.  Grid values are derived from ``lat``/``long`` (ONSPD gives Northern
  Ireland's grid references on the Irish Grid, not the British one);
* OS Code-Point Open CSVs: headerless ``Postcode, Positional_quality_indicator,
  Eastings, Northings, ...`` rows (or the same with a header).  A folder of
  Code-Point files (one per postcode area) is read whole.  ``0, 0`` means no
  location and is left out.

The lookup has one row per distinct postcode key (upper case, no spaces).
"""

from __future__ import annotations

import gzip
import io
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv

from harmmap.errors import InputFileError, SchemaError
from harmmap.geo.crs import bng_to_wgs84, wgs84_to_bng

LOOKUP_COLUMNS = ("postcode_key", "lat", "lng", "easting", "northing")
_ONSPD_KEYS = ("pcds", "pcd2", "pcd")
_CODEPOINT = ("Postcode", "Positional_quality_indicator", "Eastings", "Northings")


def normalise_postcodes(series: pd.Series) -> pd.Series:
    """Return postcodes upper-cased without spaces (NA for blank), as lookup keys."""
    text = pd.Series(series, dtype="string").str.upper().str.replace(r"\s+", "", regex=True)
    return text.mask(text == "", pd.NA)


def read_postcode_lookup(path) -> pd.DataFrame:
    """Read an ONSPD or Code-Point Open CSV (plain or .gz, or a folder of them) into a lookup.

    Returns
    -------
    pandas.DataFrame
        Columns ``postcode_key, lat, lng, easting, northing``, one row per postcode.

    Raises
    ------
    InputFileError
        Missing or unreadable file.
    SchemaError
        Neither ONSPD nor Code-Point Open.
    """
    path = Path(path)
    if path.is_dir():
        files = sorted(p for p in path.rglob("*") if p.suffix.lower() in (".csv", ".gz"))
        if not files:
            raise InputFileError("no CSV files in the postcode folder", given=str(path),
                                 fix="point --postcodes at the ONSPD CSV or Code-Point Open's Data/CSV folder")
        frames = [_read_one(p) for p in files]
        lookup = pd.concat(frames, ignore_index=True)
    else:
        lookup = _read_one(path)
    lookup = lookup.drop_duplicates("postcode_key", keep="first").reset_index(drop=True)
    return lookup[list(LOOKUP_COLUMNS)]


def _read_one(path: Path) -> pd.DataFrame:
    data = _read_bytes(path)
    first = data.split(b"\n", 1)[0].decode("utf-8", errors="replace").strip().lstrip("\ufeff")
    header = [c.strip().strip('"').strip() for c in first.split(",")]
    lower = [c.lower() for c in header]
    if any(k in lower for k in _ONSPD_KEYS) and ("lat" in lower or "oseast1m" in lower):
        return _onspd(data, header, lower)
    if header[:4] == list(_CODEPOINT) or [c.lower() for c in header[:4]] == [c.lower() for c in _CODEPOINT]:
        return _codepoint(data, skip=1, path=path)
    if len(header) >= 4 and header[2].lstrip("-").isdigit() and header[3].lstrip("-").isdigit():
        return _codepoint(data, skip=0, path=path)
    raise SchemaError("not a postcode lookup file", given=f"{path} with first line {first[:120]!r}",
                      fix="use the ONS Postcode Directory CSV (pcds, lat, long) or OS Code-Point Open CSVs")


def _read_bytes(path: Path) -> bytes:
    try:
        data = path.read_bytes()
        return gzip.decompress(data) if data.startswith(b"\x1f\x8b") else data
    except FileNotFoundError:
        raise InputFileError("postcode lookup file not found", given=str(path),
                             fix="check the --postcodes path") from None
    except (OSError, EOFError) as exc:
        raise InputFileError("cannot read the postcode lookup file", given=f"{path}: {exc}") from None


def _csv(data: bytes, names: list[str] | None, skip: int, keep: list[str]) -> pa.Table:
    try:
        return pacsv.read_csv(
            io.BytesIO(data),
            read_options=pacsv.ReadOptions(column_names=names, skip_rows=skip),
            convert_options=pacsv.ConvertOptions(include_columns=keep,
                                                 column_types={c: pa.string() for c in keep}),
        )
    except (pa.ArrowInvalid, pa.ArrowKeyError) as exc:
        raise InputFileError("cannot parse the postcode lookup file", given=str(exc)[:200],
                             fix="use the CSV exactly as downloaded") from None


def _numbers(table: pa.Table, column: str) -> np.ndarray:
    values = pd.to_numeric(table[column].to_pandas(), errors="coerce")
    return values.to_numpy(dtype="float64", na_value=np.nan, copy=True)


def _onspd(data: bytes, header: list[str], lower: list[str]) -> pd.DataFrame:
    key_col = header[lower.index(next(k for k in _ONSPD_KEYS if k in lower))]
    wanted = {"lat": "lat", "long": "long", "oseast1m": "oseast1m", "osnrth1m": "osnrth1m"}
    cols = {k: header[lower.index(v)] for k, v in wanted.items() if v in lower}
    table = _csv(data, None, 0, [key_col, *cols.values()])
    n = table.num_rows
    lat = _numbers(table, cols["lat"]) if "lat" in cols else np.full(n, np.nan)
    lng = _numbers(table, cols["long"]) if "long" in cols else np.full(n, np.nan)
    no_grid = (lat > 90) | (lat < -90)
    lat[no_grid], lng[no_grid] = np.nan, np.nan
    keys = normalise_postcodes(table[key_col].to_pandas())
    if "oseast1m" in cols:
        e, nn = _numbers(table, cols["oseast1m"]), _numbers(table, cols["osnrth1m"])
        fill = np.isnan(lat) & ~np.isnan(e) & ~np.isnan(nn) & ~keys.str.startswith("BT").fillna(False).to_numpy(bool)
        if fill.any():
            lat[fill], lng[fill] = bng_to_wgs84(e[fill], nn[fill])
    return _complete(keys, lat, lng)


def _codepoint(data: bytes, skip: int, path: Path) -> pd.DataFrame:
    first = data.split(b"\n", 1 + skip)[skip] if data.count(b"\n") >= skip else b""
    width = max(len(first.split(b",")), 4)
    names = [*_CODEPOINT, *(f"c{i}" for i in range(4, width))]
    table = _csv(data, names, skip, ["Postcode", "Eastings", "Northings"])
    e, n = _numbers(table, "Eastings"), _numbers(table, "Northings")
    located = ~np.isnan(e) & ~np.isnan(n) & ~((e == 0) & (n == 0))
    lat = np.full(len(e), np.nan)
    lng = np.full(len(e), np.nan)
    if located.any():
        lat[located], lng[located] = bng_to_wgs84(e[located], n[located])
    return _complete(normalise_postcodes(table["Postcode"].to_pandas()), lat, lng, e, n)


def _complete(keys: pd.Series, lat, lng, easting=None, northing=None) -> pd.DataFrame:
    """Drop rows without a key or location; fill the grid from lat/lng where not given."""
    keep = keys.notna().to_numpy(dtype=bool) & ~np.isnan(lat) & ~np.isnan(lng)
    lat, lng = lat[keep], lng[keep]
    if easting is None:
        easting, northing = wgs84_to_bng(lat, lng)
    else:
        easting, northing = np.asarray(easting)[keep], np.asarray(northing)[keep]
    return pd.DataFrame({"postcode_key": keys[keep].reset_index(drop=True).astype("string"),
                         "lat": lat, "lng": lng, "easting": easting, "northing": northing})
