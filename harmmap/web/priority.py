"""Rankings and deployment priority lists of places, cells and stores.

**Priority order** (every list, every export): highest *forecast harm* first (the
trends run's forecast of the unit's harm over the next ``horizon`` periods, by
default six months; for a store, the forecast of the H3 cell it stands in), then
highest *harm* over the scoring window, then the unit's id; units without a
forecast (no trends run, or a cell outside the trends run) come after those
with one.  ``priority`` numbers the rows of the filtered list
1..N, so a list limited to an operation area starts at 1.

A unit is *hot* when its own Gi* class is a hot spot at 90 % confidence or more
(``gi_bin >= 1``); for a store, the class of its cell.  The joined base tables
are built once per (scoring run, trends run, places, stores) and kept sorted in
priority order, so a request only masks and slices them.
"""

from __future__ import annotations

import contextlib
import functools
import re
from collections.abc import Mapping
from dataclasses import dataclass

import geopandas as gpd
import h3ronpy.vector as h3v
import numpy as np
import pandas as pd
import shapely

from harmmap.errors import ConfigError
from harmmap.geo.cells import cells_to_strings, strings_to_cells
from harmmap.geo.crs import wgs84_to_bng
from harmmap.geo.grid import polygons_to_cells
from harmmap.report.palettes import GI_BIN_LABELS
from harmmap.scoring.emerging import EMERGING_CODES, EMERGING_NAMES
from harmmap.store.workspace import Workspace, connect
from harmmap.web.data import area_places, latest_run, operation_areas, places_wgs84, require_run, stores_of

KINDS = ("places", "cells", "stores")
PLACE_KINDS = ("town_centre", "lsoa", "ward", "custom")
EMERGING_KEYS = tuple(EMERGING_CODES[c] for c in sorted(EMERGING_CODES, key=lambda c: (c <= 0, abs(c))))
EMERGING_LABELS = {EMERGING_CODES[c]: EMERGING_NAMES[c] for c in EMERGING_CODES}
PRIORITY_TEXT = ("Ordered by forecast harm over the next periods (trends run; units without a forecast last), "
                 "then by harm over the scoring window, then by id.")
MAX_TOP = 5_000

#: Query parameters of /deployment and /api/priority (OpenAPI schemas; they also drive the parsing).
PRIORITY_PARAMS: dict[str, dict] = {
    "kind": {"type": "string", "enum": list(KINDS), "default": "places",
             "description": "What to rank: places, H3 cells or stores (all organisations)."},
    "area": {"type": "integer", "minimum": 1, "maximum": 2_147_483_647,
             "description": "Limit to the places (cells, stores) of this operation area."},
    "place_kind": {"type": "string", "enum": list(PLACE_KINDS),
                   "description": "Limit to places of this kind (cells and stores: inside such a place)."},
    "min_harm": {"type": "number", "minimum": 0, "maximum": 1e15, "description": "Smallest harm to list."},
    "hot": {"type": "boolean", "default": False, "description": "Only Gi* hot spots (90 % or more)."},
    "emerging": {"type": "string", "enum": list(EMERGING_KEYS), "description": "Only this emerging class."},
    "org": {"type": "string", "minLength": 1, "maxLength": 64, "pattern": "^[A-Za-z0-9._-]+$",
            "description": "Stores only: limit to one organisation."},
    "top": {"type": "integer", "minimum": 1, "maximum": MAX_TOP, "default": 100,
            "description": "Number of rows (the top N of the list)."},
}
_TRUE, _FALSE = {"1", "true", "on", "yes"}, {"0", "false", "off", "no"}
_INTEGER = re.compile(r"[+-]?\d{1,18}")


def _coerce(name: str, raw: str, schema: dict):
    kind, bad = schema["type"], ConfigError(f"bad value for {name}", given=repr(raw)[:80], fix=_hint(schema))
    if kind == "integer":
        if not _INTEGER.fullmatch(raw.strip()):
            raise bad
        value = int(raw)
    elif kind == "number":
        try:
            value = float(raw)
        except ValueError:
            raise bad from None
        if not np.isfinite(value):
            raise bad
    elif kind == "boolean":
        if raw.strip().lower() not in _TRUE | _FALSE:
            raise bad
        return raw.strip().lower() in _TRUE
    else:
        value = raw
        if len(value) > schema.get("maxLength", 200) or ("enum" in schema and value not in schema["enum"]):
            raise bad
        if "pattern" in schema and not re.search(schema["pattern"], value):
            raise bad
    if ("minimum" in schema and value < schema["minimum"]) or ("maximum" in schema and value > schema["maximum"]):
        raise bad
    return value


