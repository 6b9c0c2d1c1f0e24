"""Read place boundaries (town centres, LSOAs, wards, custom areas) into one clean frame.

Any GeoJSON, GeoPackage or Shapefile GDAL reads, in any CRS, comes back as
2-D Polygons/MultiPolygons in British National Grid (EPSG:27700) with the
columns ``place_id``, ``kind``, ``name``, ``code``, ``area_km2``, ``geometry``.
Nothing is silently lost: repaired geometries, dropped features and every guess
made (name or code field, CRS, duplicate ids) are reported.

- A legacy GeoJSON ``crs`` member (``urn:ogc:def:crs:EPSG::27700``) is honoured
  by GDAL; a GeoJSON without one is, per RFC 7946, WGS84; if its coordinates
  are plainly metres that is an error suggesting ``--crs EPSG:27700``.
- A ``.prj`` in ESRI WKT without an EPSG code (London Datastore shapefiles) is
  used as is; when it is British National Grid under another name no
  reprojection happens.
- Invalid geometries are repaired with ``shapely.make_valid(method="structure")``
  keeping only the polygonal parts.
- ``place_id`` is ``f"{kind}:{code}"``, or ``f"{kind}:{slug(name)}"`` without a
  code; duplicates within one import get ``-2``, ``-3``, ... suffixes.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import shapely
from pyogrio.errors import DataLayerError, DataSourceError
from pyproj import CRS, Transformer
from pyproj.exceptions import CRSError, ProjError

from harmmap.errors import ConfigError, GeometryError, InputFileError, SchemaError

BNG = "EPSG:27700"
KINDS = ("town_centre", "lsoa", "ward", "custom")
#: prefixes of name/code fields that suit each kind (``LSOA11NM``, ``wd22cd``, ``tcity15nm``)
KIND_PREFIXES = {"lsoa": ("lsoa",), "ward": ("wd", "ward"), "town_centre": ("tcity", "tc", "town", "bua"),
                 "custom": ()}
#: generous British National Grid extent (metres) a layer must fall in once reprojected
GB_EXTENT = (-100_000.0, -100_000.0, 800_000.0, 1_400_000.0)
MAX_LISTED = 5


@dataclass(frozen=True)
class PlacesRead:
    """Places read from one boundary layer, and what happened on the way.

    Attributes
    ----------
    places : geopandas.GeoDataFrame
        ``place_id``, ``kind``, ``name``, ``code`` (str, missing when none),
        ``area_km2`` and 2-D (Multi)Polygon ``geometry`` in EPSG:27700.
    repaired : tuple of str
        Names of places whose invalid geometry was repaired.
    dropped : tuple of str
        ``"name: reason"`` for every feature left out (no, empty or non-polygon geometry).
    notes : tuple of str
        Guesses and adjustments worth telling the user about.
    """

    places: gpd.GeoDataFrame
    repaired: tuple[str, ...] = ()
    dropped: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()


def read_places(path, *, kind: str, name_field: str | None = None, code_field: str | None = None,
                layer: str | None = None, crs: str | None = None) -> PlacesRead:
    """Read a boundary layer as places in British National Grid.

    Parameters
    ----------
    path : str or pathlib.Path
        GeoJSON, GeoPackage, Shapefile (or anything else GDAL reads).
    kind : {"town_centre", "lsoa", "ward", "custom"}
    name_field, code_field : str, optional
        Attributes holding the place name and code; guessed when omitted
        (``name``, ``NAME``, ``*nm``/``*NM`` such as ``LSOA11NM``; the code is
        the matching ``*cd`` field, ``code`` or ``GSS_CODE``).
    layer : str, optional
        Layer of a multi-layer source (a GeoPackage).
    crs : str, optional
        CRS of the coordinates (``EPSG:27700``, ``EPSG:4326``, ...): required
        when the file declares none; overrides a declared one.

    Raises
    ------
    ConfigError
        Unknown ``kind`` or unusable ``crs``.
    InputFileError
        Missing or unreadable file.
    SchemaError
        ``name_field``/``code_field`` missing, or no name field can be guessed.
    GeometryError
        Empty layer, ambiguous layer, no CRS, coordinates not in Great Britain,
        or no usable polygon.
    """
    if kind not in KINDS:
        raise ConfigError("unknown place kind", given=kind, fix=f"use one of {', '.join(KINDS)}")
    layer, info = _open_layer(Path(path), layer)
    fields = [str(f) for f in info["fields"]]
    notes: list[str] = []
    name_col = _choose_name_field(fields, kind, name_field, notes)
    code_col = _choose_code_field(fields, kind, name_col, code_field, notes)
    frame = _read_frame(Path(path), layer, [c for c in (name_col, code_col) if c])
    codes = _text(frame[code_col]) if code_col else pd.Series([None] * len(frame), dtype="str")
    names = _names(frame[name_col] if name_col else None, codes, Path(path).stem, notes)
    geoms = _to_bng(frame, crs, notes)
    geoms, keep, repaired, dropped = _clean_geometries(geoms, names.to_numpy(dtype=object))
    if not keep.any():
        raise GeometryError("the layer has no usable polygon", given=f"{path}: {'; '.join(dropped[:MAX_LISTED])}",
                            fix="check the file holds (multi)polygon boundaries")
    names, codes = names[keep].reset_index(drop=True), codes[keep].reset_index(drop=True)
    places = gpd.GeoDataFrame({
        "place_id": _place_ids(kind, names, codes, notes),
        "kind": pd.Series([kind] * len(names), dtype="str"),
        "name": names,
        "code": codes,
        "area_km2": shapely.area(geoms[keep]) / 1e6,
    }, geometry=gpd.GeoSeries(geoms[keep], crs=BNG), crs=BNG)
    return PlacesRead(places, tuple(repaired), tuple(dropped), tuple(notes))


def _open_layer(path: Path, layer: str | None) -> tuple[str, dict]:
    """Return the layer to read and its pyogrio info, or raise a helpful error."""
    if not path.exists():
        raise InputFileError("boundary file not found", given=str(path), fix="check the path")
    try:
        layers = pyogrio.list_layers(path)
    except (DataSourceError, OSError) as error:
        raise InputFileError("cannot read the boundary file", given=f"{path}: {error}",
                             fix="give a GeoJSON, GeoPackage or Shapefile (with its .shx/.dbf)") from error
    names = [str(name) for name, _ in layers]
    spatial = [str(name) for name, kind in layers if kind is not None]
    if layer is None:
        if len(names) != 1 and len(spatial) != 1:
            raise GeometryError("the file has several layers; say which one", given=f"{path}: layers {names}",
                                fix="pass --layer NAME")
        layer = names[0] if len(names) == 1 else spatial[0]
    elif layer not in names:
        raise GeometryError("layer not found", given=f"{layer!r}; layers: {names}", fix="pass one of the layers listed")
    info = pyogrio.read_info(path, layer=layer)
    if info["features"] == 0:
        raise GeometryError("the boundary layer is empty", given=f"{path} layer {layer!r}",
                            fix="check the file was exported with its features")
    return layer, info


def _read_frame(path: Path, layer: str, columns: list[str]) -> gpd.GeoDataFrame:
    try:
        return pyogrio.read_dataframe(path, layer=layer, columns=columns)
    except (DataSourceError, DataLayerError, OSError) as error:
        raise InputFileError("cannot read the boundary layer", given=f"{path} layer {layer!r}: {error}",
                             fix="check the file is complete and not corrupt") from error


def _match_field(fields: list[str], wanted: str, role: str) -> str:
    """Return ``wanted`` as spelled in the file (exact, else a unique case-insensitive match)."""
    if wanted in fields:
        return wanted
    folded = [f for f in fields if f.lower() == wanted.lower()]
    if len(folded) == 1:
        return folded[0]
    raise SchemaError(f"{role} field not found", given=f"{wanted!r}; fields: {fields}",
                      fix=f"pass --{role}-field with one of the fields listed")


def _by_kind(candidates: list[str], kind: str) -> list[str]:
    """Order candidates: those starting with a prefix suiting ``kind`` first, file order otherwise."""
    prefixes = KIND_PREFIXES[kind]
    return sorted(candidates, key=lambda f: not f.lower().startswith(prefixes) if prefixes else False)


def _choose_name_field(fields: list[str], kind: str, given: str | None, notes: list[str]) -> str | None:
    """Return the name field: the one given, else a guess; None when the layer has no fields at all."""
    if given:
        return _match_field(fields, given, "name")
    exact = [f for f in fields if f.lower() == "name"]
    suffixed = _by_kind([f for f in fields if f.lower().endswith("nm")], kind)
    named = _by_kind([f for f in fields if f.lower().endswith("name") and f not in exact], kind)
    candidates = [*exact, *suffixed, *named]
    if candidates:
        notes.append(f"name field guessed: {candidates[0]}")
        return candidates[0]
    if fields:
        raise SchemaError("cannot tell which field holds the place name", given=f"fields: {fields}",
                          fix="pass --name-field FIELD")
    notes.append("the layer has no attribute fields: places are named after the file")
    return None


def _choose_code_field(fields: list[str], kind: str, name_col: str | None, given: str | None,
                       notes: list[str]) -> str | None:
    """Return the code field: the one given, else the name field's sibling, ``code``/``GSS_CODE``, or a kind match."""
    if given:
        return _match_field(fields, given, "code")
    lower = {f.lower(): f for f in fields}
    sibling = []
    if name_col and name_col.lower().endswith(("nm", "name")):
        stem = name_col.lower().removesuffix("nm") if name_col.lower().endswith("nm") else name_col.lower()[:-4]
        sibling = [lower[c] for c in (stem + "cd", stem + "code") if c in lower]
    common = [lower[c] for c in ("code", "gss_code") if c in lower]
    prefixes = KIND_PREFIXES[kind]
    by_kind = [f for f in fields if prefixes and f.lower().startswith(prefixes) and f.lower().endswith(("cd", "code"))]
    candidates = [*sibling, *common, *by_kind]
    if candidates:
        notes.append(f"code field guessed: {candidates[0]}")
        return candidates[0]
    return None


