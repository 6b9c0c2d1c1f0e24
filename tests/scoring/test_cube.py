"""Space-time cube Gi*: slice window equals per-period Gi*, cube window equals the written formula."""

from __future__ import annotations

import h3
import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st

from harmmap.errors import ConfigError
from harmmap.geo.grid import cells_to_neighbours
from harmmap.scoring.cube import incidents_to_cube, space_time_gi_star, zone_space_time_gi_star
from harmmap.scoring.getis_ord import confidence_bins, gi_star
from harmmap.scoring.zones import gi_star_zones, zones_to_membership

CENTRE = h3.latlng_to_cell(52.6369, -1.1398, 9)


def _grid(rings: int = 3) -> np.ndarray:
    return np.sort(np.array([h3.str_to_int(c) for c in h3.grid_disk(CENTRE, rings)], dtype=np.uint64))


def test_incidents_to_cube_sums_by_bin_and_leaves_out_minus_one():
    cube = incidents_to_cube(np.array([0, 0, 1, -1, 2, 1]), np.array([0, 0, 1, 1, -1, 1]),
                             np.array([1.0, 2.0, 5.0, 7.0, 9.0, 0.5]), 3, 2)
    np.testing.assert_array_equal(cube, [[3.0, 0.0], [0.0, 5.5], [0.0, 0.0]])


@settings(max_examples=50, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 4), st.integers(0, 2), st.floats(0, 100)), min_size=1, max_size=40))
def test_cube_conserves_harm_and_ignores_row_order(rows):
    unit, period, value = (np.array(column) for column in zip(*rows))
    cube = incidents_to_cube(unit, period, value, 5, 3)
    assert cube.sum() == pytest.approx(value.sum())
    order = np.random.default_rng(0).permutation(len(rows))
    np.testing.assert_allclose(incidents_to_cube(unit[order], period[order], value[order], 5, 3), cube)


def test_slice_window_equals_gi_star_of_each_period():
    cells = _grid(4)
    neighbours = cells_to_neighbours(cells, 1)
    cube = np.random.default_rng(1).poisson(0.6, (cells.size, 6)).astype(float)
    cube[:5, 3] += 9.0
    result = space_time_gi_star(cube, neighbours, global_window="slice", fdr=False)
    for t in range(cube.shape[1]):
        single = gi_star(cube[:, t], neighbours, permutations=0, seed=0)
        np.testing.assert_allclose(result.gi_z[:, t], single.gi_z, rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(result.gi_p[:, t], single.gi_p, rtol=1e-12, atol=1e-15)
        np.testing.assert_array_equal(result.gi_bin[:, t], confidence_bins(single.gi_z, single.gi_p))


def test_slice_window_fdr_bins_equal_per_period_fdr_bins():
    cells = _grid(4)
    neighbours = cells_to_neighbours(cells, 1)
    cube = np.random.default_rng(2).poisson(0.8, (cells.size, 4)).astype(float)
    cube[10:14, :] += 6.0
    result = space_time_gi_star(cube, neighbours, global_window="slice", fdr=True)
    for t in range(cube.shape[1]):
        expected = confidence_bins(result.gi_z[:, t], result.gi_p[:, t], fdr=True)
        np.testing.assert_array_equal(result.gi_bin[:, t], expected)
    assert result.hot.any()
    np.testing.assert_array_equal(result.hot, result.gi_bin >= 2)
    np.testing.assert_array_equal(result.cold, result.gi_bin <= -2)


def _brute_force_z(cube: np.ndarray, cells: np.ndarray, k: int, steps: int) -> np.ndarray:
    """The Gi* formula written out bin by bin, with neighbour lists from h3 itself."""
    index = {int(c): i for i, c in enumerate(cells)}
    n_total = cube.size
    mean, sd = cube.mean(), cube.std()
    z = np.zeros(cube.shape)
    for i, cell in enumerate(cells):
        ring = [index[h3.str_to_int(c)] for c in h3.grid_disk(h3.int_to_str(int(cell)), k)
                if h3.str_to_int(c) in index]
        for t in range(cube.shape[1]):
            times = range(max(0, t - steps), t + 1)
            members = [(j, u) for j in ring for u in times]
            w = len(members)
            total = sum(cube[j, u] for j, u in members)
            z[i, t] = (total - mean * w) / (sd * np.sqrt((n_total * w - w * w) / (n_total - 1)))
    return z


@pytest.mark.parametrize(("k", "steps"), [(1, 0), (1, 1), (2, 2), (1, 5)])
def test_cube_window_equals_the_formula_written_out(k, steps):
    cells = _grid(3)
    cube = np.random.default_rng(k * 10 + steps).gamma(0.7, 2.0, (cells.size, 5))
    result = space_time_gi_star(cube, cells_to_neighbours(cells, k), time_steps=steps, fdr=False)
    np.testing.assert_allclose(result.gi_z, _brute_force_z(cube, cells, k, steps), rtol=1e-10, atol=1e-12)


def test_cube_window_finds_a_cell_that_heats_up_and_fdr_is_stricter():
    cells = _grid(6)
    rng = np.random.default_rng(3)
    cube = rng.poisson(0.5, (cells.size, 24)).astype(float)
    cube[0, 12:] += 12.0
    raw = space_time_gi_star(cube, cells_to_neighbours(cells, 1), fdr=False)
    adjusted = space_time_gi_star(cube, cells_to_neighbours(cells, 1), fdr=True)
    assert adjusted.hot[0, 12:].all() and not adjusted.hot[0, :12].any()
    assert adjusted.hot.sum() <= raw.hot.sum()
    assert not (adjusted.hot & adjusted.cold).any()


def test_a_cube_without_variation_has_no_hotspots():
    cells = _grid(2)
    result = space_time_gi_star(np.full((cells.size, 3), 2.0), cells_to_neighbours(cells, 1))
    assert not result.gi_z.any() and not result.hot.any() and not result.gi_bin.any()
    np.testing.assert_array_equal(result.gi_p, 1.0)


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"global_window": "month"}, "unknown global window"),
    ({"global_window": "slice", "time_steps": 1}, "cannot span periods"),
    ({"time_steps": -1}, "time_steps"),
    ({"alpha": 1.5}, "alpha"),
])
def test_bad_settings_are_explained(kwargs, match):
    cells = _grid(1)
    with pytest.raises(ConfigError, match=match):
        space_time_gi_star(np.ones((cells.size, 2)), cells_to_neighbours(cells, 1), **kwargs)


