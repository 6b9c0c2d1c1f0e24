"""H3 cells for points, vectorised through h3ronpy (H3's C core, GIL released).

A per-row ``h3.latlng_to_cell`` loop costs ~0.7 µs/point in Python overhead;
h3ronpy converts whole arrays, in two threads above a million points.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import h3ronpy
import numpy as np
from h3ronpy.vector import coordinates_to_cells

from harmmap.errors import ConfigError

_CHUNK = 1_000_000


def _check_resolution(resolution: int) -> None:
    if not 0 <= int(resolution) <= 15:
        raise ConfigError(
            "H3 resolution must be between 0 and 15",
            given=resolution,
            fix="use 9 (about 0.1 km2 per cell) unless you have a reason not to",
        )


def _convert(lat: np.ndarray, lng: np.ndarray, resolution: int) -> np.ndarray:
    if len(lat) <= _CHUNK:
        return np.asarray(coordinates_to_cells(lat, lng, resolution), dtype="uint64")
    bounds = list(range(0, len(lat), _CHUNK)) + [len(lat)]
    pieces = list(zip(bounds[:-1], bounds[1:]))
    with ThreadPoolExecutor(max_workers=2) as pool:
        parts = pool.map(
            lambda ab: np.asarray(
                coordinates_to_cells(lat[ab[0] : ab[1]], lng[ab[0] : ab[1]], resolution),
                dtype="uint64",
            ),
            pieces,
        )
        return np.concatenate(list(parts))


def points_to_cells(lat: np.ndarray, lng: np.ndarray, resolution: int = 9) -> np.ndarray:
    """Return the H3 cell (uint64) of each WGS84 point.

    Parameters
    ----------
    lat, lng : array-like of float
        Latitude and longitude in degrees; must be finite.
    resolution : int
        H3 resolution, 0-15.

    Returns
    -------
    numpy.ndarray of uint64
    """
    _check_resolution(resolution)
    lat = np.ascontiguousarray(lat, dtype="float64")
    lng = np.ascontiguousarray(lng, dtype="float64")
    if len(lat) == 0:
        return np.empty(0, dtype="uint64")
    return _convert(lat, lng, resolution)


def cells_to_parents(cells: np.ndarray, resolution: int) -> np.ndarray:
    """Return the parent cell of each cell at a coarser ``resolution``."""
    _check_resolution(resolution)
    cells = np.asarray(cells, dtype="uint64")
    if len(cells) == 0:
        return cells.copy()
    return np.asarray(h3ronpy.change_resolution(cells, resolution), dtype="uint64")


def cells_to_strings(cells: np.ndarray) -> np.ndarray:
    """Return the hexadecimal H3 index string of each cell (object array)."""
    cells = np.asarray(cells, dtype="uint64")
    return np.asarray(h3ronpy.cells_to_string(cells).to_pylist(), dtype=object)


def strings_to_cells(text) -> np.ndarray:
    """Return the uint64 cell of each hexadecimal H3 index string."""
    return np.array([int(t, 16) for t in text], dtype="uint64")
