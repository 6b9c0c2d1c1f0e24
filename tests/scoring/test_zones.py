"""Place-level Gi* (harmmap.scoring.zones): cell Gi* as oracle, a hand-worked example, exact permutation null."""

from __future__ import annotations

import itertools

import h3
import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st

from harmmap.errors import ConfigError
from harmmap.geo.grid import buffer_cells, cells_to_neighbours
from harmmap.scoring.getis_ord import gi_star
from harmmap.scoring.zones import gi_star_zones, zones_to_membership

LEICESTER = h3.str_to_int(h3.latlng_to_cell(52.6344, -1.1318, 9))


def grid(rings: int) -> np.ndarray:
    return buffer_cells(np.array([LEICESTER], dtype=np.uint64), rings)


def disks_to_membership(neighbours: sp.csr_matrix) -> sp.csr_matrix:
    """One zone per cell: the cell's k-ring plus the cell itself (Gi*'s neighbourhood)."""
    n = neighbours.shape[0]
    with_self = (neighbours + sp.identity(n, format="csr")).tocoo()
    return zones_to_membership(with_self.row, with_self.col, n, n)


# --- oracle: a zone equal to a cell's neighbourhood is that cell's Gi* ---------------------------------------------


@pytest.mark.parametrize("k", [1, 2])
def test_zone_of_a_k_ring_equals_cell_gi_star(k):
    cells = grid(6)  # 127 cells: edge cells have truncated disks, so zone sizes vary
    rng = np.random.default_rng(11)
    values = rng.poisson(rng.gamma(0.6, 3.0, cells.size)).astype(float)
    values[rng.random(cells.size) < 0.02] += 365.0  # a few robberies: skewed, as harm is
    neighbours = cells_to_neighbours(cells, k)
    zones = gi_star_zones(values, disks_to_membership(neighbours), permutations=0, seed=0)
    cell = gi_star(values, neighbours, permutations=0, seed=0)
    assert np.ptp(zones.cells) > 0  # the edge really truncates some zones
    np.testing.assert_array_equal(zones.cells, np.diff(neighbours.indptr) + 1)
    np.testing.assert_allclose(zones.gi_z, cell.gi_z, rtol=0, atol=1e-12)
    np.testing.assert_allclose(zones.gi_p, cell.gi_p, rtol=0, atol=1e-12)
    assert np.isnan(zones.gi_p_sim).all() and zones.permutations == 0


# --- hand-worked --------------------------------------------------------------------------------------------------


def test_hand_worked_seven_values():
    # values 4, 1, 1, 1, 1, 1, 1: n = 7, total 10, mean 10/7, population variance s2 = 22/7 - 100/49 = 54/49,
    # so s2 / mean^2 = 54/100.
    # Zone {0, 1}: c = 2, G = 5/10, E[G] = 2/7, Var[G] = 2 * 5 / 6 / 49 * 54/100 = 9/490,
    #   z = (1/2 - 2/7) / sqrt(9/490) = (3/14) * sqrt(490) / 3 = sqrt(490) / 14 = sqrt(5/2).
    # Zone {1}: c = 1, G = 1/10, E[G] = 1/7, Var[G] = 1 * 6 / 6 / 49 * 54/100 = 54/4900,
    #   z = (-3/70) / (sqrt(54)/70) = -3 / sqrt(54).
    # Zone {1, 2, 3, 4, 5, 6}: c = 6, G = 6/10, E[G] = 6/7, Var[G] = 6 * 1 / 6 / 49 * 54/100 = 54/4900,
    #   z = (-18/70) / (sqrt(54)/70) = -18 / sqrt(54) = -sqrt(6).
    values = np.array([4.0, 1, 1, 1, 1, 1, 1])
    membership = zones_to_membership([0, 0, 1, 2, 2, 2, 2, 2, 2], [0, 1, 1, 1, 2, 3, 4, 5, 6], 3, 7)
    result = gi_star_zones(values, membership, permutations=0, seed=0)
    np.testing.assert_allclose(result.gi_z, [np.sqrt(2.5), -3 / np.sqrt(54), -np.sqrt(6)], rtol=1e-12)
    np.testing.assert_allclose(result.gi_p, [0.1138463, 0.6830914, 0.0143059], atol=1e-7)  # 2 * P(Z > |z|)
    np.testing.assert_array_equal(result.cells, [2, 1, 6])


# --- degenerate zones ---------------------------------------------------------------------------------------------


def test_empty_zone_and_whole_grid_zone_are_not_tested():
    values = np.array([5.0, 0, 0, 1, 0, 2, 0, 0])
    n = values.size
    zones = np.r_[np.full(n, 1), [2, 2]]  # zone 0 holds no cells; zone 1 all cells; zone 2 two cells
    cells = np.r_[np.arange(n), [0, 3]]
    result = gi_star_zones(values, zones_to_membership(zones, cells, 3, n), permutations=99, seed=4)
    np.testing.assert_array_equal(result.cells, [0, n, 2])
    assert result.gi_z[0] == 0.0 and result.gi_p[0] == 1.0 and result.gi_p_sim[0] == 1.0
    assert result.gi_z[1] == 0.0 and result.gi_p[1] == 1.0 and result.gi_p_sim[1] == 1.0
    assert result.gi_z[2] > 0 and result.gi_p[2] < 1 and 0 < result.gi_p_sim[2] < 1


