"""Local and global Moran's I: hand-worked example, esda 2.9 as oracle on real Leicestershire cells, invariants."""

from __future__ import annotations

import warnings

import h3
import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st

from harmmap.errors import ConfigError
from harmmap.geo.grid import buffer_cells, cells_to_neighbours
from harmmap.scoring.moran import _simulate_global, _weight_sums, classify_clusters, global_moran, local_moran
from tests.conftest import leicestershire_grid

LEICESTER = h3.str_to_int(h3.latlng_to_cell(52.6344, -1.1318, 9))


def hexagon_grid(rings: int) -> tuple[np.ndarray, sp.csr_matrix]:
    cells = buffer_cells(np.array([LEICESTER], dtype=np.uint64), rings)
    return cells, cells_to_neighbours(cells, 1)


def esda_call(name, *args, **kwargs):
    esda = pytest.importorskip("esda")
    libpysal = pytest.importorskip("libpysal")
    values, neighbours = args
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return getattr(esda, name)(values, libpysal.graph.Graph.from_sparse(neighbours), **kwargs)


@pytest.fixture(scope="module")
def leicestershire(shared_data):
    """Three months of real police.uk rows -> res-9 counts on a zero-filled grid (data cells + 2 rings)."""
    cells, values = leicestershire_grid(shared_data, months=3)
    return cells, values, cells_to_neighbours(cells, 1)


def seven_cells() -> tuple[np.ndarray, sp.csr_matrix, int]:
    cells, neighbours = hexagon_grid(1)
    centre = int(np.searchsorted(cells, np.uint64(LEICESTER)))
    values = np.ones(7)
    values[centre] = 4.0
    return values, neighbours, centre


def test_hand_worked_seven_cells():
    # Centre 4, ring of six 1s; the centre has 6 neighbours, each ring cell 3 (centre + 2 ring cells).
    # mean = 10/7; deviations z: centre 18/7, ring -3/7; sum z^2 = (324 + 6*9)/49 = 54/7.
    # Row-standardised lags: centre = mean of ring z = -3/7; ring = (18/7 - 3/7 - 3/7)/3 = 4/7.
    # sum z*lag = (18/7)(-3/7) + 6(-3/7)(4/7) = -126/49 = -18/7;  S0 = 7 rows summing to 1.
    # Global I = n/S0 * sum z*lag / sum z^2 = (-18/7)/(54/7) = -1/3;  E[I] = -1/(n-1) = -1/6.
    # S1 = 1/2 sum (w_ij + w_ji)^2 = 1/2 (12 * (1/6 + 1/3)^2 + 12 * (2/3)^2) = 25/6;
    # S2 = sum (row + column sums)^2 = (1 + 2)^2 + 6 (1 + 5/6)^2 = 175/6.
    # Var_norm = (n^2 S1 - n S2 + 3 S0^2) / ((n-1)(n+1) S0^2) - E^2 = 147/2352 - 1/36 = 5/144.
    # kurtosis b2 = (sum z^4 / n) / (sum z^2 / n)^2 = 31/6;  A = 504, B = 2821/9,
    # Var_rand = (A - B) / ((n-1)(n-2)(n-3) S0^2) - E^2 = 7/216 - 1/36 = 1/216;  z = (-1/6) / sqrt(1/216) = -sqrt(6).
    # Local I_i = (n-1) z_i lag_i / sum z^2: centre 6 (18/7)(-3/7)(7/54) = -6/7, ring 6 (-3/7)(4/7)(7/54) = -4/21.
    # Quadrants: centre high amid low = HL (4), ring low amid high = LH (2).
    values, neighbours, centre = seven_cells()
    result = global_moran(values, neighbours, permutations=0, seed=0)
    assert result.moran_i == pytest.approx(-1 / 3, rel=1e-12)
    assert result.expected_i == pytest.approx(-1 / 6, rel=1e-12)
    assert result.variance_i_normal == pytest.approx(5 / 144, rel=1e-12)
    assert result.variance_i == pytest.approx(1 / 216, rel=1e-12)
    assert result.moran_z == pytest.approx(-np.sqrt(6), rel=1e-12)
    assert np.isnan(result.moran_p_sim)
    _, s0, s1, s2 = _weight_sums(neighbours)
    assert (s0, s1, s2) == pytest.approx((7, 25 / 6, 175 / 6), rel=1e-12)
    local = local_moran(values, neighbours, permutations=0, seed=0)
    ring = np.arange(7) != centre
    assert local.moran_i[centre] == pytest.approx(-6 / 7, rel=1e-12)
    np.testing.assert_allclose(local.moran_i[ring], -4 / 21, rtol=1e-12)
    assert local.quadrant[centre] == 4 and np.all(local.quadrant[ring] == 2)
    assert np.isnan(local.moran_p_sim).all()