def test_bad_cubes_are_explained():
    cells = _grid(1)
    neighbours = cells_to_neighbours(cells, 1)
    with pytest.raises(ConfigError, match="non-negative"):
        space_time_gi_star(-np.ones((cells.size, 2)), neighbours)
    with pytest.raises(ConfigError, match="does not match"):
        space_time_gi_star(np.ones((cells.size + 1, 2)), neighbours)
    with pytest.raises(ConfigError, match="out of range"):
        incidents_to_cube(np.array([3]), np.array([0]), np.array([1.0]), 3, 1)


def test_zones_in_the_slice_window_equal_zone_gi_star_of_each_period():
    cells = _grid(4)
    cube = np.random.default_rng(4).poisson(0.7, (cells.size, 5)).astype(float)
    cube[:7, 2:] += 5.0
    zone = np.array([0] * 7 + [1] * 3 + [1])
    member = np.concatenate([np.arange(7), np.arange(20, 24)])
    membership = zones_to_membership(zone, member, 3, cells.size)  # zone 2 has no cells
    result = zone_space_time_gi_star(cube, membership, global_window="slice", fdr=False)
    for t in range(cube.shape[1]):
        single = gi_star_zones(cube[:, t], membership, permutations=0, seed=0)
        np.testing.assert_allclose(result.gi_z[:, t], single.gi_z, rtol=1e-12, atol=1e-12)
    assert (result.gi_z[2] == 0).all() and (result.gi_p[2] == 1).all()
    assert result.gi_z[0, 2:].min() > 3


def test_zone_of_single_cells_equals_the_cell_test_without_neighbours():
    cells = _grid(3)
    cube = np.random.default_rng(5).gamma(0.8, 1.0, (cells.size, 4))
    membership = zones_to_membership(np.arange(cells.size), np.arange(cells.size), cells.size, cells.size)
    zones = zone_space_time_gi_star(cube, membership, time_steps=2, fdr=False)
    alone = space_time_gi_star(cube, sp.csr_matrix((cells.size, cells.size)), time_steps=2, fdr=False)
    np.testing.assert_allclose(zones.gi_z, alone.gi_z, rtol=1e-12)