def _text(values: pd.Series) -> pd.Series:
    """Return values as str with blanks as missing."""
    text = values.astype("str").str.strip()
    return text.where(text != "").reset_index(drop=True)


def _names(values: pd.Series | None, codes: pd.Series, stem: str, notes: list[str]) -> pd.Series:
    """Return a name per feature: the name field, else the code, else the file name (numbered)."""
    names = _text(values) if values is not None else pd.Series([None] * len(codes), dtype="str")
    missing = names.isna()
    if missing.any():
        fallback = [stem] if len(names) == 1 else [f"{stem} {i + 1}" for i in range(len(names))]
        names = names.fillna(codes).fillna(pd.Series(fallback, dtype="str"))
        if values is not None:
            notes.append(f"{int(missing.sum())} feature(s) without a name were named from their code or the file")
    return names.reset_index(drop=True)


def _to_bng(frame: gpd.GeoDataFrame, crs: str | None, notes: list[str]) -> np.ndarray:
    """Return 2-D geometries in EPSG:27700, checking the CRS makes sense for the coordinates."""
    geoms = shapely.force_2d(frame.geometry.to_numpy())
    if shapely.has_z(frame.geometry.to_numpy()).any():
        notes.append("3-D coordinates flattened to 2-D")
    bounds = shapely.total_bounds(geoms)
    if not np.all(np.isfinite(bounds)):
        return geoms  # no geometry at all: reported as dropped features
    degrees = bool(np.all(np.abs(bounds[[0, 2]]) <= 180) and np.all(np.abs(bounds[[1, 3]]) <= 90))
    source = _source_crs(frame.crs, crs, degrees, notes)
    if source.is_geographic and not degrees:
        raise GeometryError("the layer says its coordinates are degrees but they look like metres",
                            given=f"CRS {source.name}, bounds {np.round(bounds).tolist()}",
                            fix="pass --crs EPSG:27700 (or the CRS the coordinates are really in)")
    try:
        if not _same_as_bng(source, bounds):
            geoms = gpd.GeoSeries(geoms, crs=source).to_crs(BNG).to_numpy()
        elif source.to_epsg() != 27700:
            notes.append(f"CRS '{source.name}' (no EPSG code) treated as EPSG:27700")
    except ProjError as error:
        raise GeometryError("cannot convert the boundaries to British National Grid",
                            given=f"CRS {source.name}: {error}", fix=f"pass --crs {_guess_crs(degrees)}") from error
    _check_in_britain(shapely.total_bounds(geoms), degrees)
    return geoms