def test_global_equals_esda_on_real_leicestershire_cells(leicestershire):
    _, values, neighbours = leicestershire
    ours = global_moran(values, neighbours, permutations=99, seed=1)
    theirs = esda_call("Moran", values, neighbours, transformation="r", permutations=99)
    assert ours.moran_i == pytest.approx(theirs.I, abs=1e-9)
    assert ours.expected_i == pytest.approx(theirs.EI, abs=1e-12)
    assert ours.variance_i == pytest.approx(theirs.VI_rand, rel=1e-9)
    assert ours.variance_i_normal == pytest.approx(theirs.VI_norm, rel=1e-9)
    assert ours.moran_z == pytest.approx(theirs.z_rand, abs=1e-9)
    assert ours.moran_p == pytest.approx(theirs.p_rand, abs=1e-12)
    assert ours.moran_z > 50 and ours.moran_p_sim == theirs.p_sim == pytest.approx(0.01)


def test_global_permutation_p_matches_the_analytic_test_when_weak(leicestershire):
    _, counts, neighbours = leicestershire
    values = np.random.default_rng(2).permutation(counts)  # spatially random, same values
    ours = global_moran(values, neighbours, permutations=999, seed=4)
    # directed pseudo p (one tail) ~ half the two-sided analytic p, within Monte Carlo error
    assert abs(ours.moran_p_sim - ours.moran_p / 2) < 0.05


def test_global_permutations_have_the_randomisation_moments():
    """Mean and variance of simulated I equal E[I] and Var_rand, which are exact permutation moments."""
    _, neighbours = hexagon_grid(6)  # 127 cells
    rng = np.random.default_rng(0)
    for values in (np.where(rng.random(127) < 0.2, rng.exponential(3, 127), 0.0), rng.random(127)):
        upper, s0, s1, s2 = _weight_sums(neighbours)
        deviation = values - values.mean()
        scale = 127 / s0 / np.sum(deviation**2)
        simulated = _simulate_global(values, upper, scale, 20_000, seed=1)
        reference = global_moran(values, neighbours, permutations=0, seed=0)
        standard_error = np.sqrt(reference.variance_i / 20_000)
        assert abs(simulated.mean() - reference.expected_i) < 4 * standard_error
        assert simulated.var() == pytest.approx(reference.variance_i, rel=0.05)


def test_local_equals_esda_on_real_leicestershire_cells(leicestershire):
    _, values, neighbours = leicestershire
    ours = local_moran(values, neighbours, permutations=0, seed=0)
    theirs = esda_call("Moran_Local", values, neighbours, transformation="r", permutations=0)
    np.testing.assert_allclose(ours.moran_i, theirs.Is, rtol=0, atol=1e-9)
    assert np.array_equal(ours.quadrant, theirs.q)
    assert set(np.unique(ours.quadrant).tolist()) == {1, 2, 3, 4}


def test_local_permutation_p_values_agree_with_esda(leicestershire):
    _, counts, neighbours = leicestershire
    values = counts + np.random.default_rng(5).random(counts.size)  # continuous: ties are rare
    ours = local_moran(values, neighbours, permutations=999, seed=1)
    theirs = esda_call("Moran_Local", values, neighbours, transformation="r", permutations=999, seed=1,
                       keep_simulations=False)
    assert np.array_equal(ours.quadrant, theirs.q)
    assert np.mean(np.abs(ours.moran_p_sim - theirs.p_sim)) < 0.03
    assert np.mean((ours.moran_p_sim <= 0.05) == (theirs.p_sim <= 0.05)) >= 0.95
    ours_labels = classify_clusters(ours.quadrant, ours.moran_p_sim, 0.05)
    theirs_labels = classify_clusters(theirs.q, theirs.p_sim, 0.05)
    assert np.mean(ours_labels == theirs_labels) >= 0.95


def test_cell_at_the_mean_and_island_get_p_one():
    _, neighbours = hexagon_grid(2)
    neighbours = sp.csr_matrix(sp.block_diag([neighbours, sp.csr_matrix((1, 1))]))  # cell 19 is an island
    values = np.append(np.arange(19.0), 29.0)  # mean = 200 / 20 = 10: cell 10 sits exactly at the mean
    result = local_moran(values, neighbours, permutations=99, seed=1)
    assert result.moran_i[10] == 0.0 and result.moran_p_sim[10] == 1.0  # I_i = 0 under every draw
    assert result.moran_i[19] == 0.0 and result.moran_p_sim[19] == 1.0  # no neighbours, no evidence
    assert result.quadrant[19] == 4  # high value, lag 0 counts as low: HL, as esda
    theirs = esda_call("Moran_Local", values, neighbours, transformation="r", permutations=0)
    np.testing.assert_allclose(result.moran_i, theirs.Is, atol=1e-12)
    # cell 18's neighbours (7, 8, 15) average exactly 10, the mean: its lag is 0, "low" -> HL.  esda computes
    # the lag as a sum of rounded standardised values, gets 2.8e-17 > 0 and says HH; elsewhere they agree.
    assert result.quadrant[18] == 4 and theirs.q[18] == 1
    assert np.array_equal(np.delete(result.quadrant, 18), np.delete(theirs.q, 18))


