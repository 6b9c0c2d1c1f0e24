"""Ranks, bootstrap rank intervals and weight sensitivity."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from harmmap.errors import ConfigError, SchemaError
from harmmap.scoring import ranking
from harmmap.scoring.ranking import bootstrap_rank_intervals, compare_weightings, rank_by_harm

# --- rank_by_harm --------------------------------------------------------------------------


def test_ranks_put_most_harm_first_and_break_ties_by_id():
    harm = np.array([5.0, 365.0, 5.0, 0.0, 5.0])
    ids = np.array([30, 10, 20, 40, 5], dtype="uint64")
    assert rank_by_harm(harm, ids).tolist() == [4, 1, 3, 5, 2]


def test_string_tie_breakers_work():
    ranks = rank_by_harm(np.array([1.0, 1.0, 2.0]), np.array(["place-b", "place-a", "place-c"], dtype=object))
    assert ranks.tolist() == [3, 2, 1]


def test_rank_refuses_bad_input():
    with pytest.raises(SchemaError):
        rank_by_harm(np.array([1.0, np.nan]), np.arange(2))
    with pytest.raises(SchemaError):
        rank_by_harm(np.array([1.0, 2.0]), np.arange(3))


harm_lists = st.lists(st.sampled_from([0.0, 1.0, 2.0, 3.0, 30.0, 365.0, 0.5]), min_size=1, max_size=60)


@settings(max_examples=80, deadline=None)
@given(harm_lists, st.sampled_from([2.0, 0.25, 3.0, 1e3, 1 / 3]), st.randoms(use_true_random=False))
def test_ranks_are_a_permutation_invariant_to_scale_and_order(values, scale, random):
    harm = np.array(values)
    ids = np.array(random.sample(range(1000), len(harm)))
    ranks = rank_by_harm(harm, ids)
    assert sorted(ranks.tolist()) == list(range(1, len(harm) + 1))
    assert (rank_by_harm(harm * scale, ids) == ranks).all()
    order = np.array(random.sample(range(len(harm)), len(harm)))
    assert (rank_by_harm(harm[order], ids[order]) == ranks[order]).all()
    higher = harm[:, None] > harm[None, :]
    assert (ranks[:, None] < ranks[None, :])[higher].all()


# --- bootstrap -----------------------------------------------------------------------------


def separated_incidents() -> tuple[np.ndarray, np.ndarray]:
    """Unit 0: 400 incidents, unit 1: 100, unit 2: 20, unit 3: 1 (harm 1 each); units 4-5 empty."""
    units = np.repeat(np.arange(4), [400, 100, 20, 1])
    return units, np.ones(len(units))


def test_separated_units_get_tight_intervals_around_their_rank():
    units, harm = separated_incidents()
    result = bootstrap_rank_intervals(units, harm, 6, top_n=1, replicates=200, seed=7)
    observed = rank_by_harm(np.bincount(units, minlength=6).astype(float), np.arange(6))
    assert (result.rank_low[:4] <= observed[:4]).all() and (observed[:4] <= result.rank_high[:4]).all()
    assert result.rank_low[:3].tolist() == [1, 2, 3] and result.rank_high[:3].tolist() == [1, 2, 3]
    assert result.p_top_n.tolist() == [1.0, 0.0, 0.0, 0.0, 0.0, 0.0]
    # empty units share one interval just below the units with harm, and are never "top N"
    assert result.rank_low[4] == result.rank_low[5] >= 4
    assert result.rank_high[3] >= 4  # one incident: often lost, then tied with the empty units


def test_overwhelming_harm_is_top_n_almost_surely():
    units = np.concatenate([np.zeros(50, dtype="int64"), np.arange(1, 200)])
    harm = np.concatenate([np.full(50, 365.0), np.ones(199)])
    result = bootstrap_rank_intervals(units, harm, 300, top_n=1, seed=1)
    assert result.p_top_n[0] == 1.0
    assert result.rank_low[0] == result.rank_high[0] == 1


def test_near_ties_give_overlapping_intervals_and_split_top_n():
    units = np.repeat(np.arange(2), [50, 52])
    result = bootstrap_rank_intervals(units, np.ones(102), 2, top_n=1, replicates=400, seed=3)
    assert result.rank_low.tolist() == [1, 1] and result.rank_high.tolist() == [2, 2]
    assert 0.25 < result.p_top_n[0] < 0.75 and 0.25 < result.p_top_n[1] < 0.75


def test_bootstrap_is_reproducible_and_independent_of_row_order_and_chunking(monkeypatch):
    rng = np.random.default_rng(0)
    units = rng.integers(0, 50, 2000)
    harm = rng.choice(np.array([0.0, 1.0, 2.0, 365.0, 7.5]), 2000)
    first = bootstrap_rank_intervals(units, harm, 60, top_n=5, replicates=50, seed=11)
    order = rng.permutation(2000)
    monkeypatch.setattr(ranking, "_CHUNK_ELEMENTS", 100)  # one replicate per chunk
    second = bootstrap_rank_intervals(units[order], harm[order], 60, top_n=5, replicates=50, seed=11)
    for name in ("rank_low", "rank_high", "p_top_n"):
        assert np.array_equal(getattr(first, name), getattr(second, name))
    other = bootstrap_rank_intervals(units, harm, 60, top_n=5, replicates=50, seed=12)
    assert not np.array_equal(first.p_top_n, other.p_top_n)


def test_intervals_are_ordered_and_widen_with_the_level():
    rng = np.random.default_rng(5)
    units = rng.integers(0, 200, 3000)
    harm = rng.choice(np.array([1.0, 2.0, 30.0]), 3000)
    narrow = bootstrap_rank_intervals(units, harm, 250, top_n=10, seed=2, level=0.5)
    wide = bootstrap_rank_intervals(units, harm, 250, top_n=10, seed=2, level=0.95)
    assert (narrow.rank_low <= narrow.rank_high).all()
    assert (wide.rank_low <= narrow.rank_low).all() and (narrow.rank_high <= wide.rank_high).all()
    assert ((0 <= wide.p_top_n) & (wide.p_top_n <= 1)).all()
    # each replicate has at least 10 units of rank <= 10, more only through ties at the 10th place
    assert 10 - 1e-9 <= wide.p_top_n.sum() <= 11


@pytest.mark.parametrize("table_max", [1000, 0])
def test_group_draws_follow_poisson_of_the_group_size(monkeypatch, table_max):
    """Inverse-CDF tables (small groups) and Generator.poisson (large) both give Poisson(c)."""
    monkeypatch.setattr(ranking, "_TABLE_MAX", table_max)
    sizes = np.array([1, 3, 40, 2000])
    units = np.repeat(np.arange(4), sizes)
    groups = ranking._group_incidents(units, np.ones(len(units)), 4)
    assert groups.count.tolist() == sizes.tolist()
    generators = [np.random.default_rng(child) for child in np.random.SeedSequence(0).spawn(4000)]
    draws = ranking._draw_counts(groups, generators)
    assert draws.mean(axis=0) == pytest.approx(sizes, rel=0.05)
    assert draws.var(axis=0) == pytest.approx(sizes, rel=0.1)
    observed = np.bincount(draws[:, 0].astype(int), minlength=8)[:8] / 4000
    assert observed == pytest.approx(stats.poisson.pmf(np.arange(8), 1), abs=0.02)


def test_no_incidents_gives_everyone_the_same_interval():
    result = bootstrap_rank_intervals(np.array([], dtype="int64"), np.array([]), 3, top_n=1, seed=0)
    assert result.rank_low.tolist() == [1, 1, 1] and result.p_top_n.tolist() == [0.0, 0.0, 0.0]


@pytest.mark.parametrize(
    "kwargs",
    [{"top_n": 0, "seed": 1}, {"top_n": 1, "seed": None}, {"top_n": 1, "seed": 1, "replicates": 1},
     {"top_n": 1, "seed": 1, "level": 1.0}],
)
def test_bootstrap_arguments_are_checked(kwargs):
    with pytest.raises(ConfigError):
        bootstrap_rank_intervals(np.array([0]), np.array([1.0]), 1, **kwargs)


def test_bootstrap_refuses_codes_out_of_range():
    with pytest.raises(SchemaError):
        bootstrap_rank_intervals(np.array([0, 5]), np.array([1.0, 1.0]), 3, top_n=1, seed=0)


# --- weight sensitivity --------------------------------------------------------------------


def test_identical_rankings_agree_perfectly():
    harm = np.array([5.0, 1.0, 3.0, 0.0])
    result = compare_weightings(harm, harm * 10, top_n=2)
    assert result.spearman_rho == pytest.approx(1.0) and result.kendall_tau == pytest.approx(1.0)
    assert result.top_n_overlap == 1.0 and result.n_units == 4


def test_reversed_rankings_and_partial_top_n_overlap():
    a = np.array([4.0, 3.0, 2.0, 1.0])
    reversed_ = compare_weightings(a, a[::-1].copy(), top_n=2)
    assert reversed_.spearman_rho == pytest.approx(-1.0) and reversed_.kendall_tau == pytest.approx(-1.0)
    assert reversed_.top_n_overlap == 0.0
    count = np.array([10.0, 9.0, 1.0, 8.0])  # top 2 = {0, 1}
    cchi = np.array([365.0, 1.0, 2.0, 400.0])  # top 2 = {3, 0}
    assert compare_weightings(count, cchi, top_n=2).top_n_overlap == 0.5


def test_constant_harm_has_no_rank_correlation():
    result = compare_weightings(np.ones(5), np.arange(5.0), top_n=10)
    assert math.isnan(result.spearman_rho) and math.isnan(result.kendall_tau)
    assert result.top_n_overlap == 1.0  # top N capped at the 5 units


def test_compare_weightings_checks_alignment():
    with pytest.raises(SchemaError):
        compare_weightings(np.ones(3), np.ones(4), top_n=1)
