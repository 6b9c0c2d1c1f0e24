"""Places (town centres, LSOAs, wards, custom areas) and stores in the catalogue."""

from __future__ import annotations

import contextlib

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from harmmap.geo.cells import cells_to_strings, points_to_cells
from harmmap.store import catalog
from harmmap.store.workspace import Workspace, connect, now_utc, transaction, workspace_resolution, write_lock

BNG = "EPSG:27700"


def save_places(ws: Workspace, places: gpd.GeoDataFrame, source_name: str) -> int:
    """Insert or replace places (EPSG:27700, columns place_id, kind, name, code, area_km2); return count."""
    bounds = shapely.bounds(places.geometry.to_numpy())
    rows = [
        (pid, kind, name, code, float(area), *map(float, box), shapely.to_wkb(geom), source_name, now_utc())
        for pid, kind, name, code, area, box, geom in zip(
            places["place_id"], places["kind"], places["name"], places["code"].astype("object"),
            places["area_km2"], bounds, places.geometry,
        )
    ]
    with write_lock(ws), contextlib.closing(connect(ws)) as conn, transaction(conn):
        conn.executemany(
            "INSERT OR REPLACE INTO places(place_id, kind, name, code, area_km2, minx, miny, maxx, maxy,"
            " geometry_wkb, source_name, imported_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [(r[0], r[1], r[2], None if pd.isna(r[3]) else str(r[3]), *r[4:]) for r in rows],
        )
    return len(rows)


def load_places(ws: Workspace, kinds: list[str] | None = None) -> gpd.GeoDataFrame:
    """Return stored places as a GeoDataFrame in EPSG:27700 (all kinds by default)."""
    sql = "SELECT place_id, kind, name, code, area_km2, geometry_wkb FROM places"
    args: list = []
    if kinds:
        sql += f" WHERE kind IN ({','.join('?' * len(kinds))})"
        args = list(kinds)
    with contextlib.closing(connect(ws)) as conn:
        frame = pd.read_sql_query(sql + " ORDER BY place_id", conn, params=args)
    geometry = shapely.from_wkb(frame.pop("geometry_wkb").to_numpy()) if len(frame) else []
    return gpd.GeoDataFrame(frame, geometry=gpd.GeoSeries(geometry, crs=BNG), crs=BNG)


def save_stores(ws: Workspace, org_id: str, stores: pd.DataFrame) -> int:
    """Insert or replace an organisation's stores (columns store_id, name, postcode, lat, lng, easting, northing)."""
    cells = cells_to_strings(points_to_cells(stores["lat"].to_numpy(float), stores["lng"].to_numpy(float),
                                             workspace_resolution(ws)))
    text = lambda col: [None if pd.isna(v) else str(v) for v in stores[col]] if col in stores else [None] * len(stores)
    rows = list(zip([org_id] * len(stores), text("store_id"), text("name"), text("postcode"),
                    stores["lat"].astype(float), stores["lng"].astype(float),
                    stores["easting"].astype(float), stores["northing"].astype(float), cells,
                    [now_utc()] * len(stores)))
    with write_lock(ws), contextlib.closing(connect(ws)) as conn, transaction(conn):
        catalog.ensure_organisation(conn, org_id)
        conn.executemany(
            "INSERT OR REPLACE INTO stores(org_id, store_id, name, postcode, lat, lng, easting, northing, cell,"
            " imported_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [tuple(float(v) if isinstance(v, np.floating) else v for v in row) for row in rows],
        )
    return len(rows)


def load_stores(ws: Workspace, org_id: str | None = None) -> pd.DataFrame:
    """Return stored stores (all organisations by default)."""
    sql = "SELECT org_id, store_id, name, postcode, lat, lng, easting, northing, cell FROM stores"
    args = []
    if org_id is not None:
        sql += " WHERE org_id = ?"
        args = [org_id]
    with contextlib.closing(connect(ws)) as conn:
        return pd.read_sql_query(sql + " ORDER BY org_id, store_id", conn, params=args)
