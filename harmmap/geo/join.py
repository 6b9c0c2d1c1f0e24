"""Which place(s) contain each point: a fast point-in-polygon join.

Rule on edges
-------------
A point belongs to every place that **covers** it: inside it *or on its
boundary* (``shapely.intersects_xy``, which for a point is the same as
``polygon.covers(point)``).  A point exactly on the edge shared by two
neighbouring places therefore counts for both; a point on a hole's edge counts
for the place.  With ``tolerance_m > 0`` a point covered by no place is given
to the nearest place within ``tolerance_m`` metres (distance ``<=``), ties
going to the place listed first.

Method
------
``geopandas.sjoin`` builds a Point object per row (10M points x 500 polygons:
11.7 s, 4.3 GB).  Here no Point objects are made.  A regular grid is laid over
the places; every cell is classified once per place as *boundary* (a stretch of
the place's outline comes within a hair of the cell), *inside* or *outside*
(one representative cell centre tested per run of non-boundary cells in a
row).  A point in an inside cell is in the place without any test; only points
in boundary cells are tested exactly, with a prepared geometry and
``shapely.intersects_xy`` (which releases the GIL, so the tests run on a few
threads, each place on one thread only: prepared geometries are not
thread-safe).  Cells are dilated by ``eps`` so that floating-point rounding
when binning a point can never put it in a cell classified wrongly.  Points go
through in chunks of ``CHUNK``.  Up to ``SMALL`` points, or ``FEW_PER_PLACE``
points per place, an STRtree of the places is queried instead (building the
grid costs about 150 us a place: 0.8 s for London's 4,835 LSOAs).

Measured (2 cores, 10M points in England x 326 districts): about 1-2 s; the
same 1M points through ``sjoin``: 8-16 s.  De-duplicating coordinates first
(police.uk points repeat heavily) was measured and not kept: hashing 10M
coordinate pairs (``pd.factorize``, 750k distinct) alone takes 2.4 s, more
than the whole join.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from scipy import ndimage

from harmmap.errors import ConfigError, GeometryError, SchemaError

CHUNK = 1 << 20  #: points joined at a time (keeps temporaries small and cache-friendly)
MAX_GRID_CELLS = 1 << 24  #: cap on grid cells over the places' extent (dense per-cell tables)
MAX_RECT_CELLS = 1 << 24  #: cap on the sum of cells over every place's bounding box
SMALL = 2_000  #: up to this many points, query an STRtree of the places instead of building the grid
FEW_PER_PLACE = 15  #: ... or up to this many per place (grid: ~150 us a place to build; STRtree: ~10 us a point)
CELL_COST = 1.5  #: work to classify a grid cell, relative to one exact point-in-polygon test
OCCUPANCY_CELLS = 256  #: coarse cells across the points' extent when dropping places far from every point


def points_to_places(easting: np.ndarray, northing: np.ndarray, places: gpd.GeoDataFrame, *,
                     tolerance_m: float = 0.0) -> pd.DataFrame:
    """Return one row per (point, place covering it).

    Parameters
    ----------
    easting, northing : array-like of float
        British National Grid metres; NaN or infinite points are in no place.
    places : geopandas.GeoDataFrame
        Columns ``place_id`` and a (Multi)Polygon geometry in EPSG:27700; any
        kinds, overlapping or not.
    tolerance_m : float, default 0
        A point covered by no place but within this many metres of one or
        more places goes to the nearest of them (ties: the first listed).

    Returns
    -------
    pandas.DataFrame
        ``point_index`` (int64, position in the input arrays) and ``place_id``
        (categorical over the places' ids, in their order; plain str if the ids
        repeat), sorted by point then by place order; overlapping places give
        a point several rows, points in no place give none.
    """
    x, y = _check_points(easting, northing)
    geoms, place_ids = _check_places(places)
    tolerance = _check_tolerance(tolerance_m)
    live = _near_points(geoms, np.flatnonzero(~(shapely.is_missing(geoms) | shapely.is_empty(geoms))), x, y, tolerance)
    if len(x) == 0 or len(live) == 0:
        return _frame(np.empty(0, np.int64), np.empty(0, np.int64), place_ids)
    if len(x) <= max(SMALL, FEW_PER_PLACE * len(live)):
        point, poly = _join_few(x, y, geoms[live], tolerance)
        return _frame(point, live[poly], place_ids)
    index = _index_places(geoms[live], len(x), tolerance)
    points, polys = [], []
    for lo in range(0, len(x), CHUNK):
        point, poly = _join_chunk(x[lo:lo + CHUNK], y[lo:lo + CHUNK], index)
        points.append(point + lo)
        polys.append(poly)
    polys = np.concatenate(polys)
    return _frame(np.concatenate(points), polys if len(live) == len(geoms) else live[polys], place_ids)


def _near_points(geoms: np.ndarray, live: np.ndarray, x: np.ndarray, y: np.ndarray, tolerance: float) -> np.ndarray:
    """The places in ``live`` whose bounding box (plus tolerance) holds at least one occupied coarse cell.

    Points are binned on a coarse grid (``OCCUPANCY_CELLS`` cells over their
    extent); a place whose box meets no occupied cell cannot hold a point, so
    one county's incidents against all 326 English districts index a few
    districts, not 326 (the index costs ~150 us a place to build).  A summed
    area table answers each place in O(1).
    """
    finite = np.isfinite(x) & np.isfinite(y)
    if not finite.any() or len(live) == 0:
        return live[:0]
    xs, ys = x[finite], y[finite]
    x0, y0 = xs.min(), ys.min()
    size = max(xs.max() - x0, ys.max() - y0, 1.0) / OCCUPANCY_CELLS + 1e-9
    nx = int((xs.max() - x0) / size) + 1
    ny = int((ys.max() - y0) / size) + 1
    occupied = np.zeros((ny + 1, nx + 1), dtype=np.int64)
    np.add.at(occupied, (((ys - y0) / size).astype(np.int64) + 1, ((xs - x0) / size).astype(np.int64) + 1), 1)
    table = occupied.cumsum(axis=0).cumsum(axis=1)  # table[j, i] = points in cells [0, j) x [0, i)
    box = shapely.bounds(geoms[live])
    i0 = np.clip(np.floor((box[:, 0] - tolerance - x0) / size), 0, nx).astype(np.int64)
    i1 = np.clip(np.floor((box[:, 2] + tolerance - x0) / size) + 1, 0, nx).astype(np.int64)
    j0 = np.clip(np.floor((box[:, 1] - tolerance - y0) / size), 0, ny).astype(np.int64)
    j1 = np.clip(np.floor((box[:, 3] + tolerance - y0) / size) + 1, 0, ny).astype(np.int64)
    inside = table[j1, i1] - table[j0, i1] - table[j1, i0] + table[j0, i0]
    return live[inside > 0]


def _check_points(easting, northing) -> tuple[np.ndarray, np.ndarray]:
    x = np.ascontiguousarray(easting, dtype="float64")
    y = np.ascontiguousarray(northing, dtype="float64")
    if x.ndim != 1 or x.shape != y.shape:
        raise SchemaError("easting and northing must be 1-D arrays of the same length",
                          given=f"shapes {x.shape} and {y.shape}", fix="pass one easting and one northing per point")
    return x, y


def _check_places(places: gpd.GeoDataFrame) -> tuple[np.ndarray, np.ndarray]:
    if not isinstance(places, gpd.GeoDataFrame) or "place_id" not in places.columns:
        raise SchemaError("places must be a GeoDataFrame with a place_id column",
                          given=type(places).__name__, fix="read boundaries with harmmap.geo.places.read_places")
    if places.crs is not None and places.crs.to_epsg() != 27700:
        raise GeometryError("places must be in British National Grid (EPSG:27700)", given=str(places.crs),
                            fix="reproject with places.to_crs('EPSG:27700')")
    geoms = places.geometry.to_numpy()
    kinds = shapely.get_type_id(geoms)
    bad = ~np.isin(kinds, [-1, 3, 6])
    if bad.any():
        raise GeometryError("places must be polygons or multipolygons",
                            given=f"{int(bad.sum())} other geometries, e.g. {geoms[bad][0].geom_type}",
                            fix="read boundaries with harmmap.geo.places.read_places")
    return geoms, places["place_id"].astype("str").to_numpy(dtype=object)


def _check_tolerance(tolerance_m: float) -> float:
    tolerance = float(tolerance_m)
    if not np.isfinite(tolerance) or tolerance < 0:
        raise ConfigError("tolerance must be a finite number of metres >= 0", given=tolerance_m,
                          fix="use e.g. --tolerance 25, or 0 to assign only points inside a place")
    return tolerance


@dataclass(frozen=True)
class _Grid:
    x0: float
    y0: float
    size: float
    nx: int
    ny: int
    eps: float

    @property
    def ncells(self) -> int:
        return self.nx * self.ny

    def index_range(self, low: np.ndarray, high: np.ndarray, origin: float) -> tuple[np.ndarray, np.ndarray]:
        """Return first and last cell index along one axis touched by [low, high] dilated by 2 eps."""
        first = np.floor((low - 2 * self.eps - origin) / self.size).astype(np.int64)
        last = np.floor((high + 2 * self.eps - origin) / self.size).astype(np.int64)
        return first, last


@dataclass(frozen=True)
class _PlaceIndex:
    grid: _Grid
    geoms: np.ndarray  # prepared (Multi)Polygons
    start: np.ndarray  # per grid cell: first entry
    count: np.ndarray  # per grid cell: number of entries
    poly: np.ndarray  # per entry: place, entries sorted by cell then place
    inside: np.ndarray  # per entry: True = cell wholly inside the place, False = test points exactly
    tolerance: float
    near: np.ndarray | None  # per grid cell: within tolerance of some outline
    segments: np.ndarray | None  # outline segments (LineStrings) for snapping
    segment_owner: np.ndarray | None
    segment_tree: shapely.STRtree | None


def _index_places(geoms: np.ndarray, npoints: int, tolerance: float) -> _PlaceIndex:
    """Classify grid cells per place once, for every chunk of points."""
    grid = _choose_grid(geoms, npoints, tolerance)
    a, b, owner = _outline_segments(shapely.segmentize(geoms, grid.size))
    seg_owner, bcells = _boundary_cells(a, b, owner, grid)
    shapely.prepare(geoms)
    start, count, poly, inside = _cell_table(geoms, seg_owner, bcells, grid)
    near = segments = segment_owner = tree = None
    if tolerance > 0:
        near = _near_cells(bcells, grid, tolerance)
        a, b, segment_owner = _outline_segments(geoms)
        segments = shapely.linestrings(np.stack([a, b], axis=1))
        tree = shapely.STRtree(segments)
    return _PlaceIndex(grid, geoms, start, count, poly, inside, tolerance, near, segments, segment_owner, tree)


def _join_few(x, y, geoms, tolerance) -> tuple[np.ndarray, np.ndarray]:
    """Join a few points with an STRtree of the places (no grid to build); same rules."""
    finite = np.flatnonzero(np.isfinite(x) & np.isfinite(y))
    tree = shapely.STRtree(geoms)
    points = shapely.points(x[finite], y[finite])
    which, poly = tree.query(points, predicate="intersects")  # for a point: covers
    order = np.lexsort((poly, which))
    point, poly = finite[which[order]], poly[order]
    rest = np.setdiff1d(np.arange(len(finite)), which)
    if tolerance > 0 and len(rest):
        (near, place), _ = tree.query_nearest(points[rest], max_distance=tolerance, return_distance=True,
                                              all_matches=True)
        order = np.lexsort((place, near))
        near, place = near[order], place[order]
        first = np.r_[True, near[1:] != near[:-1]] if len(near) else np.zeros(0, bool)
        point, poly = _merge(point, poly, finite[rest[near[first]]], place[first])
    return point, poly


def _choose_grid(geoms: np.ndarray, npoints: int, tolerance: float) -> _Grid:
    """Pick the cell size balancing exact tests near outlines against work per cell.

    With E the extent and P the total perimeter, a point sits in ~P * size / E
    boundary cells, so exact tests ~ npoints * P * size / E; classifying costs
    ~ (sum of bbox areas) / size**2 cells, each worth ``CELL_COST`` tests.
    Cells no wider than a quarter of the mean perimeter keep few places per cell.
    """
    bounds = shapely.bounds(geoms)
    span = np.maximum(bounds[:, 2:] - bounds[:, :2], 1.0)
    rect_area = float(np.prod(span, axis=1).sum())
    perimeter = max(float(shapely.length(geoms).sum()), 1.0)
    low = np.nanmin(bounds[:, :2], axis=0) - tolerance
    high = np.nanmax(bounds[:, 2:], axis=0) + tolerance
    extent = float(np.prod(np.maximum(high - low, 1.0)))
    size = np.cbrt(CELL_COST * rect_area * extent / (max(npoints, 1) * perimeter))
    size = min(size, perimeter / (4 * len(geoms)))
    size = max(size, np.sqrt(rect_area / MAX_RECT_CELLS), np.sqrt(extent / MAX_GRID_CELLS) * 1.01, 1e-3)
    eps = max(size * 1e-7, float(np.spacing(np.abs(np.r_[low, high]).max())) * 64)
    x0, y0 = low - 2 * size
    nx, ny = (np.floor((high - low) / size) + 5).astype(int)
    return _Grid(float(x0), float(y0), float(size), int(nx), int(ny), eps)


def _outline_segments(geoms: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return the start and end (n x 2) of every outline segment and the place it belongs to."""
    lines, owner = shapely.get_parts(shapely.boundary(geoms), return_index=True)
    coords, line = shapely.get_coordinates(lines, return_index=True)
    same = line[1:] == line[:-1]
    return coords[:-1][same], coords[1:][same], owner[line[:-1][same]]


