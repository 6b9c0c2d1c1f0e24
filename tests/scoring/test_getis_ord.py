"""Getis-Ord Gi*: hand-worked example, esda 2.9 as oracle on real Leicestershire cells, bins, invariants."""

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
from harmmap.scoring.fdr import reject_benjamini_hochberg
from harmmap.scoring.getis_ord import confidence_bins, gi_star
from tests.conftest import leicestershire_grid

LEICESTER = h3.str_to_int(h3.latlng_to_cell(52.6344, -1.1318, 9))


def hexagon_grid(rings: int) -> tuple[np.ndarray, sp.csr_matrix]:
    cells = buffer_cells(np.array([LEICESTER], dtype=np.uint64), rings)
    return cells, cells_to_neighbours(cells, 1)


def graph(neighbours):
    libpysal = pytest.importorskip("libpysal")
    return libpysal.graph.Graph.from_sparse(neighbours)


def esda_g_local(values, neighbours, permutations=0, seed=1):
    esda = pytest.importorskip("esda")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return esda.G_Local(values, graph(neighbours), transform="B", star=True, permutations=permutations,
                            seed=seed, keep_simulations=False)


@pytest.fixture(scope="module")
def leicestershire(shared_data):
    """Three months of real police.uk rows -> res-9 counts on a zero-filled grid (data cells + 2 rings)."""
    cells, values = leicestershire_grid(shared_data, months=3)
    return cells, values, cells_to_neighbours(cells, 1)


def test_hand_worked_seven_cells():
    # A centre cell (value 4) and its ring of six (value 1 each); k = 1.
    # n = 7, sum = 10, mean = 10/7, population variance s2 = 22/7 - (10/7)^2 = 54/49.
    # A ring cell sees itself, the centre and two ring cells: W* = 4, neighbourhood sum 1 + 4 + 1 + 1 = 7.
    #   G* = 7/10,  E[G*] = W*/n = 4/7
    #   z = (7 - 4 * 10/7) / (s * sqrt(W* (n - W*) / (n - 1))) = (9/7) / (sqrt(54)/7 * sqrt(2)) = sqrt(3)/2
    # The centre sees all 7 cells (W* = n): its G* is exactly 1 = E[G*] with zero variance: z = 0 by definition.
    cells, neighbours = hexagon_grid(1)
    centre = int(np.searchsorted(cells, np.uint64(LEICESTER)))
    values = np.ones(7)
    values[centre] = 4.0
    result = gi_star(values, neighbours, permutations=0, seed=0)
    ring = np.arange(7) != centre
    np.testing.assert_allclose(result.gi[ring], 0.7)
    np.testing.assert_allclose(result.gi_z[ring], np.sqrt(3) / 2, rtol=1e-12)
    assert result.gi[centre] == pytest.approx(1.0) and result.gi_z[centre] == 0.0 and result.gi_p[centre] == 1.0
    np.testing.assert_allclose(result.gi_p[ring], 0.3864762307, rtol=1e-9)  # 2 * P(Z > 0.8660)
    assert np.isnan(result.gi_p_sim).all() and result.permutations == 0
    # esda agrees on the ring (and gives 0/0 = NaN at the centre)
    theirs = esda_g_local(values, neighbours)
    np.testing.assert_allclose(theirs.Zs[ring], result.gi_z[ring], rtol=1e-12)


def test_equals_esda_on_real_leicestershire_cells(leicestershire):
    cells, values, neighbours = leicestershire
    assert 5_000 < cells.size < 30_000 and values.sum() > 10_000
    ours = gi_star(values, neighbours, permutations=0, seed=0)
    theirs = esda_g_local(values, neighbours)
    np.testing.assert_allclose(ours.gi_z, theirs.Zs, rtol=0, atol=1e-9)
    np.testing.assert_allclose(ours.gi, theirs.Gs, rtol=1e-12, atol=0)
    np.testing.assert_allclose(ours.gi_p, 2 * theirs.p_norm, rtol=1e-9, atol=1e-15)  # esda's p_norm is one-sided
    assert (np.abs(ours.gi_z) > 1.96).sum() > 500


def test_permutation_p_values_agree_with_esda(leicestershire):
    """On continuous values (counts + noise: ties are rare) our shared null and esda's per-cell draws agree."""
    _, counts, neighbours = leicestershire
    values = counts + np.random.default_rng(5).random(counts.size)
    ours = gi_star(values, neighbours, permutations=999, seed=1).gi_p_sim
    theirs = esda_g_local(values, neighbours, permutations=999, seed=1).p_sim
    assert np.mean(np.abs(ours - theirs)) < 0.03
    assert np.mean((ours <= 0.05) == (theirs <= 0.05)) >= 0.95
    assert np.mean((ours <= 0.01) == (theirs <= 0.01)) >= 0.97


def test_confidence_bins_by_hand():
    z = np.array([3.0, -3.0, 2.0, -2.0, 1.7, 0.5, 2.5, 0.0, 1.0])
    p = np.array([0.001, 0.009, 0.04, 0.05, 0.09, 0.5, 0.10, 0.001, np.nan])
    assert confidence_bins(z, p).tolist() == [3, -3, 2, -2, 1, 0, 1, 0, 0]
    assert confidence_bins(z, p).dtype == np.int8


