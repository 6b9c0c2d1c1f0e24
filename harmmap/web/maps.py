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
"""

from __future__ import annotations

import json
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
import shapely
from h3ronpy.vector import cells_to_coordinates

from harmmap.errors import ConfigError
from harmmap.geo.cells import cells_to_parents
from harmmap.geo.study_area import places_to_cells
from harmmap.report.palettes import EMERGING_ORDER, EMERGING_PALETTE, GI_BIN_LABELS, GI_PALETTE, sequential_palette
from harmmap.scoring.emerging import codes_to_names
from harmmap.web.data import Run

LAYERS = ("harm", "gi", "emerging")
#: H3 resolution drawn at each Leaflet zoom 0..20 (capped at the run's resolution).
ZOOM_RESOLUTION = (5, 5, 5, 5, 5, 5, 5, 5, 6, 7, 7, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13)
COARSEST = 5
HARM_CLASSES = 7
TOP_N = 10
_EDGE_KM = {5: 9.85, 6: 3.72, 7: 1.41, 8: 0.53, 9: 0.2, 10: 0.076, 11: 0.029, 12: 0.011, 13: 0.004}
_CODES = np.arange(-8, 9)
#: priority of each Gi* bin -3..3 (lower = stronger; hot before cold, 0 last)
_GI_PRIORITY = np.array([3, 4, 5, 6, 2, 1, 0])
_EMERGING_PRIORITY = np.array([EMERGING_ORDER.index(n) for n in codes_to_names(_CODES)])


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
    cache: _Lru = field(default_factory=lambda: _Lru(12))


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
        parent_of = (np.cumsum(np.r_[False, parents[1:] != parents[:-1]]) if len(parents) else starts).astype(np.int64)
    coords = cells_to_coordinates(cells)
    lat = np.asarray(coords.column("lat"), dtype=np.float32)
    lng = np.asarray(coords.column("lng"), dtype=np.float32)
    by_lat = np.argsort(lat, kind="stable")
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
    return Rows(pos[keep].astype(np.int64), period, crime, frame["harm"].to_numpy(float)[keep],
                frame["incidents"].to_numpy(np.int64)[keep], gi_bin)


def _align(cells: np.ndarray, table_cells: np.ndarray) -> np.ndarray:
    """Row of each cell in a table (-1 when absent)."""
    order = np.argsort(table_cells)
    pos = np.minimum(np.searchsorted(table_cells[order], cells), max(len(table_cells) - 1, 0))
    found = table_cells[order][pos] == cells if len(table_cells) else np.zeros(len(cells), bool)
    return np.where(found, order[pos], -1)


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
    score_row, trend_row = _align(cells, scored), np.full(len(cells), -1)
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
        return Values(harm, incidents, area_mask, np.argsort(-harm, kind="stable"))
    return index.cache.get(key, make)


def _strongest(codes: np.ndarray, parent_of: np.ndarray, size: int, priority: np.ndarray, offset: int,
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
            gi = _strongest(gi, level.parent_of, size, _GI_PRIORITY, 3, values.mask)
            emerging = _strongest(emerging, level.parent_of, size, _EMERGING_PRIORITY, 8, values.mask)
        positive = harm[harm > 0]
        breaks = []
        if positive.size:
            breaks = np.unique(np.quantile(positive, np.arange(1, HARM_CLASSES) / HARM_CLASSES)).round(2).tolist()
        return LevelValues(harm, incidents, gi, emerging, breaks)
    return index.cache.get(("level", resolution) + key, make)


def _shown(layer: str, lv: LevelValues, idx: np.ndarray) -> np.ndarray:
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


def _top(index: MapIndex, q: MapQuery, values: Values, native: LevelValues, limit: int = TOP_N) -> np.ndarray:
    """Native positions of the highest-harm cells shown in the box (scans the harm order in growing chunks)."""
    level, found, start, size = index.levels[index.native], [], 0, 512
    while start < len(values.order) and len(found) < limit:
        idx = values.order[start:start + size]
        ok = in_box(level, q.bbox, idx) & _shown(q.layer, native, idx)
        found.extend(idx[ok][:limit - len(found)].tolist())
        start, size = start + size, size * 4
    return np.asarray(found, dtype=np.int64)


def _hex(cells: np.ndarray) -> list[str]:
    return h3ronpy.cells_to_string(np.asarray(cells, np.uint64)).to_pylist() if len(cells) else []


def _place_names(index: MapIndex) -> np.ndarray:
    """Place names of each scoring-table row (object array, built once)."""
    if "names" not in index.lazy:
        cells = index.run.cells
        names = cells["places"].fillna("").astype(str) if "places" in cells else pd.Series([""] * len(cells))
        index.lazy["names"] = np.append(names.to_numpy(dtype=object), "")  # row -1 -> ""
    return index.lazy["names"]


def _entries(index: MapIndex, pos: np.ndarray, values: Values, native: LevelValues) -> list[dict]:
    names = _place_names(index)[index.score_row[pos]]
    return [{"cell": c, "harm": round(float(values.harm[p]), 2), "incidents": int(values.incidents[p]),
             "gi_bin": int(native.gi[p]), "emerging": int(native.emerging[p]), "places": name}
            for c, p, name in zip(_hex(index.cells[pos]), pos, names)]


_HEX_DIGITS = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)
_NIBBLES = np.arange(56, -4, -4).astype(np.uint64)  # the 15 hex digits of an H3 index (top nibble is 0)
_POW10 = 10 ** np.arange(1, 19, dtype=np.int64)


def json_hex(cells: np.ndarray) -> bytes:
    """A JSON array of the cells' hex ids, written by numpy into one buffer (no Python string per cell)."""
    if len(cells) == 0:
        return b"[]"
    out = np.empty((len(cells), 18), np.uint8)
    out[:, 0] = out[:, 16] = ord('"')
    out[:, 17] = ord(",")
    out[:, 1:16] = _HEX_DIGITS[((np.asarray(cells, np.uint64)[:, None] >> _NIBBLES) & np.uint64(15)).astype(np.intp)]
    return b"[" + out.tobytes()[:-1] + b"]"


