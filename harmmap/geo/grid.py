"""Zero-filled H3 study grids and their neighbour graphs.

Hotspot statistics must run on *every* cell of an explicit study area, with
zeros where nothing happened: a grid of only the cells that had incidents
makes every lonely cell look "hot" (it has no cold neighbours to compare
with).  This module builds that grid and the k-ring neighbour graph as a
``scipy.sparse`` CSR matrix straight from h3ronpy's vectorised ``grid_disk``
(no per-cell Python loop, no libpysal ``W`` dictionaries: ~17x faster).

Functions
---------
polygons_to_cells
    Cells whose centre lies in any of the polygons (the union of places, a
    force area).
buffer_cells
    The cells within ``rings`` steps of the given cells (a buffer around the data).
cells_to_neighbours
    Binary, symmetric k-ring adjacency of a sorted cell array, without self.
"""

from __future__ import annotations

from collections.abc import Iterable

import h3ronpy
import numpy as np
import pyarrow as pa
import scipy.sparse as sp
from h3ronpy.vector import geometry_to_cells

from harmmap.errors import ConfigError, GeometryError

# Note h3ronpy's own names: its ``Covers`` means "the cells cover the polygon"
# (every touching cell), not "the polygon covers the cell" (``ContainsBoundary``).
_CONTAINMENT = {
    "centroid": h3ronpy.ContainmentMode.ContainsCentroid,
    "covers": h3ronpy.ContainmentMode.ContainsBoundary,
    "intersects": h3ronpy.ContainmentMode.Covers,
}


def _check_k(k: int, name: str = "k", largest: int = 50) -> int:
    if not isinstance(k, (int, np.integer)) or isinstance(k, bool) or not 0 <= int(k) <= largest:
        raise ConfigError(f"{name} must be a whole number of H3 rings from 0 to {largest}", given=repr(k),
                          fix=f"pass e.g. {name}=1 (the six touching cells) or {name}=2")
    return int(k)


def polygons_to_cells(geometries: Iterable, resolution: int, *, containment: str = "centroid") -> np.ndarray:
    """Return the sorted unique H3 cells covering a set of WGS84 polygons.

    Parameters
    ----------
    geometries : iterable of shapely geometries
        Polygons or multipolygons in WGS84 (EPSG:4326) longitude/latitude.
    resolution : int
        H3 resolution (0-15).
    containment : {"centroid", "covers", "intersects"}
        Which cells count as inside: centre inside (default, no double
        counting between neighbouring areas), fully covered by the polygon,
        or touching it (including a cell that holds a polygon smaller than itself).

    Returns
    -------
    numpy.ndarray of uint64
    """
    if containment not in _CONTAINMENT:
        raise ConfigError("unknown containment mode", given=repr(containment),
                          fix=f"use one of {sorted(_CONTAINMENT)}")
    mode = _CONTAINMENT[containment]
    parts = []
    for geometry in geometries:
        if geometry is None or geometry.is_empty:
            continue
        if geometry.geom_type not in ("Polygon", "MultiPolygon"):
            raise GeometryError("study areas must be polygons", given=geometry.geom_type,
                                fix="import the area as a polygon layer (places import)")
        parts.append(np.asarray(geometry_to_cells(geometry, resolution, containment_mode=mode), dtype=np.uint64))
    if not parts:
        return np.empty(0, dtype=np.uint64)
    return np.unique(np.concatenate(parts))


def buffer_cells(cells: np.ndarray, rings: int) -> np.ndarray:
    """Return the sorted unique cells within ``rings`` grid steps of ``cells`` (including them)."""
    rings = _check_k(rings, "rings", largest=1000)
    cells = np.unique(np.asarray(cells, dtype=np.uint64))
    if rings == 0 or cells.size == 0:
        return cells
    return np.unique(np.asarray(h3ronpy.grid_disk(cells, rings, flatten=True), dtype=np.uint64))


def cells_to_neighbours(cells: np.ndarray, k: int = 1) -> sp.csr_matrix:
    """Return the binary k-ring neighbour matrix of a sorted, unique cell array.

    Entry ``(i, j)`` is 1 when cell ``j`` is within ``k`` grid steps of cell
    ``i`` and both are in ``cells``; the diagonal is empty (statistics add the
    cell itself where their definition asks for it).  Cells at the edge of the
    study area simply have fewer neighbours.

    Parameters
    ----------
    cells : numpy.ndarray of uint64
        Sorted ascending, no duplicates (as returned by :func:`polygons_to_cells`
        or :func:`buffer_cells`).
    k : int
        Number of rings (1 = the six touching cells).

    Returns
    -------
    scipy.sparse.csr_matrix of float64, shape (n, n), symmetric.
    """
    k = _check_k(k)
    cells = np.asarray(cells, dtype=np.uint64)
    n = cells.size
    if n and np.any(cells[1:] <= cells[:-1]):
        raise ConfigError("cells must be sorted ascending without duplicates", given=f"{n} cells",
                          fix="pass numpy.unique(cells)")
    if n == 0 or k == 0:
        return sp.csr_matrix((n, n), dtype=np.float64)
    disks = pa.array(h3ronpy.grid_disk(cells, k))
    lengths = np.diff(np.asarray(disks.offsets, dtype=np.int64))
    rows = np.repeat(np.arange(n, dtype=np.int64), lengths)
    members = np.asarray(disks.values, dtype=np.uint64)[disks.offsets[0].as_py():disks.offsets[-1].as_py()]
    cols = np.searchsorted(cells, members)
    inside = cols < n
    inside[inside] = cells[cols[inside]] == members[inside]
    keep = inside & (cols != rows)
    indptr = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(np.bincount(rows[keep], minlength=n), out=indptr[1:])
    matrix = sp.csr_matrix((np.ones(int(keep.sum())), cols[keep], indptr), shape=(n, n))
    return matrix
