"""Shared-null conditional permutation (harmmap.scoring.permutation): draws, counting, ties, null calibration."""

from __future__ import annotations

import warnings

import h3
import numpy as np
import pytest

from harmmap.errors import ConfigError
from harmmap.geo.grid import buffer_cells, cells_to_neighbours
from harmmap.scoring.getis_ord import gi_star
from harmmap.scoring.permutation import NeighbourNull, count_extremes, pseudo_p_values, simulate_neighbour_sums

LEICESTER = h3.str_to_int(h3.latlng_to_cell(52.6344, -1.1318, 9))


def grid(rings: int) -> tuple[np.ndarray, object]:
    cells = buffer_cells(np.array([LEICESTER], dtype=np.uint64), rings)
    return cells, cells_to_neighbours(cells, 1)


def test_null_has_one_sorted_row_per_neighbour_count():
    values = np.arange(50, dtype=float)
    null = simulate_neighbour_sums(values, np.array([6, 0, 3, 6, 4, 3]), permutations=99, seed=1)
    assert null.counts.tolist() == [3, 4, 6]  # distinct, ascending, zero dropped
    assert null.sums.shape == (3, 99) and null.permutations == 99
    assert np.all(np.diff(null.sums, axis=1) >= 0)


def test_draws_are_without_replacement():
    # with values 2**i every sum of distinct values has exactly `count` one-bits
    values = 2.0 ** np.arange(40)
    null = simulate_neighbour_sums(values, np.array([1, 5, 18]), permutations=200, seed=7)
    for row, count in enumerate(null.counts):
        bits = [bin(int(s)).count("1") for s in null.sums[row]]
        assert set(bits) == {count}


def test_same_seed_same_null_and_other_seed_differs():
    values = np.random.default_rng(0).random(300)
    counts = np.full(300, 6)
    a = simulate_neighbour_sums(values, counts, permutations=99, seed=3)
    b = simulate_neighbour_sums(values, counts, permutations=99, seed=3)
    c = simulate_neighbour_sums(values, counts, permutations=99, seed=4)
    assert np.array_equal(a.sums, b.sums) and not np.array_equal(a.sums, c.sums)


def test_null_mean_is_count_times_the_grid_mean():
    values = np.random.default_rng(1).exponential(size=2000)
    null = simulate_neighbour_sums(values, np.array([6, 18]), permutations=4000, seed=2)
    for row, count in enumerate(null.counts):
        standard_error = values.std() * np.sqrt(count) / np.sqrt(4000)
        assert abs(null.sums[row].mean() - count * values.mean()) < 4 * standard_error


def test_count_extremes_by_hand_with_ties():
    # null of 5 sorted draws for cells with 2 neighbours: 1 2 2 3 4
    null = NeighbourNull(np.array([2]), np.array([[1.0, 2.0, 2.0, 3.0, 4.0]]), 5)
    observed = np.array([2.0, 0.5, 4.0, 9.0, 2.0])
    counts = np.array([2, 2, 2, 2, 0])  # the last cell has no neighbours
    at_least, at_most = count_extremes(null, observed, counts)
    # observed 2: four draws >= 2 (2, 2, 3, 4), three draws <= 2 (1, 2, 2): ties count on both sides
    assert at_least.tolist() == [4, 5, 1, 0, 5]
    assert at_most.tolist() == [3, 0, 5, 5, 5]
    p = pseudo_p_values(at_least, at_most, 5)
    np.testing.assert_allclose(p, [4 / 6, 1 / 6, 2 / 6, 1 / 6, 1.0])


def test_ties_survive_summation_order():
    null = NeighbourNull(np.array([3]), np.array([[0.1 + 0.2 + 0.3] * 4]), 4)
    at_least, at_most = count_extremes(null, np.array([0.3 + 0.2 + 0.1]), np.array([3]))
    assert (at_least.tolist(), at_most.tolist()) == ([4], [4])


@pytest.mark.parametrize("permutations", [0, -5, True, 9.5])
def test_bad_permutations(permutations):
    with pytest.raises(ConfigError, match="permutations"):
        simulate_neighbour_sums(np.ones(10), np.ones(10, dtype=int), permutations=permutations, seed=1)


def test_more_neighbours_than_cells():
    with pytest.raises(ConfigError, match="more neighbours"):
        simulate_neighbour_sums(np.ones(3), np.array([4, 1, 1]), permutations=9, seed=1)


