"""Study area of a scoring run and place -> cell membership (harmmap.geo.study_area), checked against h3-py."""

from __future__ import annotations

import geopandas as gpd
import h3
import numpy as np
import pytest
import shapely

from harmmap.errors import ConfigError
from harmmap.geo.crs import wgs84_to_bng
from harmmap.geo.grid import buffer_cells
from harmmap.geo.study_area import places_to_cells, study_area_cells

LEICESTER = (52.6344, -1.1318)  # clock tower
LOUGHBOROUGH = (52.7721, -1.2062)
RES9_MEAN_KM2 = 0.105  # H3's average res-9 hexagon area over the globe
# Real res-9 cells vary in area with position on the icosahedron: around Leicester they are ~0.094-0.096 km2,
# so "area / 0.105" undercounts by ~10 % there; the tight check below uses the local cell areas.


def square(lat: float, lng: float, side_m: float) -> shapely.Polygon:
    """A square of ``side_m`` metres centred on (lat, lng), in British National Grid."""
    east, north = wgs84_to_bng(np.array([lat]), np.array([lng]))
    half = side_m / 2
    return shapely.box(east[0] - half, north[0] - half, east[0] + half, north[0] + half)


def places(geometries, kinds=None) -> gpd.GeoDataFrame:
    n = len(geometries)
    kinds = kinds or ["town_centre"] * n
    return gpd.GeoDataFrame({"place_id": [f"{k}:{i}" for i, k in enumerate(kinds)], "kind": kinds,
                             "name": [f"place {i}" for i in range(n)]}, geometry=list(geometries), crs="EPSG:27700")


def cell_of(lat: float, lng: float) -> int:
    return h3.str_to_int(h3.latlng_to_cell(lat, lng, 9))


def centres_inside(polygon_bng: shapely.Polygon, cells: np.ndarray) -> np.ndarray:
    lat, lng = np.array([h3.cell_to_latlng(h3.int_to_str(int(c))) for c in cells]).T
    east, north = wgs84_to_bng(lat, lng)
    return shapely.contains_xy(polygon_bng, east, north)


# --- places_to_cells ----------------------------------------------------------------------------------------------


def test_place_smaller_than_a_cell_gets_exactly_the_cell_holding_it():
    tiny = square(*LEICESTER, 20.0)  # 0.0004 km2: no cell centre inside (unless by a fluke, checked below)
    index, cells = places_to_cells(places([tiny]), 9)
    assert index.tolist() == [0] and cells.dtype == np.uint64
    assert int(cells[0]) == cell_of(*LEICESTER)


def test_about_one_square_km_gets_about_area_over_cell_area_cells():
    polygon = square(*LEICESTER, 1000.0)  # 1 km2
    index, cells = places_to_cells(places([polygon]), 9)
    assert (index == 0).all() and np.unique(cells).size == cells.size
    assert 0.7 * 1 / RES9_MEAN_KM2 <= cells.size <= 1.3 * 1 / RES9_MEAN_KM2  # ~9.5; boundary effects on a small area
    assert centres_inside(polygon, cells).all()  # containment is by cell centre
    # every res-9 cell near the square whose centre is inside is listed
    nearby = buffer_cells(np.array([cell_of(*LEICESTER)], dtype=np.uint64), 6)
    expected = set(nearby[centres_inside(polygon, nearby)].tolist())
    assert set(cells.tolist()) == expected


def test_larger_area_matches_the_mean_cell_area_closely():
    polygon = square(*LEICESTER, 5000.0)  # 25 km2: boundary effects are small
    _, cells = places_to_cells(places([polygon]), 9)
    mean_area = np.mean([h3.cell_area(h3.int_to_str(int(c)), unit="km^2") for c in cells])
    assert 0.09 < mean_area < 0.1
    assert cells.size == pytest.approx(25.0 / mean_area, rel=0.03)
    assert cells.size == pytest.approx(25.0 / RES9_MEAN_KM2, rel=0.15)