def test_grid_without_variation_gives_z_zero():
    membership = zones_to_membership([0, 0, 1], [0, 1, 2], 2, 5)
    for values in (np.zeros(5), np.full(5, 3.0)):
        result = gi_star_zones(values, membership, permutations=9, seed=0)
        np.testing.assert_array_equal(result.gi_z, [0.0, 0.0])
        np.testing.assert_array_equal(result.gi_p, [1.0, 1.0])
        assert np.isfinite(result.gi_z).all()


# --- permutation inference ----------------------------------------------------------------------------------------


def exact_upper_tail(values: np.ndarray, zone: list[int]) -> float:
    """P(sum of len(zone) cells drawn without replacement >= the zone's sum), by enumeration."""
    observed = values[zone].sum()
    sums = np.array([values[list(c)].sum() for c in itertools.combinations(range(values.size), len(zone))])
    return float(np.mean(sums >= observed - 1e-12))


def test_pseudo_p_matches_the_exact_null_within_sampling_error():
    values = np.array([9.0, 7, 0, 1, 0, 2, 0, 0, 3, 0, 1, 0])
    zone = [0, 1, 8]  # the three largest but one: exact upper tail is small, not minimal
    exact = exact_upper_tail(values, zone)  # the zone is above expectation, so the upper tail is the smaller one
    permutations = 9999
    result = gi_star_zones(values, zones_to_membership([0, 0, 0], zone, 1, values.size),
                           permutations=permutations, seed=123)
    # p_sim = (R + 1) / (M + 1) with R ~ Binomial(M, exact): allow 4 standard errors
    se = np.sqrt(exact * (1 - exact) / permutations)
    assert abs(result.gi_p_sim[0] - exact) < 4 * se + 1 / (permutations + 1)
    assert result.gi_z[0] > 0


def test_pseudo_p_is_reproducible_with_the_seed():
    rng = np.random.default_rng(5)
    values = rng.gamma(0.5, 4.0, 200)
    zones = rng.integers(0, 12, 400)
    membership = zones_to_membership(zones, rng.integers(0, 200, 400), 12, 200)
    first = gi_star_zones(values, membership, permutations=199, seed=42)
    again = gi_star_zones(values, membership, permutations=199, seed=42)
    other = gi_star_zones(values, membership, permutations=199, seed=43)
    np.testing.assert_array_equal(first.gi_p_sim, again.gi_p_sim)
    np.testing.assert_array_equal(first.gi_z, other.gi_z)  # analytic part does not depend on the seed
    assert not np.array_equal(first.gi_p_sim, other.gi_p_sim)
    assert first.seed == 42 and first.permutations == 199
    assert ((first.gi_p_sim >= 1 / 200) & (first.gi_p_sim <= 1)).all()


# --- invariants ---------------------------------------------------------------------------------------------------


@settings(max_examples=60, deadline=None)
@given(
    values=st.lists(st.floats(0, 1000, allow_nan=False, allow_subnormal=False), min_size=3, max_size=40),
    pairs=st.lists(st.tuples(st.integers(0, 5), st.integers(0, 39)), min_size=1, max_size=60),
    scale=st.sampled_from([1e-3, 0.5, 3.0, 365.0, 1e4]),
)
def test_scaling_all_values_leaves_z_and_pseudo_p_unchanged(values, pairs, scale):
    values = np.asarray(values)
    n = values.size
    zones = np.array([z for z, _ in pairs])
    cells = np.array([c % n for _, c in pairs])
    membership = zones_to_membership(zones, cells, 6, n)
    base = gi_star_zones(values, membership, permutations=49, seed=1)
    scaled = gi_star_zones(values * scale, membership, permutations=49, seed=1)
    np.testing.assert_allclose(scaled.gi_z, base.gi_z, rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(scaled.gi_p, base.gi_p, rtol=1e-9, atol=1e-12)
    np.testing.assert_array_equal(scaled.gi_p_sim, base.gi_p_sim)
    np.testing.assert_array_equal(scaled.cells, base.cells)


def test_membership_collapses_duplicates_and_checks_indices():
    membership = zones_to_membership([0, 0, 0, 1], [2, 2, 3, 0], 2, 4)
    assert membership.shape == (2, 4)
    np.testing.assert_array_equal(membership.toarray(), [[0, 0, 1, 1], [1, 0, 0, 0]])
    assert zones_to_membership([], [], 3, 5).shape == (3, 5)
    with pytest.raises(ConfigError, match="differ in length"):
        zones_to_membership([0, 1], [0], 2, 2)
    with pytest.raises(ConfigError, match="out of range"):
        zones_to_membership([2], [0], 2, 2)
    with pytest.raises(ConfigError, match="out of range"):
        zones_to_membership([0], [-1], 2, 2)
    with pytest.raises(ConfigError, match="does not match the grid"):
        gi_star_zones(np.ones(3), zones_to_membership([0], [0], 1, 4), permutations=0, seed=0)
