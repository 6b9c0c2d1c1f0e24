"""The study area of a scoring run as H3 cells, and which cells each place holds.

Three ways to draw the study area (``harmmap score --study-area``):

``buffer`` (default)
    every cell with an incident plus ``rings`` rings around it: covers all the
    data, with enough empty cells around it that edge cells are compared with
    real zeros rather than with nothing;
``places``
    the union of the imported places (all kinds, or the kinds given);
``kind:<kind>``
    the union of the places of one kind, e.g. a force boundary imported with
    ``places import force.geojson --kind custom``.
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import shapely

from harmmap.errors import ConfigError
from harmmap.geo.cells import points_to_cells
from harmmap.geo.crs import WGS84
from harmmap.geo.grid import buffer_cells, polygons_to_cells


def places_to_cells(places: gpd.GeoDataFrame, resolution: int) -> tuple[np.ndarray, np.ndarray]:
    """Return (place index, cell) pairs: the cells whose centre lies in each place.

    A place smaller than a cell (no centre inside) gets the cell holding its
    representative point, so every place has at least one cell.
    """
    if places.empty:
        return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.uint64)
    wgs = places.geometry.to_crs(WGS84)
    index, cells = [], []
    for i, geometry in enumerate(wgs):
        found = polygons_to_cells([geometry], resolution)
        if found.size == 0:
            point = shapely.point_on_surface(geometry)
            found = points_to_cells(np.array([point.y]), np.array([point.x]), resolution)
        index.append(np.full(found.size, i, dtype=np.int64))
        cells.append(found)
    return np.concatenate(index), np.concatenate(cells).astype(np.uint64)


def study_area_cells(method: str, *, incident_cells: np.ndarray, places: gpd.GeoDataFrame,
                     place_cells: tuple[np.ndarray, np.ndarray], rings: int) -> np.ndarray:
    """Return the sorted unique cells of the study area.

    Parameters
    ----------
    method : str
        "buffer", "places" or "kind:<kind>".
    incident_cells : numpy.ndarray of uint64
        Cells of the incidents (at the scoring resolution).
    places : geopandas.GeoDataFrame
        The workspace's places (``kind`` column used by "kind:<kind>").
    place_cells : (place index, cell) arrays from :func:`places_to_cells`.
    rings : int
        Buffer width in rings for "buffer".
    """
    if method == "buffer":
        return buffer_cells(np.unique(incident_cells), rings)
    if method == "places":
        chosen = np.ones(len(places), dtype=bool)
    elif method.startswith("kind:"):
        chosen = (places["kind"] == method[5:]).to_numpy(dtype=bool) if len(places) else np.zeros(0, bool)
    else:
        raise ConfigError("unknown study area", given=method, fix='use "buffer", "places" or "kind:<kind>"')
    if not chosen.any():
        raise ConfigError("the study area has no places", given=method,
                          fix="import places first (harmmap places import) or use --study-area buffer")
    index, cells = place_cells
    return np.unique(cells[chosen[index]])