def _hint(schema: dict) -> str:
    if "enum" in schema:
        return "use one of " + ", ".join(map(str, schema["enum"]))
    if "minimum" in schema:
        return f"use {_article(schema['type'])} from {schema['minimum']:,} to {schema.get('maximum', 'any'):,}"
    return f"use {_article(schema['type'])}" + (" (true or false)" if schema["type"] == "boolean" else "")


def _article(word: str) -> str:
    return ("an " if word[0] in "aeiou" else "a ") + word


def parse_query(args: Mapping[str, str], spec: Mapping[str, dict]) -> dict:
    """Check query parameters against their OpenAPI schemas.

    Parameters
    ----------
    args : mapping of str to str
        ``request.args``; an empty value counts as absent (as an empty form field).
    spec : mapping of str to dict
        Parameter name -> schema (type, enum, minimum, maximum, maxLength, pattern, default).

    Returns
    -------
    dict
        Every declared parameter, coerced, or its default (None when it has none).
    """
    values = {}
    for name, schema in spec.items():
        raw = args.get(name)
        values[name] = schema.get("default") if raw is None or raw == "" else _coerce(name, raw, schema)
    return values


def openapi_parameters(spec: Mapping[str, dict]) -> list[dict]:
    """The OpenAPI ``parameters`` list for a parameter spec."""
    return [{"name": name, "in": "query", "required": False, "description": schema.get("description", ""),
             "schema": {k: v for k, v in schema.items() if k != "description"}} for name, schema in spec.items()]


def _table_key(ws: Workspace, table: str) -> tuple:
    """Changes whenever rows of ``places`` or ``stores`` are inserted, replaced or deleted."""
    with contextlib.closing(connect(ws)) as conn:
        return tuple(conn.execute(f"SELECT count(*), max(rowid), max(imported_at) FROM {table}").fetchone())


def _run_ids(ws: Workspace) -> tuple[str, str | None]:
    trends = latest_run(ws, "trends")
    return require_run(ws, "scoring").row.run_id, trends.row.run_id if trends is not None else None


def _with_trends(frame: pd.DataFrame, key: str, trends: pd.DataFrame | None, extra: tuple[str, ...]) -> pd.DataFrame:
    columns = ("emerging_class", "forecast_harm") + extra
    if trends is None:
        return frame.assign(**{c: np.nan for c in columns}).assign(emerging_class=None)
    return frame.merge(trends[[key, *columns]], on=key, how="left", validate="one_to_one")


def _in_priority_order(frame: pd.DataFrame, key: str) -> pd.DataFrame:
    ordered = frame.sort_values(["forecast_harm", "harm", key], ascending=[False, False, True],
                                na_position="last", kind="mergesort")
    return ordered.reset_index(drop=True)


def _label(frame: pd.DataFrame, bins: str = "gi_bin") -> pd.DataFrame:
    frame["gi_class"] = frame[bins].map(GI_BIN_LABELS).fillna(GI_BIN_LABELS[0])
    frame["emerging_label"] = frame["emerging_class"].map(EMERGING_LABELS)
    return frame


@functools.lru_cache(maxsize=4)
def _places_base(ws: Workspace, run_ids: tuple, places_key: tuple) -> pd.DataFrame:
    scoring, trends = require_run(ws, "scoring"), latest_run(ws, "trends")
    table = _with_trends(scoring.places, "place_id", trends.places if trends is not None else None,
                         ("harm_recent", "change_year_pct"))
    shapes = places_wgs84(ws)
    centres = gpd.GeoSeries(shapes.geometry.to_numpy(), crs=shapes.crs).to_crs(27700).centroid.to_crs(4326)
    where = pd.DataFrame({"place_id": shapes["place_id"].to_numpy(), "lat": centres.y.to_numpy(),
                          "lng": centres.x.to_numpy()})
    return _label(_in_priority_order(table.merge(where, on="place_id", how="left"), "place_id"))


@functools.lru_cache(maxsize=2)
def _cells_base(ws: Workspace, run_ids: tuple) -> pd.DataFrame:
    scoring, trends = require_run(ws, "scoring"), latest_run(ws, "trends")
    cells = scoring.cells[["cell", "harm", "incidents", "gi_z", "gi_p", "gi_bin", "rank", "rank_low", "rank_high",
                           "p_top_n", "places"]]
    table = _in_priority_order(_with_trends(cells, "cell", trends.cells if trends is not None else None, ()),
                               "cell")
    return _label(table)


