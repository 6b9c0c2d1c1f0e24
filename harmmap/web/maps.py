"""Map data for the planner map: a per-run spatial index and compact, bounded JSON payloads.

How one view stays small at national scale (3M res-9 cells):

* **Levels.** When a run is first shown, its cells are indexed once (cached by run
  ids): the native cells sorted by id, their centres, and parent levels at H3
  resolutions 5 .. native-1 (each native cell's parent position).  H3 descendants
  are contiguous in id order, so a parent's children are one slice.
* **Zoom -> resolution** (:data:`ZOOM_RESOLUTION`): hexagons about 12-30 px across
  on screen (res 5 up to zoom 7, res 9 from zoom 12), so a 1400 x 900 px view
  holds at most about 8,000 of them (~300 kB).
* **Bounding box**: each level keeps its cells sorted by latitude; a request is
  a ``searchsorted`` on latitude plus a longitude mask: no loop over cells.
* **Aggregation** at coarse levels: harm and incidents are summed over the
  native cells (exactly conserved); the Gi* bin and the emerging class of a
  parent are the *strongest* class among its native cells (hot wins over cold,
  99 % over 95 % over 90 %; emerging classes in :data:`EMERGING_ORDER`), since a
  Gi* statistic is only defined at the scoring resolution.
* **Payload**: hex ids plus parallel arrays; hexagons are drawn by the browser
  (h3-js).  Should a request still exceed ``max_bytes`` (a huge box at a high
  zoom), it is coarsened a level at a time, and at the coarsest level truncated
  to the highest-harm cells (``coarsened`` / ``truncated`` say so).
* **Filters** (period, crime type, operation area) become a native harm vector
  (``bincount`` over the run's long tables, cached in a small LRU).  Gi* and
  emerging classes stay all-crime, all-period: they were computed that way.

This module holds the index, its levels, filtering and box queries; the payloads are
built in :mod:`harmmap.web.map_json` (cells) and :mod:`harmmap.web.map_details`
(details, series, boundaries, stores, meta).
"""

from __future__ import annotations

import sys
import threading
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Callable

import h3ronpy
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from h3ronpy.vector import cells_to_coordinates

from harmmap.geo.cells import cells_to_parents
from harmmap.geo.study_area import places_to_cells
from harmmap.report.palettes import EMERGING_ORDER
from harmmap.scoring.emerging import codes_to_names
from harmmap.store.results import load_result
from harmmap.store.workspace import Workspace
from harmmap.web.data import Run, latest_run

LAYERS = ("harm", "gi", "emerging")
#: H3 resolution drawn at each Leaflet zoom 0..20 (capped at the run's resolution).
ZOOM_RESOLUTION = (5, 5, 5, 5, 5, 5, 5, 5, 6, 7, 7, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13)
COARSEST = 5
HARM_CLASSES = 7
TOP_N = 10
_EDGE_KM = {5: 9.85, 6: 3.72, 7: 1.41, 8: 0.53, 9: 0.2, 10: 0.076, 11: 0.029, 12: 0.011, 13: 0.004}
EMERGING_CODES = np.arange(-8, 9)
#: priority of each Gi* bin -3..3 (lower = stronger; hot before cold, 0 last)
GI_PRIORITY = np.array([3, 4, 5, 6, 2, 1, 0])
EMERGING_PRIORITY = np.array([EMERGING_ORDER.index(n) for n in codes_to_names(EMERGING_CODES)])


class _Lru:
    """A small thread-safe LRU of computed arrays."""

    def __init__(self, size: int):
        self.size, self.items, self.lock = size, OrderedDict(), threading.Lock()

    def get(self, key, make: Callable):
        with self.lock:
            if key in self.items:
                self.items.move_to_end(key)
                return self.items[key]
        value = make()
        with self.lock:
            self.items[key] = value
            while len(self.items) > self.size:
                self.items.popitem(last=False)
        return value


@dataclass(frozen=True, slots=True)
class Level:
    """The cells of one H3 resolution, with centres sorted by latitude for box queries."""

    resolution: int
    cells: np.ndarray
    lat: np.ndarray
    lng: np.ndarray
    by_lat: np.ndarray
    lat_sorted: np.ndarray
    parent_of: np.ndarray | None  # native position -> position here (None at the native level)
    lng_span: float = 360.0


@dataclass(frozen=True, slots=True)
class Rows:
    """Long-table rows (cell position, period, crime type, harm, incidents) sorted by position."""

    pos: np.ndarray
    period: np.ndarray
    crime: np.ndarray | None
    harm: np.ndarray
    incidents: np.ndarray
    gi_bin: np.ndarray | None = None