def _boundary_cells(a: np.ndarray, b: np.ndarray, owner: np.ndarray, grid: _Grid) -> tuple[np.ndarray, np.ndarray]:
    """Return (place, cell) pairs, sorted, for every cell within 2 eps of a segment of the place's outline."""
    ix0, ix1 = grid.index_range(np.minimum(a[:, 0], b[:, 0]), np.maximum(a[:, 0], b[:, 0]), grid.x0)
    iy0, iy1 = grid.index_range(np.minimum(a[:, 1], b[:, 1]), np.maximum(a[:, 1], b[:, 1]), grid.y0)
    reach = int(max((ix1 - ix0).max(initial=0), (iy1 - iy0).max(initial=0))) + 1
    keys = []
    for dx in range(reach):
        for dy in range(reach):
            keep = (ix0 + dx <= ix1) & (iy0 + dy <= iy1)
            cell = (iy0[keep] + dy) * grid.nx + ix0[keep] + dx
            keys.append(owner[keep] * grid.ncells + cell)
    keys = np.unique(np.concatenate(keys))
    return keys // grid.ncells, keys % grid.ncells


def _inside_cells(geom, bounds: np.ndarray, bcells: np.ndarray, grid: _Grid) -> np.ndarray:
    """Return the cells of ``geom``'s bounding box wholly inside it.

    Non-boundary cells come in runs along each row; a run is all inside or all
    outside, so one centre per run is tested.
    """
    (ix0, ix1), (iy0, iy1) = (grid.index_range(bounds[[0]], bounds[[2]], grid.x0),
                              grid.index_range(bounds[[1]], bounds[[3]], grid.y0))
    ix0, ix1, iy0, iy1 = int(ix0[0]), int(ix1[0]), int(iy0[0]), int(iy1[0])
    width, height = ix1 - ix0 + 1, iy1 - iy0 + 1
    edge = np.zeros(width * height, dtype=bool)
    edge[(bcells // grid.nx - iy0) * width + (bcells % grid.nx - ix0)] = True
    column = np.arange(width * height) % width
    start = ~edge & (np.r_[True, edge[:-1]] | (column == 0))
    first = np.flatnonzero(start)
    cx = grid.x0 + (ix0 + column[first] + 0.5) * grid.size
    cy = grid.y0 + (iy0 + first // width + 0.5) * grid.size
    run_inside = shapely.intersects_xy(geom, cx, cy)
    inside = ~edge & np.r_[False, run_inside][np.cumsum(start)]
    local = np.flatnonzero(inside)
    return (iy0 + local // width) * grid.nx + ix0 + local % width


def _cell_table(geoms, owner, bcells, grid: _Grid) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Index every (cell, place) pair that matters, sorted by cell then place."""
    bounds = shapely.bounds(geoms)
    cut = np.searchsorted(owner, np.arange(len(geoms) + 1))
    inside = [_inside_cells(geoms[i], bounds[i], bcells[cut[i]:cut[i + 1]], grid) for i in range(len(geoms))]
    in_owner = np.repeat(np.arange(len(geoms)), [len(c) for c in inside])
    cell = np.concatenate([bcells, *inside])
    poly = np.concatenate([owner, in_owner])
    flag = np.r_[np.zeros(len(bcells), bool), np.ones(len(in_owner), bool)]
    order = np.argsort(cell * len(geoms) + poly)
    count = np.bincount(cell, minlength=grid.ncells).astype(np.int32)
    start = np.cumsum(count, dtype=np.int64) - count
    return start, count, poly[order].astype(np.int32), flag[order]


def _join_chunk(x: np.ndarray, y: np.ndarray, index: _PlaceIndex) -> tuple[np.ndarray, np.ndarray]:
    """Return (point, place) pairs for one chunk of points, sorted by point then place."""
    cells, valid = _bin_points(x, y, index.grid)
    point, poly = _covering(x, y, cells, valid, index)
    if index.tolerance > 0:
        extra_point, extra_poly = _snap(x, y, cells, valid, point, index)
        point, poly = _merge(point, poly, extra_point, extra_poly)
    return point, poly


def _bin_points(x: np.ndarray, y: np.ndarray, grid: _Grid) -> tuple[np.ndarray, np.ndarray]:
    """Return each point's grid cell (-1 when not binned) and the mask of binned points."""
    fx = x - grid.x0
    fx *= 1.0 / grid.size
    fy = y - grid.y0
    fy *= 1.0 / grid.size
    valid = (fx >= 0) & (fx < grid.nx) & (fy >= 0) & (fy < grid.ny)  # False for NaN
    if not valid.all():
        fx[~valid] = 0
        fy[~valid] = 0
    cells = fy.astype(np.int64)
    cells *= grid.nx
    cells += fx.astype(np.int64)
    cells[~valid] = -1
    return cells, valid


def _covering(x, y, cells, valid, index: _PlaceIndex) -> tuple[np.ndarray, np.ndarray]:
    """Return (point, place) pairs where the place covers the point, sorted by point then place."""
    points = np.flatnonzero(valid)
    count = index.count[cells[points]]
    total = int(count.sum())
    row_point = np.repeat(points, count)
    shift = index.start[cells[points]] - (np.cumsum(count) - count)
    row_entry = np.repeat(shift, count) + np.arange(total)
    poly = index.poly[row_entry]
    hit = index.inside[row_entry]
    _test_rows(x, y, row_point, poly, hit, index.geoms)
    return row_point[hit], poly[hit]


def _test_rows(x, y, row_point, poly, hit, geoms) -> None:
    """Decide the rows not yet known to hit by exact tests, place by place (a few places at once)."""
    rows = np.flatnonzero(~hit)
    key = poly[rows].astype(np.uint16) if len(geoms) < 65536 else poly[rows]
    rows = rows[np.argsort(key, kind="stable")]
    cut = np.searchsorted(poly[rows], np.arange(len(geoms) + 1))
    todo = np.flatnonzero(np.diff(cut))

    def test(i: int) -> None:  # one place per thread at a time: prepared geometries are not thread-safe
        part = rows[cut[i]:cut[i + 1]]
        hit[part] = shapely.intersects_xy(geoms[i], x[row_point[part]], y[row_point[part]])

    def test_all(places: np.ndarray) -> None:
        for i in places:
            test(i)

    workers = min(4, os.cpu_count() or 1)
    if workers == 1 or len(rows) < 50_000:
        test_all(todo)
        return
    done = np.cumsum(np.diff(cut)[todo])  # share the rows out evenly, whole places per thread
    batches = np.split(todo, np.searchsorted(done, done[-1] * np.arange(1, workers) / workers))
    with ThreadPoolExecutor(workers) as pool:
        list(pool.map(test_all, batches))


def _near_cells(bcells: np.ndarray, grid: _Grid, tolerance: float) -> np.ndarray:
    """Return a per-cell mask of cells that may hold points within ``tolerance`` of an outline."""
    edge = np.zeros(grid.ncells, dtype=np.uint8)
    edge[bcells] = 1
    reach = int(np.ceil(tolerance / grid.size)) + 1
    near = ndimage.maximum_filter(edge.reshape(grid.ny, grid.nx), size=2 * reach + 1, mode="constant")
    return near.reshape(-1).astype(bool)


def _snap(x, y, cells, valid, point, index: _PlaceIndex) -> tuple[np.ndarray, np.ndarray]:
    """Return (point, nearest place) for points in no place but within the tolerance of one."""
    covered = np.zeros(len(x), dtype=bool)
    covered[point] = True
    candidates = np.flatnonzero(valid & ~covered)
    candidates = candidates[index.near[cells[candidates]]]
    points = shapely.points(x[candidates], y[candidates])
    which, segment = index.segment_tree.query(points, predicate="dwithin", distance=index.tolerance)
    if len(which) == 0:
        return np.empty(0, np.int64), np.empty(0, np.int64)
    distance = shapely.distance(points[which], index.segments[segment])
    owner = index.segment_owner[segment]
    order = np.lexsort((owner, distance, which))
    which, owner = which[order], owner[order]
    first = np.r_[True, which[1:] != which[:-1]]
    return candidates[which[first]], owner[first]


def _merge(point, poly, extra_point, extra_poly) -> tuple[np.ndarray, np.ndarray]:
    """Insert rows for points that had none, keeping the order by point."""
    slots = np.searchsorted(point, extra_point) + np.arange(len(extra_point))
    old = np.ones(len(point) + len(extra_point), dtype=bool)
    old[slots] = False
    out_point = np.empty(len(old), dtype=np.int64)
    out_poly = np.empty(len(old), dtype=np.int64)
    out_point[old], out_poly[old] = point, poly
    out_point[slots], out_poly[slots] = extra_point, extra_poly
    return out_point, out_poly


def _frame(point: np.ndarray, poly: np.ndarray, place_ids: np.ndarray) -> pd.DataFrame:
    """Return the result frame; ``place_id`` is categorical (10M rows cost 10M small ints, not strings)."""
    categories = pd.Index(place_ids, dtype="str")
    if categories.is_unique:
        ids = pd.Categorical.from_codes(np.asarray(poly, dtype=np.int32), categories)
    else:
        ids = pd.array(place_ids[poly], dtype="str")
    return pd.DataFrame({"point_index": np.asarray(point, dtype=np.int64), "place_id": ids}, copy=False)
