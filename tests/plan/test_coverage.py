"""Maximal covering: exact solvers equal brute force, the greedy keeps its guarantee, capacities hold."""

from __future__ import annotations

import ast
import itertools
import math
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.optimize import linear_sum_assignment

from harmmap.errors import ConfigError, SchemaError
from harmmap.plan.coverage import (
    GREEDY_GUARANTEE, build_coverage, bound_coverage_by_lp, solve_coverage, travel_minutes_to_metres,
)
from harmmap.plan.greedy import bound_by_submodularity, choose_sites_greedily

PLAN = Path(__file__).resolve().parents[2] / "harmmap" / "plan"


def random_instance(seed: int, n: int = 14, m: int = 7):
    rng = np.random.default_rng(seed)
    demand, sites = rng.uniform(0, 1000, (n, 2)), rng.uniform(0, 1000, (m, 2))
    weights = rng.integers(0, 10, n).astype(float)
    return build_coverage(demand, sites, float(rng.uniform(150, 450))), weights, rng


def brute_force(matrix: np.ndarray, weights: np.ndarray, k: int) -> float:
    return max(weights[matrix[:, list(c)].any(axis=1)].sum() for c in itertools.combinations(range(matrix.shape[1]), k))


def brute_force_capacitated(matrix: np.ndarray, weights: np.ndarray, k: int, caps: np.ndarray) -> float:
    """Best K sites, each demand point served by one chosen site in reach, at most caps[j] points per site."""
    best = 0.0
    for chosen in itertools.combinations(range(matrix.shape[1]), k):
        slots = [j for j in chosen for _ in range(int(caps[j]))]
        if not slots:
            continue
        gain = np.where(matrix[:, slots], weights[:, None], 0.0)
        rows, cols = linear_sum_assignment(gain, maximize=True)
        best = max(best, gain[rows, cols].sum())
    return best


def test_build_coverage_matches_dense_distances_and_includes_the_radius():
    demand = np.array([[0.0, 0.0], [300.0, 400.0], [1000.0, 0.0]])
    sites = np.array([[0.0, 0.0], [600.0, 800.0]])
    cov = build_coverage(demand, sites, 500.0)
    assert cov.matrix.toarray().tolist() == [[1, 0], [1, 1], [0, 0]]  # 500 m exactly is covered; 0 m too
    assert np.allclose(cov.distance_m, [0.0, 500.0, 500.0])


def test_build_coverage_scales_without_a_dense_loop():
    rng = np.random.default_rng(1)
    cov = build_coverage(rng.uniform(0, 1e5, (20_000, 2)), rng.uniform(0, 1e5, (5_000, 2)), 2_000.0)
    assert cov.matrix.shape == (20_000, 5_000) and 0 < cov.matrix.nnz < 2_000_000


@pytest.mark.parametrize("seed", range(12))
@pytest.mark.parametrize("solver", ["scip", "highs", "auto"])
def test_exact_solvers_equal_brute_force(seed, solver):
    cov, weights, rng = random_instance(seed)
    k = int(rng.integers(1, 5))
    result = solve_coverage(cov, weights, k, solver=solver)
    assert result.covered_demand == pytest.approx(brute_force(cov.matrix.toarray() > 0, weights, k))
    assert result.status == "optimal" and result.gap == 0 and result.bound == "solver"
    assert result.sites.size <= k and np.all(np.diff(result.sites) > 0)
    covered = (cov.matrix.toarray()[:, result.sites] > 0).any(axis=1)
    assert np.array_equal(result.assigned_site >= 0, covered)
    assert result.site_demand.sum() == pytest.approx(result.covered_demand)


@pytest.mark.parametrize("seed", range(12))
def test_greedy_keeps_its_guarantee_and_reports_a_true_gap(seed):
    cov, weights, rng = random_instance(seed, n=18, m=8)
    k = int(rng.integers(1, 5))
    best = brute_force(cov.matrix.toarray() > 0, weights, k)
    result = solve_coverage(cov, weights, k, solver="greedy")
    assert result.covered_demand >= GREEDY_GUARANTEE * best - 1e-9
    assert result.upper_bound >= best - 1e-9 and result.status == "heuristic"
    assert result.bound in ("lp_relaxation", "submodular")
    expected_gap = 0.0 if result.upper_bound == 0 else (result.upper_bound - result.covered_demand) / result.upper_bound
    assert result.gap == pytest.approx(expected_gap)
    assert any("63.2%" in note for note in result.notes)