@dataclass(frozen=True, slots=True)
class Values:
    """Native harm and incidents under one filter, the area mask, and the descending harm order."""

    harm: np.ndarray
    incidents: np.ndarray
    mask: np.ndarray | None
    order: np.ndarray


@dataclass(frozen=True, slots=True)
class LevelValues:
    """What one level shows under one filter."""

    harm: np.ndarray
    incidents: np.ndarray
    gi: np.ndarray
    emerging: np.ndarray
    breaks: list


@dataclass(frozen=True, slots=True)
class MapIndex:
    """Everything a map request needs about one scoring run (and the latest trends run)."""

    key: tuple
    run: Run
    trends: Run | None
    native: int
    cells: np.ndarray
    harm: np.ndarray
    incidents: np.ndarray
    gi: np.ndarray
    emerging: np.ndarray
    score_row: np.ndarray
    trend_row: np.ndarray
    levels: dict
    periods: tuple
    period_rows: Rows
    trend_rows: Rows | None
    lazy: dict = field(default_factory=dict)
    cache: _Lru = field(default_factory=lambda: _Lru(8))


@dataclass(frozen=True, slots=True)
class MapQuery:
    """One request of the cells API, already validated."""

    bbox: tuple[float, float, float, float]
    zoom: int
    layer: str = "harm"
    period: str | None = None
    crime_type: str | None = None
    area: tuple[str, ...] | None = None


def _level(native_cells: np.ndarray, resolution: int, native: int) -> Level:
    parent_of = None
    cells = native_cells
    if resolution != native:
        parents = cells_to_parents(native_cells, resolution)  # non-decreasing: native cells are sorted
        starts = np.flatnonzero(np.r_[True, parents[1:] != parents[:-1]]) if len(parents) else np.empty(0, np.int64)
        cells = parents[starts]
        parent_of = (np.cumsum(np.r_[False, parents[1:] != parents[:-1]]) if len(parents) else starts).astype(np.int32)
    coords = cells_to_coordinates(cells)
    lat = np.asarray(coords.column("lat"), dtype=np.float32)
    lng = np.asarray(coords.column("lng"), dtype=np.float32)
    by_lat = np.argsort(lat, kind="stable").astype(np.int32)
    span = float(lng.max() - lng.min()) if len(lng) else 360.0
    return Level(resolution, cells, lat, lng, by_lat, lat[by_lat], parent_of, span)


def parse_cells(units) -> np.ndarray:
    """Hex H3 strings (a pandas Series or list) to uint64, vectorised."""
    return np.asarray(h3ronpy.cells_parse(pa.array(pd.Series(units, dtype="str").array)), dtype=np.uint64)


def _codes(values: pd.Series, labels: tuple) -> np.ndarray:
    """Position of each value in ``labels`` (-1 when absent), vectorised in Arrow."""
    array = pa.array(pd.Series(values, dtype="str").array)
    found = pc.index_in(array, value_set=pa.array(list(labels), type=array.type))
    return np.asarray(found.fill_null(-1), dtype=np.int16)


def _rows(frame: pd.DataFrame, kind_col: str, cells: np.ndarray, periods: tuple, crimes: tuple | None) -> Rows:
    frame = frame[frame[kind_col] == "cell"]
    ids = parse_cells(frame["unit"]) if len(frame) else np.empty(0, np.uint64)
    pos = np.minimum(np.searchsorted(cells, ids), max(len(cells) - 1, 0))
    keep = np.flatnonzero(cells[pos] == ids) if len(cells) else np.empty(0, np.int64)
    keep = keep[np.argsort(pos[keep], kind="stable")]
    period = _codes(frame["period"], periods)[keep]
    crime = _codes(frame["crime_type"], crimes)[keep] if crimes else None
    gi_bin = frame["gi_bin"].to_numpy(np.int8)[keep] if "gi_bin" in frame else None
    return Rows(pos[keep].astype(np.int32), period, crime, frame["harm"].to_numpy(float)[keep],
                frame["incidents"].to_numpy(np.int32)[keep], gi_bin)


def _align(cells: np.ndarray, table_cells: np.ndarray) -> np.ndarray:
    """Row of each cell in a table (-1 when absent)."""
    order = np.argsort(table_cells)
    pos = np.minimum(np.searchsorted(table_cells[order], cells), max(len(table_cells) - 1, 0))
    found = table_cells[order][pos] == cells if len(table_cells) else np.zeros(len(cells), bool)
    return np.where(found, order[pos], -1).astype(np.int32)


