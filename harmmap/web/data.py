"""Read what the pages show: the latest scoring and trends runs, places, stores, operation areas.

Tables are loaded once per run id and cached in the process (a new run is picked
up on the next request); geometry is converted to WGS84 once.  Nothing here
computes statistics.
"""

from __future__ import annotations

import contextlib
import threading
from dataclasses import dataclass

import geopandas as gpd
import pandas as pd

from harmmap.errors import WorkspaceError
from harmmap.store.places import load_places, load_stores
from harmmap.store.results import RunRow, list_runs, load_result
from harmmap.store.workspace import Workspace, connect

_LOCK = threading.Lock()
_CACHE: dict[tuple, object] = {}
_LOADING: dict[tuple, threading.Lock] = {}
_STORES: dict[tuple, tuple] = {}  # (root, org_id) -> (stores table version, frame): one version kept


@dataclass(frozen=True, slots=True)
class Run:
    """One persisted run's row and tables."""

    row: RunRow
    cells: pd.DataFrame
    places: pd.DataFrame
    periods: pd.DataFrame


def _cached(key: tuple, load):
    """``load()`` once per key: a caller arriving while another loads the same key waits for that load
    (a national run is not read twice when the map warm-up and the first request meet)."""
    with _LOCK:
        if key in _CACHE:
            return _CACHE[key]
        gate = _LOADING.setdefault(key, threading.Lock())
    with gate:
        with _LOCK:
            if key in _CACHE:
                return _CACHE[key]
        try:
            value = load()
        finally:
            with _LOCK:
                _LOADING.pop(key, None)
        with _LOCK:
            if len(_CACHE) > 16:
                _CACHE.clear()
            _CACHE[key] = value
    return value


def latest_run(ws: Workspace, kind: str = "scoring") -> Run | None:
    """The newest run of ``kind`` ("scoring" or "trends"), or None when there is none."""
    runs = list_runs(ws, kind)
    if not runs:
        return None
    row = runs[0]

    def load() -> Run:
        _, tables = load_result(ws, row.run_id, kind=kind)
        return Run(row, tables["cells"], tables["places"], tables["periods"])

    return _cached((str(ws.root), "run", row.run_id), load)


def require_run(ws: Workspace, kind: str = "scoring") -> Run:
    """Like :func:`latest_run` but raise WorkspaceError (shown as a 400 page) when missing."""
    run = latest_run(ws, kind)
    if run is None:
        raise WorkspaceError(f"this workspace has no {kind} run yet", given=str(ws.root),
                             fix=f"run `harmmap {'score' if kind == 'scoring' else 'trends'}`")
    return run


def _places_key(ws: Workspace) -> tuple:
    with contextlib.closing(connect(ws)) as conn:
        count, changed = conn.execute("SELECT count(*), max(rowid) FROM places").fetchone()
    return (str(ws.root), "places", count, changed)


def places_wgs84(ws: Workspace) -> gpd.GeoDataFrame:
    """All places (place_id, kind, name, code, area_km2, geometry) in WGS84."""
    return _cached(_places_key(ws), lambda: load_places(ws).to_crs("EPSG:4326"))


def _stores_version(ws: Workspace) -> tuple:
    with contextlib.closing(connect(ws)) as conn:
        return tuple(conn.execute("SELECT count(*), max(rowid), max(imported_at) FROM stores").fetchone())


def stores_of(ws: Workspace, org_id: str | None) -> pd.DataFrame:
    """The stores of one organisation (all organisations when ``org_id`` is None).

    Cached per organisation until the stores table changes (its row count, last rowid or last import
    time: an import inserts or replaces rows, which moves them); only the newest version is kept, apart
    from the run cache.  The frame is shared between requests: do not modify it in place.
    """
    key, version = (str(ws.root), org_id), _stores_version(ws)
    with _LOCK:
        seen = _STORES.get(key)
    if seen is not None and seen[0] == version:
        return seen[1]
    frame = load_stores(ws, org_id)
    with _LOCK:
        _STORES[key] = (version, frame)
    return frame


def operation_areas(ws: Workspace) -> pd.DataFrame:
    """Operation areas: area_id, name, created_by, created_at, places (list of place ids)."""
    with contextlib.closing(connect(ws)) as conn:
        areas = pd.read_sql_query("SELECT area_id, name, created_by, created_at FROM operation_areas ORDER BY name",
                                  conn)
        members = pd.read_sql_query("SELECT area_id, place_id FROM operation_area_places ORDER BY place_id", conn)
    grouped = members.groupby("area_id")["place_id"].apply(list)
    areas["places"] = [grouped.get(a, []) for a in areas["area_id"]]
    return areas


def area_places(ws: Workspace, area_id: int | None) -> list[str] | None:
    """Place ids of one operation area (None: no area chosen); raise when the area does not exist."""
    if area_id is None:
        return None
    areas = operation_areas(ws)
    match = areas[areas["area_id"] == area_id]
    if match.empty:
        raise WorkspaceError("no such operation area", given=str(area_id), fix="see the operation areas page")
    return list(match["places"].iloc[0])