def plain_greedy(matrix: np.ndarray, weights: np.ndarray, k: int) -> float:
    covered = np.zeros(matrix.shape[0], dtype=bool)
    for _ in range(k):
        gains = [(weights[matrix[:, j] & ~covered].sum(), -j) for j in range(matrix.shape[1])]
        gain, j = max(gains)
        if gain <= 0:
            break
        covered |= matrix[:, -j]
    return weights[covered].sum()


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 10_000), st.integers(1, 6))
def test_lazy_greedy_covers_what_the_plain_greedy_covers(seed, k):
    cov, _, rng = random_instance(seed, n=30, m=10)
    weights = rng.uniform(0.0, 10.0, 30)  # no ties: on ties the two may pick different (equally good) sites
    dense = cov.matrix.toarray() > 0
    sites = choose_sites_greedily(cov.matrix, weights, k)
    assert weights[dense[:, sites].any(axis=1)].sum() == pytest.approx(plain_greedy(dense, weights, k))
    covered = dense[:, sites].any(axis=1)
    best = brute_force(dense, weights, min(k, 10))
    assert bound_by_submodularity(cov.matrix, weights, k, sites, covered) >= best - 1e-9


@pytest.mark.parametrize("seed", range(8))
def test_capacities_are_respected_and_the_optimum_equals_brute_force(seed):
    cov, weights, rng = random_instance(seed, n=9, m=5)
    k, caps = int(rng.integers(1, 4)), rng.integers(0, 4, 5).astype(float)
    best = brute_force_capacitated(cov.matrix.toarray() > 0, weights, k, caps)
    for solver in ("scip", "greedy"):
        result = solve_coverage(cov, weights, k, capacities=caps, solver=solver)
        served = result.assigned_site[result.assigned_site >= 0]
        assert np.all(np.bincount(served, minlength=5) <= caps)
        assert set(served) <= set(result.sites)
        assert np.all(cov.matrix.toarray()[np.flatnonzero(result.assigned_site >= 0), served] > 0)
        if solver == "scip":
            assert result.covered_demand == pytest.approx(best) and result.status == "optimal"
        else:
            assert result.covered_demand <= best + 1e-9 and result.upper_bound >= best - 1e-9


def test_loads_weigh_against_the_capacity():
    cov = build_coverage(np.zeros((3, 2)), np.zeros((1, 2)), 10.0)
    result = solve_coverage(cov, np.array([5.0, 4.0, 3.0]), 1, capacities=5.0, loads=np.array([4.0, 2.0, 3.0]))
    assert result.covered_demand == pytest.approx(7.0)  # the 2 + 3 load pair beats the single 4-load point


def test_auto_goes_greedy_above_the_size_limit_and_lp_bound_is_an_upper_bound():
    cov, weights, _ = random_instance(3, n=40, m=12)
    result = solve_coverage(cov, weights, 3, exact_max_pairs=0)
    assert result.solver == "greedy"
    exact = solve_coverage(cov, weights, 3)
    assert exact.solver == "scip" and bound_coverage_by_lp(cov, weights, 3) >= exact.covered_demand - 1e-9
    assert result.covered_demand <= exact.covered_demand + 1e-9


def test_a_plain_sparse_matrix_works_and_k_above_the_sites_is_clamped():
    matrix = sp.csr_matrix(np.array([[1, 0], [0, 1], [1, 1]]))
    result = solve_coverage(matrix, np.array([1.0, 2.0, 3.0]), 5)
    assert result.covered_demand == 6.0 and result.share == 1.0 and result.sites.tolist() == [0, 1]


def test_zero_demand_gives_an_empty_but_valid_plan():
    cov = build_coverage(np.zeros((2, 2)), np.ones((2, 2)), 5.0)
    result = solve_coverage(cov, np.zeros(2), 1, solver="greedy")
    assert result.covered_demand == 0 and result.share == 0 and result.gap == 0


def test_travel_minutes_convert_to_a_straight_line_radius():
    assert travel_minutes_to_metres(10, 6.0, 1.0) == pytest.approx(1000.0)
    assert travel_minutes_to_metres(10, 24.0, 1.3) == pytest.approx(4000.0 / 1.3)
    with pytest.raises(ConfigError):
        travel_minutes_to_metres(10, 0.0)


def test_bad_inputs_are_explained():
    cov, weights, _ = random_instance(0)
    with pytest.raises(SchemaError):
        solve_coverage(cov, weights[:-1], 2)
    with pytest.raises(SchemaError):
        solve_coverage(cov, -weights - 1, 2)
    with pytest.raises(ConfigError):
        solve_coverage(cov, weights, 0)
    with pytest.raises(ConfigError, match="solver"):
        solve_coverage(cov, weights, 2, solver="gurobi")
    with pytest.raises(SchemaError):
        build_coverage(np.array([[np.nan, 0.0]]), np.zeros((1, 2)), 10.0)
    with pytest.raises(ConfigError):
        build_coverage(np.zeros((1, 2)), np.zeros((1, 2)), 0.0)


def test_plan_is_pure():
    forbidden = ("flask", "folium", "click", "sqlite3", "harmmap.store", "harmmap.web", "harmmap.cli",
                 "harmmap.ingest", "harmmap.analysis", "spopt", "pulp")
    for path in PLAN.rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        names = {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
        names |= {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
        bad = [n for n in names if n.startswith(forbidden)]
        assert not bad, f"{path.name} imports {bad}"
    assert math.isclose(GREEDY_GUARANTEE, 1 - 1 / math.e)