def _guess_crs(degrees: bool) -> str:
    """Return the ``--crs`` to suggest for coordinates that look like degrees or metres."""
    return "EPSG:4326 (coordinates look like degrees)" if degrees else "EPSG:27700 (coordinates look like metres)"


def _source_crs(declared, given: str | None, degrees: bool, notes: list[str]) -> CRS:
    """Return the CRS to convert from: ``given``, else the declared one; it must be a 2-D map CRS."""
    if given:
        try:
            chosen = CRS.from_user_input(given)
        except CRSError as error:
            raise ConfigError("unrecognised CRS", given=given, fix="use e.g. EPSG:27700 or EPSG:4326") from error
        if not (chosen.is_geographic or chosen.is_projected):
            raise ConfigError("the CRS given is not a map (projected or geographic) CRS",
                              given=f"{given} ({chosen.name})", fix=f"pass --crs {_guess_crs(degrees)}")
        if declared is not None and not CRS(declared).equals(chosen):
            notes.append(f"declared CRS '{CRS(declared).name}' replaced by {given}")
        return chosen
    if declared is None:
        raise GeometryError("the boundary file declares no coordinate reference system", given="no CRS",
                            fix=f"pass --crs {_guess_crs(degrees)}")
    source = CRS(declared)
    if not (source.is_geographic or source.is_projected):
        raise GeometryError("the boundary file declares a CRS that cannot be converted to British National Grid",
                            given=source.name, fix=f"pass --crs {_guess_crs(degrees)}")
    return source