def test_classify_clusters():
    quadrant = np.array([1, 2, 3, 4, 1, 4], dtype=np.int8)
    p = np.array([0.01, 0.05, 0.049, 0.2, np.nan, 0.051])
    assert classify_clusters(quadrant, p).tolist() == ["HH", "LH", "LL", "ns", "ns", "ns"]
    assert classify_clusters(quadrant, p, alpha=0.1).tolist() == ["HH", "LH", "LL", "ns", "ns", "HL"]
    with pytest.raises(ConfigError, match="alpha"):
        classify_clusters(quadrant, p, alpha=1.0)


def test_degenerate_inputs():
    _, neighbours = hexagon_grid(2)
    flat = local_moran(np.full(19, 2.0), neighbours, permutations=99, seed=1)
    assert np.all(flat.moran_i == 0) and np.all(flat.moran_p_sim == 1) and np.all(flat.quadrant == 3)
    flat_global = global_moran(np.zeros(19), neighbours, permutations=99, seed=1)
    assert flat_global.moran_z == 0 and flat_global.moran_p == 1 and flat_global.moran_p_sim == 1
    assert flat_global.moran_i == flat_global.expected_i == pytest.approx(-1 / 18)
    with pytest.raises(ConfigError, match="at least 4 cells"):
        global_moran(np.arange(3.0), neighbours[:3, :3], seed=1)
    with pytest.raises(ConfigError, match="neighbours"):
        global_moran(np.arange(19.0), sp.csr_matrix((19, 19)), seed=1)
    with pytest.raises(ConfigError, match="finite"):
        local_moran(np.full(19, np.nan), neighbours, seed=1)
    with pytest.raises(ConfigError, match="permutations"):
        local_moran(np.ones(19), neighbours, permutations=-2, seed=1)


VALUES = st.lists(st.floats(-1e3, 1e3, allow_nan=False), min_size=37, max_size=37).filter(lambda v: np.ptp(v) > 1e-2)


@settings(max_examples=40, deadline=None)
@given(VALUES, st.floats(1e-3, 1e3), st.floats(-1e3, 1e3))
def test_moran_is_unchanged_by_scaling_and_shifting(values, factor, shift):
    _, neighbours = hexagon_grid(3)
    values = np.array(values)
    base = global_moran(values, neighbours, permutations=0, seed=0)
    moved = global_moran(values * factor + shift, neighbours, permutations=0, seed=0)
    assert moved.moran_z == pytest.approx(base.moran_z, rel=1e-6, abs=1e-6)
    local_base = local_moran(values, neighbours, permutations=0, seed=0)
    local_scaled = local_moran(values * factor, neighbours, permutations=0, seed=0)
    np.testing.assert_allclose(local_scaled.moran_i, local_base.moran_i, rtol=1e-7, atol=1e-9)


@settings(max_examples=30, deadline=None)
@given(VALUES, st.permutations(list(range(37))))
def test_relabelling_cells_permutes_the_results(values, order):
    _, neighbours = hexagon_grid(3)
    values, order = np.array(values), np.array(order)
    relabelled_matrix = neighbours[order][:, order]
    base = local_moran(values, neighbours, permutations=0, seed=0)
    relabelled = local_moran(values[order], relabelled_matrix, permutations=0, seed=0)
    np.testing.assert_allclose(relabelled.moran_i, base.moran_i[order], rtol=1e-9, atol=1e-9)
    assert np.array_equal(relabelled.quadrant, base.quadrant[order])
    first = global_moran(values, neighbours, permutations=0, seed=0)
    second = global_moran(values[order], relabelled_matrix, permutations=0, seed=0)
    assert second.moran_i == pytest.approx(first.moran_i, rel=1e-9, abs=1e-12)


def test_same_seed_same_pseudo_p_values():
    _, neighbours = hexagon_grid(10)
    values = np.random.default_rng(0).exponential(size=neighbours.shape[0])
    first = local_moran(values, neighbours, permutations=199, seed=42)
    again = local_moran(values, neighbours, permutations=199, seed=42)
    assert np.array_equal(first.moran_p_sim, again.moran_p_sim)
    assert not np.array_equal(first.moran_p_sim, local_moran(values, neighbours, permutations=199, seed=7).moran_p_sim)
    one = global_moran(values, neighbours, permutations=199, seed=42)
    assert one == global_moran(values, neighbours, permutations=199, seed=42)