def build_index(run: Run, trends: Run | None) -> MapIndex:
    """Index one scoring run (and the trends run, for emerging classes) for map requests."""
    scored = run.cells["cell"].to_numpy(np.uint64)
    patterned = np.empty(0, np.uint64)
    if trends is not None:
        patterned = trends.cells["cell"].to_numpy(np.uint64)[trends.cells["emerging_code"].to_numpy() != 0]
    scored_sorted = np.sort(scored)
    at = np.minimum(np.searchsorted(scored_sorted, patterned), max(len(scored) - 1, 0))
    extra = patterned[scored_sorted[at] != patterned] if len(scored) else patterned
    cells = np.sort(np.concatenate([scored_sorted, extra])) if len(extra) else scored_sorted
    native = int(run.row.metadata.get("resolution") or h3ronpy.cells_resolution(cells[:1])[0].as_py())
    score_row, trend_row = _align(cells, scored), np.full(len(cells), -1, np.int32)
    pick = lambda col, rows, dtype: np.where(rows >= 0, col.to_numpy(dtype)[rows], 0).astype(dtype)  # noqa: E731
    if trends is not None:
        trend_row = _align(cells, trends.cells["cell"].to_numpy(np.uint64))
    emerging = pick(trends.cells["emerging_code"], trend_row, np.int8) if trends is not None else np.zeros(
        len(cells), np.int8)
    periods = tuple(run.row.metadata.get("window", {}).get("periods") or sorted(run.periods["period"].unique()))
    resolutions = range(min(COARSEST, native), native + 1)
    with ThreadPoolExecutor(max_workers=2) as pool:  # h3ronpy and numpy sorts release the GIL
        levels = dict(zip(resolutions, pool.map(lambda r: _level(cells, r, native), resolutions)))
    trend_rows = None
    if trends is not None:
        trend_rows = _rows(trends.periods, "kind", cells, tuple(trends.row.metadata.get("periods") or
                                                                 sorted(trends.periods["period"].unique())), None)
    return MapIndex((run.row.run_id, trends.row.run_id if trends else None), run, trends, native, cells,
                    pick(run.cells["harm"], score_row, np.float64), pick(run.cells["incidents"], score_row, np.int64),
                    pick(run.cells["gi_bin"], score_row, np.int8), emerging, score_row, trend_row, levels, periods,
                    _rows(run.periods, "unit_kind", cells, periods, None), trend_rows)


def crime_rows(index: MapIndex, load: Callable[[], pd.DataFrame]) -> tuple[tuple, Rows | None]:
    """The run's crime types and its (cell, period, crime type) rows, loaded on first use."""
    def make():
        frame = load()
        if frame is None or frame.empty:
            return (), None
        crimes = tuple(sorted(frame["crime_type"].unique()))
        return crimes, _rows(frame, "unit_kind", index.cells, index.periods, crimes)
    with _INDEX_LOCK:
        if "crime" not in index.lazy:
            index.lazy["crime"] = make()
    return index.lazy["crime"]


def filtered_values(index: MapIndex, period: str | None, crime: tuple[int, Rows] | None,
                    area_mask: np.ndarray | None, area_key: tuple | None = None) -> Values:
    """Native harm and incidents for one period / crime type (code, rows) / area (cached)."""
    key = ("values", period, crime[0] if crime else None, area_key)

    def make() -> Values:
        harm, incidents = index.harm, index.incidents
        if period is not None or crime is not None:
            rows = crime[1] if crime else index.period_rows
            keep = np.ones(len(rows.pos), bool) if crime is None else rows.crime == crime[0]
            if period is not None:
                keep &= rows.period == index.periods.index(period)
            harm = np.bincount(rows.pos[keep], weights=rows.harm[keep], minlength=len(index.cells))
            incidents = np.bincount(rows.pos[keep], weights=rows.incidents[keep],
                                    minlength=len(index.cells)).astype(np.int64)
        if area_mask is not None:
            harm, incidents = np.where(area_mask, harm, 0.0), np.where(area_mask, incidents, 0)
        return Values(harm, incidents, area_mask, np.argsort(-harm, kind="stable").astype(np.int32))
    return index.cache.get(key, make)


def strongest(codes: np.ndarray, parent_of: np.ndarray, size: int, priority: np.ndarray, offset: int,
               mask: np.ndarray | None) -> np.ndarray:
    """Per parent, the strongest non-zero class of its children (0 when none)."""
    keep = codes != 0 if mask is None else (codes != 0) & mask
    best = np.full(size, len(priority), dtype=np.int64)
    np.minimum.at(best, parent_of[keep], priority[codes[keep].astype(np.int64) + offset])
    lookup = np.append(np.argsort(priority) - offset, 0).astype(np.int8)
    return lookup[best]