def test_confidence_bins_with_fdr_run_bh_at_each_level():
    rng = np.random.default_rng(3)
    p = np.concatenate([rng.uniform(0, 0.02, 40), rng.uniform(0, 1, 400)])
    z = rng.normal(size=p.size)
    bins = confidence_bins(z, p, fdr=True)
    expected = np.zeros(p.size, dtype=np.int8)
    for level, alpha in ((1, 0.10), (2, 0.05), (3, 0.01)):
        expected[reject_benjamini_hochberg(p, alpha)] = level
    assert bins.tolist() == (expected * np.sign(z)).astype(int).tolist()
    assert np.all(np.abs(bins) <= np.abs(confidence_bins(z, p)))  # FDR only ever removes significance
    assert np.abs(bins).sum() < np.abs(confidence_bins(z, p)).sum()


def test_confidence_bins_shape_mismatch():
    with pytest.raises(ConfigError, match="one value per cell"):
        confidence_bins(np.zeros(3), np.zeros(4))


def test_degenerate_grids_give_z_zero_not_nan():
    _, neighbours = hexagon_grid(2)
    for values in (np.zeros(19), np.full(19, 3.5)):
        result = gi_star(values, neighbours, permutations=99, seed=1)
        assert np.all(result.gi_z == 0) and np.all(result.gi_p == 1) and np.all(result.gi_p_sim == 1)
        np.testing.assert_allclose(result.gi, (np.diff(neighbours.indptr) + 1) / 19)
    single = gi_star(np.array([5.0]), sp.csr_matrix((1, 1)), permutations=9, seed=1)
    assert single.gi_z.tolist() == [0.0] and single.gi_p_sim.tolist() == [1.0]
    empty = gi_star(np.empty(0), sp.csr_matrix((0, 0)), permutations=9, seed=1)
    assert empty.gi_z.size == 0


@pytest.mark.parametrize("values, match", [([1.0, -1.0, 2.0], "non-negative"), ([1.0, np.nan, 2.0], "finite"),
                                           ([[1.0, 2.0, 3.0]], "1-D")])
def test_bad_values(values, match):
    with pytest.raises(ConfigError, match=match):
        gi_star(np.array(values), sp.csr_matrix((3, 3)), seed=1)


def test_bad_neighbour_matrices():
    _, neighbours = hexagon_grid(1)
    with pytest.raises(ConfigError, match="square"):
        gi_star(np.ones(6), neighbours, seed=1)
    with pytest.raises(ConfigError, match="square"):
        gi_star(np.ones(7), neighbours.toarray(), seed=1)
    with pytest.raises(ConfigError, match="binary"):
        gi_star(np.ones(7), neighbours * 0.5, seed=1)
    with pytest.raises(ConfigError, match="diagonal"):
        gi_star(np.ones(7), neighbours + sp.eye(7), seed=1)
    with pytest.raises(ConfigError, match="permutations"):
        gi_star(np.ones(7), neighbours, permutations=-1, seed=1)


VALUES = st.lists(st.floats(0, 1e6, allow_nan=False), min_size=37, max_size=37).filter(lambda v: np.ptp(v) > 1e-3)


@settings(max_examples=50, deadline=None)
@given(VALUES, st.floats(1e-3, 1e3))
def test_scaling_values_leaves_z_unchanged(values, factor):
    _, neighbours = hexagon_grid(3)
    values = np.array(values)
    base = gi_star(values, neighbours, permutations=0, seed=0)
    scaled = gi_star(values * factor, neighbours, permutations=0, seed=0)
    np.testing.assert_allclose(scaled.gi_z, base.gi_z, rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(scaled.gi, base.gi, rtol=1e-9, atol=1e-12)


@settings(max_examples=30, deadline=None)
@given(VALUES, st.permutations(list(range(37))))
def test_relabelling_cells_permutes_the_results(values, order):
    _, neighbours = hexagon_grid(3)
    values, order = np.array(values), np.array(order)
    base = gi_star(values, neighbours, permutations=0, seed=0)
    relabelled = gi_star(values[order], neighbours[order][:, order], permutations=0, seed=0)
    np.testing.assert_allclose(relabelled.gi_z, base.gi_z[order], rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(relabelled.gi_p, base.gi_p[order], rtol=1e-9, atol=1e-12)


def test_same_seed_same_pseudo_p_values():
    _, neighbours = hexagon_grid(10)
    values = np.random.default_rng(0).exponential(size=neighbours.shape[0])
    first = gi_star(values, neighbours, permutations=199, seed=42)
    again = gi_star(values, neighbours, permutations=199, seed=42)
    other = gi_star(values, neighbours, permutations=199, seed=43)
    assert np.array_equal(first.gi_p_sim, again.gi_p_sim) and first.seed == 42
    assert not np.array_equal(first.gi_p_sim, other.gi_p_sim)
    assert np.all((first.gi_p_sim >= 1 / 200) & (first.gi_p_sim <= 1))