def _same_as_bng(source: CRS, bounds: np.ndarray) -> bool:
    """True when ``source`` maps coordinates onto EPSG:27700 unchanged (to 1 mm)."""
    if source.to_epsg() == 27700:
        return True
    if source.is_geographic or not np.all(np.isfinite(bounds)):
        return False
    x, y = np.array([bounds[0], bounds[2], bounds[0]]), np.array([bounds[1], bounds[3], bounds[3]])
    tx, ty = Transformer.from_crs(source, BNG, always_xy=True).transform(x, y)
    return bool(np.all(np.abs(tx - x) < 1e-3) and np.all(np.abs(ty - y) < 1e-3))


def _check_in_britain(bounds: np.ndarray, degrees: bool) -> None:
    e_min, n_min, e_max, n_max = GB_EXTENT
    inside = bounds[0] >= e_min and bounds[1] >= n_min and bounds[2] <= e_max and bounds[3] <= n_max
    tiny = np.all(np.abs(bounds) <= 180)
    if not inside or tiny:
        hint = "EPSG:4326" if degrees else "the CRS the coordinates are really in"
        raise GeometryError("the boundaries do not fall in Great Britain once converted to British National Grid",
                            given=f"bounds {np.round(bounds, 1).tolist()} (EPSG:27700)", fix=f"pass --crs {hint}")


def _polygonal(geom):
    """Return the polygonal part of ``geom`` (None when it has none)."""
    parts = shapely.get_parts(shapely.get_parts(geom))
    polygons = [p for p in parts if p.geom_type == "Polygon" and not p.is_empty]
    if not polygons:
        return None
    return polygons[0] if len(polygons) == 1 else shapely.MultiPolygon(polygons)


def _clean_geometries(geoms: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray, list, list]:
    """Drop unusable features, repair invalid ones; return geometries, kept mask, repaired, dropped."""
    geoms = geoms.copy()
    keep = np.ones(len(geoms), dtype=bool)
    repaired, dropped = [], []
    types = shapely.get_type_id(geoms)
    for i in np.flatnonzero(shapely.is_missing(geoms) | shapely.is_empty(geoms) | ~np.isin(types, [3, 6])):
        geom = geoms[i]
        reason = "no geometry" if geom is None else "empty geometry" if geom.is_empty else None
        geoms[i] = None if reason else _polygonal(geom)
        if geoms[i] is None:
            reason = reason or f"not a polygon ({geom.geom_type})"
            dropped.append(f"{labels[i]}: {reason}")
            keep[i] = False
    for i in np.flatnonzero(keep & ~shapely.is_valid(geoms)):
        geoms[i] = _polygonal(shapely.make_valid(geoms[i], method="structure", keep_collapsed=False))
        if geoms[i] is None:
            dropped.append(f"{labels[i]}: invalid geometry with no area left after repair")
            keep[i] = False
        else:
            repaired.append(str(labels[i]))
    return geoms, keep, repaired, dropped


def _slug(name: str) -> str:
    """Return ``name`` lower-cased, accents removed, anything else not a-z/0-9 as single hyphens."""
    bare = "".join(c for c in unicodedata.normalize("NFKD", name) if not unicodedata.combining(c))
    return re.sub(r"[^a-z0-9]+", "-", bare.lower()).strip("-") or "place"


def _place_ids(kind: str, names: pd.Series, codes: pd.Series, notes: list[str]) -> pd.Series:
    """Return ``kind:code`` (or ``kind:slug(name)``) per place, made unique with ``-2``, ``-3`` suffixes."""
    keys = [code if isinstance(code, str) else _slug(name) for name, code in zip(names, codes)]
    ids = [f"{kind}:{key}" for key in keys]
    taken, seen, renamed = set(ids), set(), []
    for i, place_id in enumerate(ids):
        if place_id in seen:
            n = 2
            while f"{place_id}-{n}" in taken:
                n += 1
            ids[i] = f"{place_id}-{n}"
            taken.add(ids[i])
            renamed.append(f"{place_id} -> {ids[i]}")
        seen.add(ids[i])
    if renamed:
        notes.append(f"{len(renamed)} duplicate place id(s) made unique, e.g. {', '.join(renamed[:MAX_LISTED])}")
    return pd.Series(ids, dtype="str")