def json_fixed(values: np.ndarray, decimals: int = 0) -> bytes:
    """A JSON array of integers (``values`` as int64) or of fixed-point numbers (``values`` in units of
    10**-decimals), formatted digit by digit in numpy: 5-10x faster than ``json.dumps`` of a list."""
    v = np.asarray(values, np.int64)
    if v.size == 0:
        return b"[]"
    neg, rest = v < 0, np.abs(v)
    digits = np.searchsorted(_POW10, rest // 10 ** decimals, side="right") + 1
    width = digits + neg + (decimals + 1 if decimals else 0)
    ends = np.cumsum(width + 1)
    buf = np.full(int(ends[-1]), ord(","), np.uint8)
    last = ends - 2
    for j in range(decimals):
        buf[last - j] = 48 + rest % 10
        rest = rest // 10
    if decimals:
        buf[last - decimals] = ord(".")
        last = last - decimals - 1
    for j in range(int(digits.max())):
        live = digits > j
        buf[last[live] - j] = 48 + rest[live] % 10
        rest = rest // 10
    buf[(ends - width - 1)[neg]] = ord("-")
    return b"[" + buf[:-1].tobytes() + b"]"


def json_numbers(values: np.ndarray) -> bytes:
    """Values rounded to 2 decimals as a JSON array (integers when all are whole)."""
    hundredths = np.round(np.asarray(values, float) * 100).astype(np.int64)
    if not (hundredths % 100).any():
        return json_fixed(hundredths // 100)
    return json_fixed(hundredths, 2)


def _body(payload: dict, level: Level, lv: LevelValues, sel: np.ndarray) -> bytes:
    payload.update(count=int(len(sel)), breaks=lv.breaks)
    head = json.dumps(payload, separators=(",", ":"), allow_nan=False).encode()[:-1]
    return b"".join([head, b',"cells":', json_hex(level.cells[sel]), b',"harm":', json_numbers(lv.harm[sel]),
                     b',"incidents":', json_fixed(lv.incidents[sel]), b',"gi_bin":', json_fixed(lv.gi[sel]),
                     b',"emerging":', json_fixed(lv.emerging[sel]), b"}"])


def _too_many(level: Level, bbox: tuple, max_bytes: int) -> bool:
    """Cheap upper-bound test (latitude band x longitude share) that a level holds far too many cells for
    the budget, so a huge box at a high zoom skips the fine levels without selecting them."""
    south, north = bbox[1], bbox[3]
    a, b = np.searchsorted(level.lat_sorted, np.array([south, north], np.float32))  # float32: no array cast
    span = float(level.lng_span) or 1.0
    return (b - a) * min(1.0, (bbox[2] - bbox[0]) / span) * 18 > 4 * max_bytes


def cells_json(index: MapIndex, q: MapQuery, values: Values, key: tuple, max_bytes: int) -> bytes:
    """The cells payload of one view, at most ``max_bytes`` (see the module docstring)."""
    res = resolution_for_zoom(q.zoom, index.native)
    lowest = min(index.levels)
    native = level_values(index, index.native, values, key)
    top = _entries(index, _top(index, q, values, native), values, native)
    while True:
        level = index.levels[res]
        if res > lowest and _too_many(level, q.bbox, max_bytes):
            res -= 1
            continue
        lv = level_values(index, res, values, key)
        sel = in_box(level, q.bbox)
        sel = sel[_shown(q.layer, lv, sel)]
        if len(sel) * 45 <= max_bytes or res == lowest:
            payload = {"run_id": index.key[0], "trends_run_id": index.key[1], "layer": q.layer, "zoom": q.zoom,
                       "resolution": res, "native_resolution": index.native,
                       "coarsened": res < resolution_for_zoom(q.zoom, index.native), "truncated": False,
                       "period": q.period, "crime_type": q.crime_type, "bbox": list(q.bbox), "top": top}
            body = _body(payload, level, lv, sel)
            if len(body) <= max_bytes or res == lowest:
                break
        res -= 1
    while len(body) > max_bytes and len(sel):
        sel = np.sort(sel[np.argsort(-lv.harm[sel], kind="stable")][: max(len(sel) * max_bytes // len(body) - 50, 0)])
        payload["truncated"] = True
        body = _body(payload, level, lv, sel)
    return body


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


def legends(index: MapIndex) -> dict:
    """Legend entries (label, colour) of the three layers, as the report draws them."""
    harm = list(sequential_palette(tuple(str(i) for i in range(HARM_CLASSES))).values())
    present = set(index.trends.cells["emerging_code"].astype(int)) if index.trends is not None else set()
    emerging = [{"code": int(c), "label": str(n), "colour": EMERGING_PALETTE[n]}
                for c, n in sorted(zip(_CODES, codes_to_names(_CODES)), key=lambda cn: EMERGING_ORDER.index(cn[1]))
                if c in present or c == 0]
    gi = [{"bin": b, "label": GI_BIN_LABELS[b], "colour": GI_PALETTE[GI_BIN_LABELS[b]]} for b in (3, 2, 1, 0, -1, -2, -3)]
    return {"harm": harm, "gi": gi, "emerging": emerging}


def check_choice(value: str | None, allowed: tuple, what: str) -> str | None:
    """``value`` when it is one of ``allowed`` (None passes), else a ConfigError (shown as 400)."""
    if value is None or value in allowed:
        return value
    shown = ", ".join(list(allowed)[:12]) + (" ..." if len(allowed) > 12 else "")
    raise ConfigError(f"unknown {what}", given=value, fix=f"use one of: {shown}")


def locate(index: MapIndex, text: str) -> tuple[int, int, int] | None:
    """(resolution, first, stop): the native positions a hex cell id drawn on the map covers (None: not there)."""
    try:
        cell = parse_cells([text])[0]
    except ValueError:
        return None
    res = int(h3ronpy.cells_resolution(np.array([cell], np.uint64))[0].as_py())
    level = index.levels.get(res)
    if level is None:
        return None
    k = int(np.searchsorted(level.cells, cell))
    if k >= len(level.cells) or level.cells[k] != cell:
        return None
    if level.parent_of is None:
        return res, k, k + 1
    a, b = np.searchsorted(level.parent_of, [k, k + 1])
    return res, int(a), int(b)


def _native_fields(index: MapIndex, p: int) -> dict:
    """Scoring and trends columns of one native cell."""
    out = {"gi_z": None, "gi_p": None, "rank": None, "rank_low": None, "rank_high": None, "p_top_n": None,
           "places": "", "trend_z": None, "forecast_harm": None}
    row = index.score_row[p]
    if row >= 0:
        rec = index.run.cells.iloc[row]
        for name in ("gi_z", "gi_p", "p_top_n"):
            out[name] = _num(rec.get(name))
        for name in ("rank", "rank_low", "rank_high"):
            out[name] = None if pd.isna(rec.get(name)) else int(rec[name])
        out["places"] = str(rec.get("places") or "")
    if index.trends is not None and index.trend_row[p] >= 0:
        rec = index.trends.cells.iloc[index.trend_row[p]]
        out["trend_z"], out["forecast_harm"] = _num(rec.get("trend_z")), _num(rec.get("forecast_harm"))
    return out


def _num(value) -> float | None:
    return None if value is None or pd.isna(value) or not np.isfinite(value) else round(float(value), 6)


def cell_details(index: MapIndex, where: tuple[int, int, int], filtered: Values | None,
                 query: MapQuery | None) -> dict:
    """Details of one drawn cell (native, or a parent summing its native cells)."""
    res, a, b = where
    gi = _strongest(index.gi[a:b], np.zeros(b - a, np.int64), 1, _GI_PRIORITY, 3, None)[0]
    emerging = _strongest(index.emerging[a:b], np.zeros(b - a, np.int64), 1, _EMERGING_PRIORITY, 8, None)[0]
    out = {"cell": _hex(cells_to_parents(index.cells[a:a + 1], res))[0], "resolution": res,
           "native_resolution": index.native, "native_cells": b - a,
           "harm": round(float(index.harm[a:b].sum()), 2), "incidents": int(index.incidents[a:b].sum()),
           "gi_bin": int(gi), "gi_label": GI_BIN_LABELS[int(gi)], "emerging": int(emerging),
           "emerging_label": str(codes_to_names([int(emerging)])[0]), "filtered": None}
    native = _native_fields(index, a)
    out.update(native if res == index.native else {k: None for k in native} | {"places": ""})
    if filtered is not None and query is not None:
        out["filtered"] = {"period": query.period, "crime_type": query.crime_type,
                           "harm": round(float(filtered.harm[a:b].sum()), 2),
                           "incidents": int(filtered.incidents[a:b].sum())}
    return out


def cell_series(index: MapIndex, where: tuple[int, int, int]) -> dict:
    """Harm per period of a drawn cell: monthly from the trends run when it kept the cell, else the scoring
    run's periods (summed over the native cells of a parent)."""
    res, a, b = where
    trend = index.trend_rows
    if res == index.native and trend is not None:
        i, j = np.searchsorted(trend.pos, [a, b])
        if j > i:
            labels = index.trends.row.metadata.get("periods") or sorted(index.trends.periods["period"].unique())
            return _series("trends", list(labels), trend.period[i:j], trend.harm[i:j], trend.incidents[i:j],
                           trend.gi_bin[i:j])
    rows = index.period_rows
    i, j = np.searchsorted(rows.pos, [a, b])
    return _series("scoring", list(index.periods), rows.period[i:j], rows.harm[i:j], rows.incidents[i:j], None)


def _series(source: str, labels: list, period: np.ndarray, harm: np.ndarray, incidents: np.ndarray,
            gi_bin: np.ndarray | None) -> dict:
    n = len(labels)
    ok = period >= 0
    out = {"source": source, "periods": [str(x) for x in labels],
           "harm": np.round(np.bincount(period[ok], weights=harm[ok], minlength=n), 2).tolist(),
           "incidents": np.bincount(period[ok], weights=incidents[ok], minlength=n).astype(int).tolist(),
           "gi_bin": None}
    if gi_bin is not None:
        bins = np.zeros(n, np.int64)
        bins[period[ok]] = gi_bin[ok]
        out["gi_bin"] = bins.tolist()
    return out


def place_details(index: MapIndex, place_id: str) -> dict | None:
    """A place's harm, rank, classes and harm series (monthly from the trends run when there is one)."""
    places = index.run.places
    match = places[places["place_id"] == place_id]
    if match.empty:
        return None
    rec = match.iloc[0]
    out = {"place_id": place_id, "name": str(rec["name"]), "kind": str(rec["kind"]),
           "harm": round(float(rec["harm"]), 2), "incidents": int(rec["incidents"]), "rank": int(rec["rank"]),
           "gi_z": _num(rec.get("gi_z")), "gi_bin": int(rec["gi_bin"]), "gi_label": GI_BIN_LABELS[int(rec["gi_bin"])],
           "emerging": 0, "emerging_label": codes_to_names([0])[0]}
    frame, kind, labels = index.run.periods, "unit_kind", list(index.periods)
    if index.trends is not None:
        trend = index.trends.places[index.trends.places["place_id"] == place_id]
        if not trend.empty:
            code = int(trend.iloc[0]["emerging_code"])
            out.update(emerging=code, emerging_label=str(codes_to_names([code])[0]))
        frame, kind = index.trends.periods, "kind"
        labels = list(index.trends.row.metadata.get("periods") or sorted(frame["period"].unique()))
    rows = frame[(frame[kind] == "place") & (frame["unit"] == place_id)]
    codes = pd.Categorical(rows["period"], categories=labels).codes.astype(np.int64)
    out["series"] = _series("trends" if kind == "kind" else "scoring", labels, codes, rows["harm"].to_numpy(float),
                            rows["incidents"].to_numpy(np.int64),
                            rows["gi_bin"].to_numpy(np.int64) if "gi_bin" in rows else None)
    return out


def _tolerance(zoom: int) -> float:
    """Simplification tolerance (degrees): half a pixel at ``zoom``, at least ~4 m."""
    return max(0.00005, 180.0 / (256 * 2 ** zoom))


def _intersects(bounds: np.ndarray, bbox: tuple | None) -> np.ndarray:
    """Rows of (minx, miny, maxx, maxy) ``bounds`` touching ``bbox`` (all when None)."""
    if bbox is None:
        return np.arange(len(bounds))
    west, south, east, north = bbox
    return np.flatnonzero((bounds[:, 0] <= east) & (bounds[:, 2] >= west) & (bounds[:, 1] <= north) &
                          (bounds[:, 3] >= south))


def boundaries_json(index: MapIndex, places_wgs84, zoom: int | None = None, bbox: tuple | None = None,
                    max_bytes: int = 2_000_000) -> bytes:
    """Places touching ``bbox`` as GeoJSON, simplified to half a pixel at ``zoom`` (default 14; coarser
    until the answer fits ``max_bytes``), 5 decimals, with their harm, rank and classes."""
    zoom = 14 if zoom is None else zoom
    while True:
        body = _boundaries(index, places_wgs84, zoom, bbox)
        if len(body) <= max_bytes or zoom == 0:
            return body
        zoom -= 1


def _boundaries(index: MapIndex, places_wgs84, zoom: int, bbox: tuple | None) -> bytes:
    """Features are serialised once per tolerance and cached."""
    ids = tuple(places_wgs84["place_id"])

    def make() -> tuple[list[bytes], np.ndarray]:
        stats = index.run.places.set_index("place_id")
        emerging = pd.Series(dtype="int64")
        if index.trends is not None:
            emerging = index.trends.places.set_index("place_id")["emerging_code"]
        raw = places_wgs84.geometry.to_numpy()
        geoms = shapely.transform(shapely.simplify(raw, _tolerance(zoom), preserve_topology=True),
                                  lambda xy: np.round(xy, 5))
        features = []
        for pid, kind, name, geom in zip(ids, places_wgs84["kind"], places_wgs84["name"], geoms):
            row = stats.loc[pid] if pid in stats.index else None
            properties = {"place_id": pid, "kind": str(kind), "name": str(name),
                          "harm": None if row is None else round(float(row["harm"]), 2),
                          "rank": None if row is None else int(row["rank"]),
                          "gi_bin": 0 if row is None else int(row["gi_bin"]), "emerging": int(emerging.get(pid, 0))}
            features.append(('{"type":"Feature","geometry":' + shapely.to_geojson(geom) + ',"properties":'
                             + json.dumps(properties, separators=(",", ":")) + "}").encode())
        return features, shapely.bounds(raw).reshape(-1, 4)
    features, bounds = index.cache.get(("boundaries", hash(ids), _tolerance(zoom)), make)
    chosen = _intersects(bounds, bbox)
    return b'{"type":"FeatureCollection","features":[' + b",".join(features[i] for i in chosen) + b"]}"


def stores_payload(stores: pd.DataFrame, bbox: tuple | None = None, max_bytes: int = 2_000_000) -> dict:
    """Stores (in ``bbox`` when given) as parallel arrays: all organisations, for planners.  Should they
    exceed ``max_bytes`` (at ~150 bytes a store, a pessimistic guess) only that many are sent."""
    if bbox is not None:
        lat, lng = stores["lat"].to_numpy(float), stores["lng"].to_numpy(float)
        stores = stores[(lng >= bbox[0]) & (lng <= bbox[2]) & (lat >= bbox[1]) & (lat <= bbox[3])]
    truncated = len(stores) * 150 > max_bytes
    stores = stores.iloc[: max_bytes // 150] if truncated else stores
    text = lambda col: [None if pd.isna(v) else str(v) for v in stores[col]]  # noqa: E731
    return {"count": len(stores), "truncated": truncated, "org_id": text("org_id"), "store_id": text("store_id"),
            "name": text("name"),
            "lat": np.round(stores["lat"].to_numpy(float), 6).tolist(),
            "lng": np.round(stores["lng"].to_numpy(float), 6).tolist()}


def area_bounds(places_wgs84, place_ids: list) -> list | None:
    """[[south, west], [north, east]] of some places (None when none is known)."""
    chosen = places_wgs84[places_wgs84["place_id"].isin(place_ids)]
    if chosen.empty:
        return None
    west, south, east, north = (float(v) for v in chosen.total_bounds)
    return [[south, west], [north, east]]


def meta(index: MapIndex, crimes: tuple, areas: pd.DataFrame, places_wgs84, tiles_url: str, attribution: str) -> dict:
    """What the page needs before its first request: filters, legends, the data's extent."""
    level = index.levels[min(index.levels)]
    lv_harm = index.harm if level.parent_of is None else np.bincount(level.parent_of, weights=index.harm,
                                                                     minlength=len(level.cells))
    lat, lng = (level.lat[lv_harm > 0], level.lng[lv_harm > 0]) if (lv_harm > 0).any() else (level.lat, level.lng)
    bounds = [[float(lat.min()), float(lng.min())], [float(lat.max()), float(lng.max())]] if len(lat) else None
    return {"run_id": index.key[0], "trends_run_id": index.key[1], "native_resolution": index.native,
            "zoom_resolution": [resolution_for_zoom(z, index.native) for z in range(len(ZOOM_RESOLUTION))],
            "periods": list(index.periods), "crime_types": list(crimes),
            "areas": [{"area_id": int(a), "name": str(n), "places": [str(p) for p in ps],
                       "bounds": area_bounds(places_wgs84, list(ps))}
                      for a, n, ps in zip(areas["area_id"], areas["name"], areas["places"])],
            "layers": list(LAYERS), "legends": legends(index), "bounds": bounds,
            "tiles_url": tiles_url, "tiles_attribution": attribution}
