"""Zero-filled study grids and k-ring neighbour matrices (harmmap.geo.grid), checked against h3-py."""

from __future__ import annotations

import h3
import numpy as np
import pytest
import shapely
from hypothesis import given, settings
from hypothesis import strategies as st

from harmmap.errors import ConfigError, GeometryError
from harmmap.geo.grid import buffer_cells, cells_to_neighbours, polygons_to_cells

LEICESTER = h3.str_to_int(h3.latlng_to_cell(52.6344, -1.1318, 9))  # clock tower, res 9


def disk(cell: int, k: int) -> set[int]:
    return {h3.str_to_int(c) for c in h3.grid_disk(h3.int_to_str(int(cell)), k)}


def neighbour_sets(matrix) -> list[set[int]]:
    return [set(matrix.indices[matrix.indptr[i]:matrix.indptr[i + 1]].tolist()) for i in range(matrix.shape[0])]


def test_buffer_of_one_cell_has_the_hexagon_numbers():
    for rings, size in ((0, 1), (1, 7), (2, 19), (3, 37)):
        cells = buffer_cells(np.array([LEICESTER], dtype=np.uint64), rings)
        assert cells.size == size
        assert set(cells.tolist()) == disk(LEICESTER, rings)
        assert cells.dtype == np.uint64 and np.all(np.diff(cells.astype(np.int64)) > 0)


def test_buffer_sorts_and_deduplicates_its_input():
    ring = np.array(sorted(disk(LEICESTER, 1)), dtype=np.uint64)
    messy = np.concatenate([ring[::-1], ring])
    assert np.array_equal(buffer_cells(messy, 0), ring)
    assert np.array_equal(buffer_cells(messy, 1), np.array(sorted(disk(LEICESTER, 2)), dtype=np.uint64))
    assert buffer_cells(np.empty(0, dtype=np.uint64), 2).size == 0


@pytest.mark.parametrize("rings", [-1, 1.5, True, "2"])
def test_buffer_rejects_bad_rings(rings):
    with pytest.raises(ConfigError, match="rings"):
        buffer_cells(np.array([LEICESTER], dtype=np.uint64), rings)


def test_interior_cell_has_6_then_18_neighbours_and_edges_fewer():
    cells = buffer_cells(np.array([LEICESTER], dtype=np.uint64), 3)  # 37 cells
    centre = int(np.searchsorted(cells, np.uint64(LEICESTER)))
    one, two = cells_to_neighbours(cells, 1), cells_to_neighbours(cells, 2)
    assert np.diff(one.indptr)[centre] == 6
    assert np.diff(two.indptr)[centre] == 18
    outer = np.array([c not in disk(LEICESTER, 2) for c in cells.tolist()])  # the 18 cells of ring 3
    assert outer.sum() == 18
    assert np.all(np.diff(one.indptr)[outer] < 6)  # 3 (corners) or 4 (sides) inside the grid
    assert set(np.diff(one.indptr)[outer].tolist()) == {3, 4}


def test_neighbour_matrix_is_binary_symmetric_without_diagonal():
    cells = buffer_cells(np.array([LEICESTER], dtype=np.uint64), 6)
    for k in (1, 2, 3):
        matrix = cells_to_neighbours(cells, k)
        assert matrix.shape == (cells.size, cells.size)
        assert np.all(matrix.data == 1.0)
        assert not np.any(matrix.diagonal())
        assert (matrix != matrix.T).nnz == 0


@settings(max_examples=25, deadline=None)
@given(st.lists(st.integers(0, 60), min_size=1, max_size=40), st.integers(1, 3))
def test_neighbours_equal_h3_grid_disk(picks, k):
    """Every row is exactly grid_disk(cell, k) within the cell set, minus the cell itself."""
    universe = np.array(sorted(disk(LEICESTER, 4)), dtype=np.uint64)  # 61 cells
    cells = np.unique(universe[picks])
    matrix = cells_to_neighbours(cells, k)
    members = set(cells.tolist())
    for i, found in enumerate(neighbour_sets(matrix)):
        expected = (disk(int(cells[i]), k) & members) - {int(cells[i])}
        assert {int(cells[j]) for j in found} == expected


def test_k_zero_and_empty_grids_give_empty_matrices():
    cells = buffer_cells(np.array([LEICESTER], dtype=np.uint64), 1)
    assert cells_to_neighbours(cells, 0).nnz == 0
    assert cells_to_neighbours(np.empty(0, dtype=np.uint64), 1).shape == (0, 0)


@pytest.mark.parametrize("k", [-1, 51, 1.0, True, None])
def test_neighbours_reject_bad_k(k):
    with pytest.raises(ConfigError, match="k must be"):
        cells_to_neighbours(np.array([LEICESTER], dtype=np.uint64), k)


def test_neighbours_reject_unsorted_or_duplicate_cells():
    cells = buffer_cells(np.array([LEICESTER], dtype=np.uint64), 1)
    with pytest.raises(ConfigError, match="sorted"):
        cells_to_neighbours(cells[::-1], 1)
    with pytest.raises(ConfigError, match="sorted"):
        cells_to_neighbours(np.repeat(cells, 2), 1)


def square(lat: float, lng: float, half: float) -> shapely.Polygon:
    return shapely.box(lng - half, lat - half, lng + half, lat + half)


def test_polygons_to_cells_takes_the_cells_whose_centre_is_inside():
    polygon = square(52.6344, -1.1318, 0.01)  # about 1.4 km x 2.2 km
    cells = polygons_to_cells([polygon], 9)
    assert 20 < cells.size < 40  # ~3.1 km2 / 0.105 km2 per res-9 cell
    assert np.all(np.diff(cells.astype(np.int64)) > 0)
    centres = [h3.cell_to_latlng(h3.int_to_str(int(c))) for c in cells]
    assert all(polygon.contains(shapely.Point(lng, lat)) for lat, lng in centres)
    # every res-9 cell whose centre is inside is found: compare with h3-py's polyfill
    shape = h3.LatLngPoly([(lat, lng) for lng, lat in polygon.exterior.coords[:-1]])
    assert set(cells.tolist()) == {h3.str_to_int(c) for c in h3.h3shape_to_cells(shape, 9)}


def test_polygons_to_cells_containment_modes_nest_and_union_overlaps():
    polygon = square(52.6344, -1.1318, 0.01)
    covers = polygons_to_cells([polygon], 9, containment="covers")
    centroid = polygons_to_cells([polygon], 9)
    intersects = polygons_to_cells([polygon], 9, containment="intersects")
    assert set(covers.tolist()) <= set(centroid.tolist()) <= set(intersects.tolist())
    assert covers.size < centroid.size < intersects.size
    hexagons = [shapely.Polygon([(lng, lat) for lat, lng in h3.cell_to_boundary(h3.int_to_str(int(c)))])
                for c in covers]
    assert all(hexagon.within(polygon) for hexagon in hexagons)  # "covers": the polygon covers the cell
    tiny = square(52.6344, -1.1318, 0.0001)  # ~20 m square, well inside one res-9 cell
    assert polygons_to_cells([tiny], 9, containment="intersects").tolist() == [LEICESTER]
    twice = polygons_to_cells([polygon, polygon, None, shapely.Polygon()], 9)
    assert np.array_equal(twice, centroid)


def test_polygons_to_cells_errors():
    with pytest.raises(ConfigError, match="containment"):
        polygons_to_cells([square(52.6, -1.1, 0.01)], 9, containment="inside")
    with pytest.raises(GeometryError, match="polygons"):
        polygons_to_cells([shapely.Point(-1.1, 52.6)], 9)
    assert polygons_to_cells([], 9).size == 0