def test_places_keep_their_index_and_may_share_cells():
    big = square(*LEICESTER, 1000.0)
    inner = square(*LEICESTER, 400.0)  # inside ``big``: its cells are also big's
    far = square(*LOUGHBOROUGH, 30.0)  # tiny, elsewhere
    index, cells = places_to_cells(places([big, inner, far]), 9)
    assert set(index.tolist()) == {0, 1, 2}
    by_place = {i: set(cells[index == i].tolist()) for i in range(3)}
    assert by_place[1] <= by_place[0]
    assert by_place[2] == {cell_of(*LOUGHBOROUGH)}
    assert np.all(np.diff(index) >= 0)  # grouped in place order


def test_places_in_wgs84_are_accepted():
    frame = places([square(*LEICESTER, 1000.0)])
    _, bng_cells = places_to_cells(frame, 9)
    _, wgs_cells = places_to_cells(frame.to_crs("EPSG:4326"), 9)
    assert set(wgs_cells.tolist()) == set(bng_cells.tolist())


def test_no_places_and_coarser_resolution():
    index, cells = places_to_cells(places([]), 9)
    assert index.size == 0 and cells.size == 0 and cells.dtype == np.uint64
    _, coarse = places_to_cells(places([square(*LEICESTER, 1000.0)]), 7)  # a res-7 cell is ~5 km2
    # no res-7 centre falls in the square, so the place gets the res-7 cell holding it
    assert coarse.tolist() == [h3.str_to_int(h3.latlng_to_cell(*LEICESTER, 7))]


# --- study_area_cells ---------------------------------------------------------------------------------------------


@pytest.fixture
def workspace_like():
    frame = places([square(*LEICESTER, 1000.0), square(*LOUGHBOROUGH, 1000.0), square(*LEICESTER, 300.0)],
                   kinds=["town_centre", "town_centre", "custom"])
    return frame, places_to_cells(frame, 9)


def test_buffer_is_incident_cells_plus_rings(workspace_like):
    frame, pairs = workspace_like
    a, b = cell_of(*LEICESTER), cell_of(*LOUGHBOROUGH)
    incidents = np.array([a, a, b, a], dtype=np.uint64)
    cells = study_area_cells("buffer", incident_cells=incidents, places=frame, place_cells=pairs, rings=2)
    expected = {h3.str_to_int(c) for x in (a, b) for c in h3.grid_disk(h3.int_to_str(x), 2)}
    assert set(cells.tolist()) == expected and cells.size == 2 * 19
    assert cells.dtype == np.uint64 and np.all(np.diff(cells.astype(np.int64)) > 0)
    zero = study_area_cells("buffer", incident_cells=incidents, places=frame, place_cells=pairs, rings=0)
    assert zero.tolist() == sorted({a, b})


def test_places_is_the_union_of_all_places(workspace_like):
    frame, (index, cells) = workspace_like
    study = study_area_cells("places", incident_cells=np.empty(0, np.uint64), places=frame,
                             place_cells=(index, cells), rings=2)
    assert study.tolist() == sorted(set(cells.tolist()))
    assert np.all(np.diff(study.astype(np.int64)) > 0)


def test_kind_selects_the_places_of_one_kind(workspace_like):
    frame, (index, cells) = workspace_like
    town = study_area_cells("kind:town_centre", incident_cells=np.empty(0, np.uint64), places=frame,
                            place_cells=(index, cells), rings=2)
    custom = study_area_cells("kind:custom", incident_cells=np.empty(0, np.uint64), places=frame,
                              place_cells=(index, cells), rings=2)
    assert set(town.tolist()) == set(cells[index <= 1].tolist())
    assert set(custom.tolist()) == set(cells[index == 2].tolist())


def test_errors_are_config_errors(workspace_like):
    frame, pairs = workspace_like
    common = {"incident_cells": np.array([cell_of(*LEICESTER)], dtype=np.uint64), "rings": 1}
    with pytest.raises(ConfigError, match="unknown study area"):
        study_area_cells("force", places=frame, place_cells=pairs, **common)
    with pytest.raises(ConfigError, match="no places"):
        study_area_cells("kind:ward", places=frame, place_cells=pairs, **common)
    empty = places([])
    with pytest.raises(ConfigError, match="no places"):
        study_area_cells("places", places=empty, place_cells=places_to_cells(empty, 9), **common)
    with pytest.raises(ConfigError, match="no places"):
        study_area_cells("kind:town_centre", places=empty, place_cells=places_to_cells(empty, 9), **common)