@functools.lru_cache(maxsize=4)
def _stores_base(ws: Workspace, run_ids: tuple, places_key: tuple, stores_key: tuple) -> pd.DataFrame:
    stores = stores_of(ws, None).drop(columns=["easting", "northing"])
    stores["cell_id"] = strings_to_cells(stores["cell"]) if len(stores) else np.empty(0, np.uint64)
    cells = _cells_base(ws, run_ids)[["cell", "harm", "incidents", "gi_z", "gi_bin", "emerging_class",
                                      "forecast_harm"]].rename(columns={"cell": "cell_id"})
    table = stores.merge(cells, on="cell_id", how="left").drop(columns="cell_id")
    table["harm"] = table["harm"].fillna(0.0)
    table["incidents"] = table["incidents"].fillna(0).astype("int64")
    table["gi_bin"] = table["gi_bin"].fillna(0).astype("int8")
    inside = _stores_in_places(ws, table)
    table["place_ids"] = [inside.get(i, []) for i in range(len(table))]
    table["key"] = table["org_id"] + "/" + table["store_id"]
    return _label(_in_priority_order(table, "key")).drop(columns="key")


def _stores_in_places(ws: Workspace, stores: pd.DataFrame) -> dict[int, list[str]]:
    shapes = places_wgs84(ws)
    points = gpd.GeoDataFrame(geometry=gpd.points_from_xy(stores["lng"], stores["lat"]), crs=4326)
    joined = gpd.sjoin(points, shapes[["place_id", "geometry"]], predicate="within", how="inner")
    return joined.groupby(level=0)["place_id"].apply(sorted).to_dict()


def place_table(ws: Workspace) -> pd.DataFrame:
    """Every scored place, joined with its trends and centre, in priority order."""
    return _places_base(ws, _run_ids(ws), _table_key(ws, "places"))


def cell_table(ws: Workspace) -> pd.DataFrame:
    """Every scored cell, joined with its trends, in priority order (``cell`` is uint64)."""
    return _cells_base(ws, _run_ids(ws))


def store_table(ws: Workspace) -> pd.DataFrame:
    """Every store of every organisation with its cell's figures and the places it stands in."""
    return _stores_base(ws, _run_ids(ws), _table_key(ws, "places"), _table_key(ws, "stores"))


def place_ids_of_kind(ws: Workspace, kind: str) -> set[str]:
    """Ids of the places of one kind."""
    shapes = places_wgs84(ws)
    return set(shapes.loc[shapes["kind"] == kind, "place_id"])


COLUMNS = {
    "places": ("priority", "place_id", "name", "kind", "code", "harm", "incidents", "harm_per_km2", "forecast_harm",
               "change_year_pct", "gi_z", "gi_bin", "gi_class", "emerging_class", "emerging_label", "hot_cells",
               "rank", "rank_low", "rank_high", "lat", "lng", "easting", "northing"),
    "cells": ("priority", "cell", "places", "harm", "incidents", "forecast_harm", "gi_z", "gi_bin", "gi_class",
              "emerging_class", "emerging_label", "rank", "rank_low", "rank_high", "lat", "lng", "easting",
              "northing"),
    "stores": ("priority", "org_id", "store_id", "name", "postcode", "cell", "places", "harm", "incidents",
               "forecast_harm", "gi_z", "gi_bin", "gi_class", "emerging_class", "emerging_label", "lat", "lng",
               "easting", "northing"),
}


@dataclass(frozen=True)
class PriorityList:
    """One filtered priority list.

    Attributes
    ----------
    kind : str
        "places", "cells" or "stores".
    filters : dict
        The parsed query (see :data:`PRIORITY_PARAMS`).
    rows : pandas.DataFrame
        The top rows in priority order, columns :data:`COLUMNS` [kind]; ``cell``
        is the hexadecimal H3 index; WGS84 ``lat``/``lng`` and British National
        Grid ``easting``/``northing`` of the unit's centre (a store's location).
    total : int
        Rows matching the filters before the top N cut.
    """

    kind: str
    filters: dict
    rows: pd.DataFrame
    total: int


def area_exists(ws: Workspace, area_id: int | None) -> bool:
    """True when no area is asked for or the area exists (views answer 404 otherwise)."""
    return area_id is None or bool((operation_areas(ws)["area_id"] == area_id).any())


def _chosen_places(ws: Workspace, filters: dict) -> set[str] | None:
    chosen = None
    if filters.get("area") is not None:
        chosen = set(area_places(ws, filters["area"]))
    if filters.get("place_kind"):
        of_kind = place_ids_of_kind(ws, filters["place_kind"])
        chosen = of_kind if chosen is None else chosen & of_kind
    return chosen


def _common_mask(table: pd.DataFrame, filters: dict) -> np.ndarray:
    mask = np.ones(len(table), dtype=bool)
    if filters.get("min_harm") is not None:
        mask &= table["harm"].to_numpy(float) >= filters["min_harm"]
    if filters.get("hot"):
        mask &= table["gi_bin"].to_numpy() >= 1
    if filters.get("emerging"):
        mask &= (table["emerging_class"] == filters["emerging"]).to_numpy()
    return mask


