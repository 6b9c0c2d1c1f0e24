"""Read a retailer's store list (CSV, .gz, XLSX or GeoJSON) into located stores plus rejects.

Columns are found by their usual names (case, spaces and punctuation ignored),
and ``columns=`` (field -> column) overrides the guess:

============  =====================================================================
store_id      id, store_id, store_no, store_number, store_code, branch, branch_id, ...
name          name, store_name, branch_name, site_name, shop_name
lat / lng     lat, latitude, lat_wgs / lng, lon, long, longitude, long_wgs
easting       easting, eastings, bng_e, oseast1m
northing      northing, northings, bng_n, osnrth1m
postcode      postcode, post_code, postal_code, pcds
============  =====================================================================

A GeoJSON FeatureCollection gives one row per feature: its properties, plus
the Point geometry as lng/lat (or as easting/northing when the file declares
EPSG:27700).  A feature whose geometry is not a Point is rejected.

Checks, in order (the first failing one is the row's reason): unreadable rows
(``encoding_error``, ``malformed_row``); a blank store id (``missing_value``);
a store id already seen earlier in the file (``bad_value``, "duplicate store
id": the first one wins); the location, as for incidents (lat/lng, else
easting/northing, else postcode).  Stores on the Channel Islands (Crown
Dependencies just south of the UK bounds) are accepted; incidents located at
them are still rejected as ``outside_uk``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from harmmap.errors import InputFileError, MappingError, SchemaError
from harmmap.geo.crs import wgs84_to_bng
from harmmap.ingest.categories import normalise_label
from harmmap.ingest.mapping import match_columns
from harmmap.ingest.result import make_rejects
from harmmap.ingest.retailer import Verdict, clean_text, locate_rows
from harmmap.ingest.tables import STRING, RawTable, read_table

STORE_COLUMNS = ("org_id", "store_id", "name", "lat", "lng", "easting", "northing", "postcode")
ALIASES: dict[str, tuple[str, ...]] = {
    "store_id": ("store_id", "id", "store_no", "store_number", "store_num", "storeid", "store_code", "store",
                 "branch", "branch_id", "branch_no", "branch_code", "site_id", "shop_id", "location_id"),
    "name": ("name", "store_name", "branch_name", "site_name", "shop_name", "location_name"),
    "lat": ("lat", "latitude", "lat_wgs", "lat_wgs84", "wgs84_lat", "geometry_lat"),
    "lng": ("lng", "lon", "long", "longitude", "long_wgs", "lon_wgs", "lng_wgs", "long_wgs84", "geometry_lng"),
    "easting": ("easting", "eastings", "bng_e", "oseast1m", "x_bng", "geometry_easting"),
    "northing": ("northing", "northings", "bng_n", "osnrth1m", "y_bng", "geometry_northing"),
    "postcode": ("postcode", "post_code", "postal_code", "pcds", "pcd"),
}
#: Channel Islands (Jersey, Guernsey, Alderney, Sark): accepted for stores although outside UK_BOUNDS.
CROWN_DEPENDENCIES = {"lat_min": 49.1, "lat_max": 49.8, "lng_min": -2.8, "lng_max": -2.0}


@dataclass(frozen=True)
class StoresRead:
    """What :func:`read_stores` made of a store list.

    Attributes
    ----------
    stores : pandas.DataFrame
        Columns :data:`STORE_COLUMNS`; every store has lat/lng and easting/northing.
    rejects : pandas.DataFrame
        :func:`~harmmap.ingest.result.make_rejects` format.
    rows_read : int
        ``len(stores) + len(rejects)``.
    """

    stores: pd.DataFrame
    rejects: pd.DataFrame
    rows_read: int


def read_stores(path, *, org_id: str, postcodes: pd.DataFrame | None = None,
                columns: dict | None = None) -> StoresRead:
    """Read a store list.

    Parameters
    ----------
    path : str or os.PathLike
        CSV (plain or gzip), XLSX or GeoJSON file (recognised by content).
    org_id : str
        The organisation the stores belong to.
    postcodes : pandas.DataFrame, optional
        Postcode lookup for stores given only by postcode.
    columns : dict, optional
        field -> column name, overriding the automatic choice.

    Raises
    ------
    MappingError
        ``columns`` names an unknown field.
    SchemaError
        No store id column, no location columns, or a named column is missing
        (the message lists the file's columns).
    InputFileError
        The file cannot be opened.
    """
    raw = _read_geojson(Path(path)) if _is_json(Path(path)) else read_table(path)
    filled = set(raw.frame.columns[raw.frame.notna().any().to_numpy(bool)])
    found = _resolve(raw.columns, columns or {}, str(path), filled)
    f = {field: clean_text(raw.frame[column]) for field, column in found.items()}
    n = len(raw.frame)
    verdict = Verdict(n)
    verdict.reject(f["store_id"].isna().to_numpy(bool), "missing_value", lambda rows: "store id is blank")
    duplicate = f["store_id"].duplicated(keep="first").to_numpy(bool) & f["store_id"].notna().to_numpy(bool)
    verdict.reject(duplicate, "bad_value", lambda rows: ("duplicate store id '" + f["store_id"].iloc[rows] +
                                                         "' (the first row with it is kept)").to_numpy(object))
    place = locate_rows({k: v for k, v in f.items() if k != "store_id"}, n, postcodes)
    island = (place.reason == "outside_uk") & _in_box(place.lat, place.lng, CROWN_DEPENDENCIES)
    place.reason[island] = ""
    verdict.reject(place.reason != "", place.reason, lambda rows: place.detail[rows])
    ok = verdict.reason == ""
    e, nn = wgs84_to_bng(np.where(ok, place.lat, 0.0), np.where(ok, place.lng, 0.0))
    keep_grid = ~np.isnan(place.easting) & ~np.isnan(place.northing)
    stores = pd.DataFrame({
        "org_id": pd.array([org_id] * n, dtype=STRING), "store_id": f["store_id"],
        "name": f.get("name", _blank(n)),
        "lat": place.lat, "lng": place.lng,
        "easting": np.where(keep_grid, place.easting, e), "northing": np.where(keep_grid, place.northing, nn),
        "postcode": f.get("postcode", _blank(n)),
    }).loc[ok].reset_index(drop=True)
    rejects = pd.concat([raw.bad_rows, verdict.rejects(raw.frame, raw.row_numbers)], ignore_index=True)
    rejects = rejects.sort_values("row_number", kind="stable").reset_index(drop=True)
    return StoresRead(stores, rejects, raw.rows_read)


def _blank(n: int) -> pd.Series:
    return pd.Series(pd.array([pd.NA] * n, dtype=STRING))


def _in_box(lat: np.ndarray, lng: np.ndarray, box: dict) -> np.ndarray:
    return (lat >= box["lat_min"]) & (lat <= box["lat_max"]) & (lng >= box["lng_min"]) & (lng <= box["lng_max"])


def _resolve(present: tuple[str, ...], given: dict, name: str, filled: set) -> dict[str, str]:
    """Return field -> column: ``given`` first, then the first column matching an alias (non-empty ones first)."""
    unknown = [k for k in given if k not in ALIASES]
    if unknown:
        raise MappingError(f"unknown store field(s): {', '.join(unknown)}", given=", ".join(given),
                           fix=f"valid fields: {', '.join(ALIASES)}")
    out = match_columns(present, given, what="the store list", name=name,
                        fix="correct the --column FIELD=COLUMN names")
    by_norm = {normalise_label(c).replace(" ", "_"): c for c in reversed(present)}
    for field, aliases in ALIASES.items():
        if field not in out:
            candidates = [by_norm[a] for a in aliases if a in by_norm and by_norm[a] not in out.values()]
            hit = next((c for c in candidates if c in filled), candidates[0] if candidates else None)
            if hit is not None:
                out[field] = hit
    _check_found(out, present, name)
    return out


def _check_found(out: dict, present: tuple[str, ...], name: str) -> None:
    if "store_id" not in out:
        raise SchemaError("the store list has no store id column", given=f"{name} with columns {list(present)}",
                          fix="name it id or store_id, or pass --column store_id=COLUMN")
    pairs = [("lat", "lng"), ("easting", "northing")]
    half = [p for p in pairs if (p[0] in out) != (p[1] in out)]
    if half or not any(a in out and b in out for a, b in pairs) and "postcode" not in out:
        only = f" (only one of {half[0]})" if half else ""
        raise SchemaError(f"the store list has no usable location columns{only}",
                          given=f"{name} with columns {list(present)}",
                          fix="give lat and lng, easting and northing, or postcode (--column lat=COLUMN ...)")


def _is_json(path: Path) -> bool:
    try:
        with path.open("rb") as handle:
            head = handle.read(64).lstrip(b"\xef\xbb\xbf").lstrip()
    except OSError:
        return False  # read_table reports the problem
    return head.startswith(b"{")


def _read_geojson(path: Path) -> RawTable:
    """Turn a GeoJSON FeatureCollection into a table of strings (one row per feature)."""
    try:
        doc = json.loads(path.read_bytes().decode("utf-8-sig"))
    except (OSError, UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise InputFileError("cannot read the GeoJSON file", given=f"{path}: {exc}",
                             fix="check it is valid GeoJSON (a FeatureCollection of Points)") from None
    features = doc.get("features") if isinstance(doc, dict) else None
    if not isinstance(features, list):
        raise InputFileError("the GeoJSON file is not a FeatureCollection", given=str(path),
                             fix="export the stores as a GeoJSON FeatureCollection of Points")
    grid = "27700" in json.dumps(doc.get("crs", ""))
    x_name, y_name = ("geometry_easting", "geometry_northing") if grid else ("geometry_lng", "geometry_lat")
    records, numbers, bad = [], [], []
    for number, feature in enumerate(features, start=1):
        record, problem = _feature_record(feature, x_name, y_name)
        if problem:
            bad.append((number, "bad_value", problem, json.dumps(feature, default=str)[:2000]))
        else:
            records.append(record)
            numbers.append(number)
    frame = pd.DataFrame.from_records(records) if records else pd.DataFrame()
    for column in (x_name, y_name):
        if column not in frame:
            frame[column] = pd.Series([None] * len(frame), dtype=object)
    frame = frame.astype(object).where(frame.notna(), None).astype(STRING)
    rejects = make_rejects(*zip(*bad)) if bad else make_rejects([], [], [], [])
    return RawTable(frame, np.asarray(numbers, dtype="int64"), tuple(frame.columns), rejects)


def _feature_record(feature, x_name: str, y_name: str) -> tuple[dict, str]:
    if not isinstance(feature, dict):
        return {}, "not a GeoJSON feature"
    props = feature.get("properties") or {}
    record = {str(k): _text(v) for k, v in props.items()} if isinstance(props, dict) else {}
    geometry = feature.get("geometry")
    if "id" in feature and "id" not in record:
        record["id"] = _text(feature["id"])
    if geometry is None:
        return record, ""
    coords = geometry.get("coordinates") if isinstance(geometry, dict) else None
    if not isinstance(geometry, dict) or geometry.get("type") != "Point":
        kind = geometry.get("type") if isinstance(geometry, dict) else type(geometry).__name__
        return record, f"geometry is a {kind}, not a Point"
    if not isinstance(coords, list) or len(coords) < 2:
        return record, "Point geometry has no coordinates"
    record[x_name], record[y_name] = _text(coords[0]), _text(coords[1])
    return record, ""


def _text(value) -> str | None:
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    return json.dumps(value) if isinstance(value, (dict, list)) else str(value)
