"""Complete each accepted incident's location: British National Grid and H3 cell.

police.uk snaps every crime to one of ~750k anonymous map points, so a file
has far fewer distinct coordinates than rows (Leicestershire: 21k for 294k
rows).  Both conversions run once per distinct point and are broadcast back.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from harmmap.geo.cells import points_to_cells
from harmmap.geo.crs import wgs84_to_bng


@dataclass(frozen=True)
class Located:
    """Grid coordinates and H3 cells of a set of points."""

    easting: np.ndarray
    northing: np.ndarray
    cell: np.ndarray


def _distinct(lat: np.ndarray, lng: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return the distinct points and, per input point, the index of its distinct point (hash-based)."""
    codes, uniques = pd.factorize(lat + 1j * lng, sort=False)
    return np.ascontiguousarray(uniques.real), np.ascontiguousarray(uniques.imag), codes


def locate_points(
    lat: np.ndarray,
    lng: np.ndarray,
    resolution: int,
    easting: np.ndarray | None = None,
    northing: np.ndarray | None = None,
) -> Located:
    """Return British National Grid coordinates and H3 cells for validated WGS84 points.

    Parameters
    ----------
    lat, lng : numpy.ndarray of float64
        Validated WGS84 degrees (no NaN).
    resolution : int
        H3 resolution of the cells.
    easting, northing : numpy.ndarray, optional
        Grid coordinates already known (e.g. the input was on the grid); kept
        where not NaN instead of the converted ones.
    """
    lat = np.asarray(lat, dtype="float64")
    lng = np.asarray(lng, dtype="float64")
    ulat, ulng, inverse = _distinct(lat, lng)
    u_e, u_n = wgs84_to_bng(ulat, ulng)
    cells = points_to_cells(ulat, ulng, resolution)[inverse]
    grid_e, grid_n = u_e[inverse], u_n[inverse]
    if easting is not None and northing is not None:
        given_e = np.asarray(easting, dtype="float64")
        given_n = np.asarray(northing, dtype="float64")
        keep = ~np.isnan(given_e) & ~np.isnan(given_n)
        grid_e = np.where(keep, given_e, grid_e)
        grid_n = np.where(keep, given_n, grid_n)
    return Located(grid_e, grid_n, cells)