def test_no_neighbours_anywhere_gives_empty_null_and_p_one():
    null = simulate_neighbour_sums(np.ones(3), np.zeros(3, dtype=int), permutations=9, seed=1)
    assert null.sums.shape == (0, 9)
    at_least, at_most = count_extremes(null, np.zeros(3), np.zeros(3, dtype=int))
    assert pseudo_p_values(at_least, at_most, 9).tolist() == [1.0, 1.0, 1.0]


def test_pseudo_p_values_are_calibrated_under_the_null():
    """iid values on a real grid: the directed p is min of two one-sided p, so P(p <= a) ~ 2a."""
    _, neighbours = grid(40)  # 4,921 cells
    values = np.random.default_rng(11).exponential(size=neighbours.shape[0])
    p = gi_star(values, neighbours, permutations=999, seed=5).gi_p_sim
    for level in (0.01, 0.025, 0.05, 0.1, 0.25, 0.5):
        assert abs(np.mean(p <= level) - 2 * level) < 0.02 + 0.1 * level
    assert p.min() >= 1 / 1000 and p.max() <= 0.5 + 1 / 1000


def test_tie_rule_differs_from_esda_for_a_quiet_cell_among_quiet_cells():
    """A zero cell whose neighbours are all zero: harmmap p = share of equally quiet draws, esda p_sim = 0.001.

    esda counts draws with ``sim >= observed`` as "larger": every draw ties
    with or exceeds the observed 0, so larger = 999, the folding rule turns it
    into 999 - 999 = 0 and p_sim = (0 + 1) / 1000: "significant".  The cell is
    nothing unusual: harmmap counts ties on both sides, so its p is
    (draws summing to 0 + 1) / 1000, here about 1/3.
    """
    esda = pytest.importorskip("esda")
    libpysal = pytest.importorskip("libpysal")
    cells, neighbours = grid(4)  # 61 cells
    values = np.zeros(cells.size)
    values[:10] = np.arange(1, 11)  # some harm in the first ten cells of the sort order
    ours = gi_star(values, neighbours, permutations=999, seed=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs = esda.G_Local(values, libpysal.graph.Graph.from_sparse(neighbours), transform="B", star=True,
                              permutations=999, seed=1, keep_simulations=False)
    quiet = (values == 0) & (neighbours @ values == 0)
    assert quiet.sum() >= 5
    null = simulate_neighbour_sums(values, np.diff(neighbours.indptr), permutations=999, seed=1)
    counts = np.diff(neighbours.indptr)
    zero_draws = {int(c): int(np.sum(row == 0)) for c, row in zip(null.counts, null.sums)}
    expected = np.array([(zero_draws[int(c)] + 1) / 1000 for c in counts[quiet]])
    np.testing.assert_allclose(ours.gi_p_sim[quiet], expected)
    assert np.all(ours.gi_p_sim[quiet] > 0.2)  # P(6 zeros from 51 of 61) = C(51,6)/C(61,6) = 0.33
    assert np.all(theirs.p_sim[quiet] == pytest.approx(0.001))


def test_a_cell_equal_to_every_draw_gets_p_one():
    null = simulate_neighbour_sums(np.zeros(20), np.full(20, 6), permutations=99, seed=1)
    at_least, at_most = count_extremes(null, np.zeros(20), np.full(20, 6))
    assert np.all(pseudo_p_values(at_least, at_most, 99) == 1.0)


def test_tie_tolerance_is_relative_so_tiny_values_are_not_all_ties():
    # Regression: an absolute 1e-9 floor made every draw of values ~1e-12 a "tie" (p = 1).
    from harmmap.scoring.permutation import count_extremes, simulate_neighbour_sums

    values = np.array([0.0, 0.0, 1e-12, 1e-12, 0.0, 0.0, 0.0, 0.0])
    counts = np.full(values.size, 2)
    for scale in (1.0, 1e12):
        null = simulate_neighbour_sums(values * scale, counts, permutations=199, seed=3)
        at_least, at_most = count_extremes(null, np.full(values.size, 2e-12 * scale), counts)
        assert at_least[0] < 199  # a sum of both non-zero values is rare, not a tie with everything
        if scale == 1.0:
            reference = (at_least.copy(), at_most.copy())
    np.testing.assert_array_equal((at_least, at_most), reference)