def _place_mask(ws: Workspace, kind: str, table: pd.DataFrame, chosen: set[str]) -> np.ndarray:
    if kind == "places":
        return table["place_id"].isin(chosen).to_numpy()
    if kind == "stores":
        members = table["place_ids"].explode()
        return members.isin(chosen).groupby(level=0).any().reindex(table.index, fill_value=False).to_numpy()
    shapes = places_wgs84(ws)
    geoms = shapes.loc[shapes["place_id"].isin(chosen), "geometry"].to_numpy()
    resolution = int(require_run(ws, "scoring").row.settings.get("resolution", 9))
    return np.isin(table["cell"].to_numpy(np.uint64), polygons_to_cells(geoms, resolution))


def _finish(ws: Workspace, kind: str, rows: pd.DataFrame) -> pd.DataFrame:
    rows = rows.copy()
    rows.insert(0, "priority", np.arange(1, len(rows) + 1, dtype=np.int64))
    if kind == "cells":
        ids = rows["cell"].to_numpy(np.uint64)
        centres = h3v.cells_to_coordinates(ids) if len(ids) else None
        rows["lat"] = np.asarray(centres["lat"], dtype=float) if len(ids) else np.empty(0)
        rows["lng"] = np.asarray(centres["lng"], dtype=float) if len(ids) else np.empty(0)
        rows["cell"] = cells_to_strings(ids) if len(ids) else np.empty(0, dtype=object)
    if kind == "stores":
        names = places_wgs84(ws).set_index("place_id")["name"]
        rows["places"] = ["; ".join(names.get(p, p) for p in ids) for ids in rows["place_ids"]]
    easting, northing = wgs84_to_bng(rows["lat"].to_numpy(float), rows["lng"].to_numpy(float))
    rows["easting"], rows["northing"] = np.round(easting, 2), np.round(northing, 2)
    return rows[list(COLUMNS[kind])].reset_index(drop=True)


def priority_list(ws: Workspace, filters: dict) -> PriorityList:
    """Filter a base table and cut its top N (see the module docstring for the order).

    Parameters
    ----------
    ws : Workspace
    filters : dict
        As returned by ``parse_query(args, PRIORITY_PARAMS)``.

    Returns
    -------
    PriorityList
    """
    kind = filters.get("kind") or "places"
    table = {"places": place_table, "cells": cell_table, "stores": store_table}[kind](ws)
    mask = _common_mask(table, filters)
    chosen = _chosen_places(ws, filters)
    if chosen is not None:
        mask &= _place_mask(ws, kind, table, chosen)
    if kind == "stores" and filters.get("org"):
        mask &= (table["org_id"] == filters["org"]).to_numpy()
    top = int(filters.get("top") or PRIORITY_PARAMS["top"]["default"])
    picked = np.flatnonzero(mask)[:top]
    return PriorityList(kind, dict(filters), _finish(ws, kind, table.iloc[picked]), int(mask.sum()))


def priority_geometries(ws: Workspace, plist: PriorityList) -> gpd.GeoSeries:
    """WGS84 geometry of each row: place polygons, H3 hexagons, store points."""
    rows = plist.rows
    if plist.kind == "places":
        shapes = places_wgs84(ws).set_index("place_id").geometry
        return gpd.GeoSeries(shapes.reindex(rows["place_id"]).to_numpy(), crs=4326)
    if plist.kind == "cells":
        ids = strings_to_cells(rows["cell"])
        wkb = h3v.cells_to_wkb_polygons(ids).to_pylist() if len(ids) else []
        return gpd.GeoSeries(shapely.from_wkb(np.asarray(wkb, dtype=object)), crs=4326)
    return gpd.GeoSeries(gpd.points_from_xy(rows["lng"], rows["lat"]), crs=4326)


def row_labels(plist: PriorityList) -> tuple[pd.Series, pd.Series]:
    """A name and a one-line description per row (KML placemarks, map popups)."""
    rows = plist.rows
    if rows.empty:
        return pd.Series([], dtype=object), pd.Series([], dtype=object)
    if plist.kind == "places":
        names = rows["name"].astype(str)
    elif plist.kind == "cells":
        names = "Cell " + rows["cell"].astype(str)
    else:
        names = rows["name"].fillna(rows["store_id"]).astype(str) + " (" + rows["org_id"].astype(str) + ")"
    forecast = rows["forecast_harm"].map(lambda v: "–" if pd.isna(v) else f"{v:,.0f}")
    descriptions = ("Priority " + rows["priority"].astype(str) + "; harm " + rows["harm"].map("{:,.0f}".format)
                    + "; forecast harm " + forecast + "; " + rows["gi_class"].astype(str) + "; "
                    + rows["emerging_label"].fillna("no emerging class").astype(str))
    return names.reset_index(drop=True), descriptions.reset_index(drop=True)