def level_values(index: MapIndex, resolution: int, values: Values, key: tuple) -> LevelValues:
    """Harm, incidents and classes of one level under one filter (cached)."""
    def make() -> LevelValues:
        level = index.levels[resolution]
        gi, emerging = index.gi, index.emerging
        if level.parent_of is None:
            harm, incidents = values.harm, values.incidents
            if values.mask is not None:
                gi, emerging = np.where(values.mask, gi, 0), np.where(values.mask, emerging, 0)
        else:
            size = len(level.cells)
            harm = np.bincount(level.parent_of, weights=values.harm, minlength=size)
            incidents = np.bincount(level.parent_of, weights=values.incidents, minlength=size).astype(np.int64)
            gi = strongest(gi, level.parent_of, size, GI_PRIORITY, 3, values.mask)
            emerging = strongest(emerging, level.parent_of, size, EMERGING_PRIORITY, 8, values.mask)
        positive = harm[harm > 0]
        breaks = []
        if positive.size:
            breaks = np.unique(np.quantile(positive, np.arange(1, HARM_CLASSES) / HARM_CLASSES)).round(2).tolist()
        return LevelValues(harm, incidents, gi, emerging, breaks)
    return index.cache.get(("level", resolution) + key, make)


def shown(layer: str, lv: LevelValues, idx: np.ndarray) -> np.ndarray:
    if layer == "gi":
        return lv.gi[idx] != 0
    if layer == "emerging":
        return lv.emerging[idx] != 0
    return (lv.harm[idx] > 0) | (lv.incidents[idx] > 0)


def in_box(level: Level, bbox: tuple, idx: np.ndarray | None = None) -> np.ndarray:
    """Positions of the level's cells whose centre lies in ``bbox`` padded by one hexagon
    (``idx`` given: a mask of those positions instead)."""
    west, south, east, north = bbox
    pad_lat = _EDGE_KM.get(level.resolution, 10.0) * 2 / 111.0
    pad_lng = pad_lat / max(np.cos(np.radians(min(abs(south), abs(north), 89.0))), 0.05)
    if idx is not None:
        lat, lng = level.lat[idx], level.lng[idx]
        return (lat >= south - pad_lat) & (lat <= north + pad_lat) & (lng >= west - pad_lng) & (lng <= east + pad_lng)
    a, b = np.searchsorted(level.lat_sorted, np.array([south - pad_lat, north + pad_lat], np.float32))
    cand = level.by_lat[a:b]
    lng = level.lng[cand]
    return np.sort(cand[(lng >= west - pad_lng) & (lng <= east + pad_lng)])


def resolution_for_zoom(zoom: int, native: int) -> int:
    """The H3 resolution drawn at a Leaflet zoom."""
    return min(ZOOM_RESOLUTION[max(0, min(zoom, len(ZOOM_RESOLUTION) - 1))], native)


_INDEX_LOCK = threading.RLock()
_INDEXES: OrderedDict = OrderedDict()


def get_index(root: str, run: Run, trends: Run | None) -> MapIndex:
    """The index of (scoring run, trends run), built once per process (two kept)."""
    key = (root, run.row.run_id, trends.row.run_id if trends else None)
    with _INDEX_LOCK:
        if key not in _INDEXES:
            _INDEXES[key] = build_index(run, trends)
            while len(_INDEXES) > 2:
                _INDEXES.popitem(last=False)
        return _INDEXES[key]


def area_mask(index: MapIndex, places_wgs84, place_ids: tuple[str, ...]) -> np.ndarray:
    """Native cells whose centre lies in one of the places (cached by the place list)."""
    def make() -> np.ndarray:
        chosen = places_wgs84[places_wgs84["place_id"].isin(place_ids)]
        _, cells = places_to_cells(chosen, index.native)
        return np.isin(index.cells, cells)
    return index.cache.get(("area", place_ids), make)


def workspace_crime_rows(index: MapIndex, ws: Workspace) -> tuple[tuple, Rows | None]:
    """:func:`crime_rows` of the index's scoring run, read from the workspace on first use."""
    return crime_rows(index, lambda: load_result(ws, index.key[0], tables=("crime_types",))[1]["crime_types"])


def warm_index(app) -> MapIndex | None:
    """Build the map index of the app's latest scoring and trends runs (and the crime-type rows the page
    needs), so the first ``/map`` after start does not wait for it.

    Meant for a background thread (``harmmap serve``): a request arriving meanwhile waits for this build
    instead of starting its own.  Any failure is written to stderr and None returned; nothing is raised.
    """
    try:
        ws = app.extensions["harmmap"].ws
        run = latest_run(ws, "scoring")
        if run is None:
            return None
        index = get_index(str(ws.root), run, latest_run(ws, "trends"))
        workspace_crime_rows(index, ws)
        return index
    except Exception as exc:  # noqa: BLE001 - a warm-up must never take the server down
        print(f"harmmap: map warm-up failed ({type(exc).__name__}: {exc}); the map is built on first use",
              file=sys.stderr, flush=True)
        return None
