"""Where to put K teams: the maximal covering location problem (MCLP).

For planners
------------
You have ``K`` teams (officers, security guards, a mobile unit) and a list of
places they could be based at or patrol from (*candidate sites*: stores, town
centres, grid cells).  Harm happens at *demand points* (cells or stores, each
weighted by its forecast harm).  A demand point is *covered* when a chosen site
is within the service radius: a distance in metres, or travel minutes at a
given speed (``travel_minutes_to_metres``: straight-line British National Grid
distance times a detour factor for the road network).  The plan picks the
``K`` sites that together cover the most harm: Church & ReVelle's maximal
covering location problem (Church & ReVelle 1974, "The maximal covering
location problem", *Papers of the Regional Science Association* 32, 101-118).
With capacities (a team can look after at most so many stores, or so much
load), each demand point is served by one chosen site in range and no site
serves more than its capacity (Pirkul & Schilling 1991, "The maximal covering
location problem with capacities on total workload", *Management Science*
37(2), 233-248).

How it is solved, and how good the answer is
--------------------------------------------
* **Exact** (``solver="scip"`` or ``"highs"``; ``"auto"`` up to
  :data:`EXACT_MAX_PAIRS` demand-site pairs): the integer programme is built
  directly from the sparse coverage matrix and solved by SCIP (or HiGHS)
  through OR-Tools with a time limit and a relative gap of 0.  ``status`` is
  ``"optimal"`` when proven, else ``"time_limit"``; ``gap`` is
  ``(upper_bound - covered) / upper_bound`` with the solver's proven bound.
  SCIP starts from the greedy plan (below), so a time-limited solve is never
  worse than the greedy.  A 2,300-store x 1,000-site instance solves to
  proven optimality in well under a second (``benchmarks/bench_plan.py``); a
  contrived one with half the stores in one 10 km town takes ~30 s.  With
  capacities the programme has a variable per demand-site pair and is much
  harder (measured: 15,000 pairs proved in 4-10 s; 80,000 pairs hit a 30 s
  limit, the gap then reported against the LP bound).
* **Greedy** (``solver="greedy"``; ``"auto"`` above the size limit): the
  lazy greedy of :mod:`harmmap.plan.greedy`, which is guaranteed at least
  ``1 - 1/e`` (63.2 %) of the optimum (Nemhauser, Wolsey & Fisher 1978).  The
  gap reported is measured, not that worst case: against the smaller of the
  LP relaxation's optimum (solved by GLOP) and the data-dependent submodular
  bound.  With capacities the greedy fills each chosen site with the heaviest
  demand per unit of load it can still take; the ``1 - 1/e`` guarantee does
  not apply there, and the gap is against the LP relaxation only.

Coverage pairs are found with a KD-tree (``scipy.spatial.cKDTree``), never a
dense demand x site loop.  No randomness: the same input gives the same plan.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from scipy.spatial import cKDTree

from harmmap.errors import ConfigError, SchemaError
from harmmap.plan.mip import build_model, bound_by_lp_relaxation, run_solver
from harmmap.plan.greedy import bound_by_submodularity, choose_capacitated_sites_greedily, choose_sites_greedily

#: Road distance over straight-line distance (UK roads: roughly 1.2-1.4).
DETOUR = 1.3
EXACT_SOLVERS = ("scip", "highs")
SOLVERS = ("auto", *EXACT_SOLVERS, "greedy")
#: ``solver="auto"`` solves exactly up to this many demand-site pairs, greedily above.
EXACT_MAX_PAIRS = 2_000_000
GREEDY_GUARANTEE = 1.0 - 1.0 / math.e


@dataclass(frozen=True, slots=True)
class Coverage:
    """Which sites reach which demand points.

    Attributes
    ----------
    matrix : scipy.sparse.csr_matrix of float64, shape (n_demand, n_sites)
        1.0 where site ``j`` is within reach of demand point ``i``.
    distance_m : numpy.ndarray
        Straight-line distance of each stored pair, aligned with ``matrix.data``.
    radius_m : float
    """

    matrix: sp.csr_matrix
    distance_m: np.ndarray
    radius_m: float


@dataclass(frozen=True, slots=True)
class CoverageSolution:
    """A chosen set of sites and how much harm it covers.

    Attributes
    ----------
    sites : numpy.ndarray of int64
        Indices of the chosen candidate sites, ascending.
    assigned_site : numpy.ndarray of int64
        For each demand point the site serving it (the nearest chosen site in
        reach; with capacities, the one it is assigned to); -1 when uncovered.
    site_demand : numpy.ndarray of float64
        Demand served by each chosen site, aligned with ``sites``.
    covered_demand, total_demand, share : float
        Harm covered, all harm, and their ratio.
    upper_bound : float
        Proven upper bound on the best possible covered demand.
    gap : float
        ``(upper_bound - covered_demand) / upper_bound`` (0 = proven optimal).
    solver : str
        ``"scip"``, ``"highs"`` or ``"greedy"``.
    status : str
        ``"optimal"``, ``"time_limit"`` (best found when time ran out) or
        ``"heuristic"`` (greedy).
    bound : str
        Where ``upper_bound`` comes from: ``"solver"``, ``"lp_relaxation"``
        or ``"submodular"``.
    seconds : float
    pairs : int
        Demand-site pairs within reach.
    notes : tuple of str
    """

    sites: np.ndarray
    assigned_site: np.ndarray
    site_demand: np.ndarray
    covered_demand: float
    total_demand: float
    share: float
    upper_bound: float
    gap: float
    solver: str
    status: str
    bound: str
    seconds: float
    pairs: int
    notes: tuple[str, ...] = ()


def travel_minutes_to_metres(minutes: float, speed_kmh: float, detour: float = DETOUR) -> float:
    """Straight-line radius reached in ``minutes`` at ``speed_kmh`` on roads ``detour`` times longer."""
    if not (minutes > 0 and speed_kmh > 0 and detour >= 1):
        raise ConfigError("travel minutes and speed must be positive and the detour factor at least 1",
                          given=f"minutes={minutes}, speed_kmh={speed_kmh}, detour={detour}",
                          fix="e.g. 10 minutes at 24 km/h with detour 1.3")
    return minutes * speed_kmh * 1000.0 / 60.0 / detour


def _points(xy: object, name: str) -> np.ndarray:
    array = np.asarray(xy, dtype=np.float64)
    if array.ndim != 2 or array.shape[1] != 2 or not np.isfinite(array).all():
        raise SchemaError(f"{name} must be an (n, 2) array of finite easting, northing",
                          given=f"shape {array.shape}", fix="drop rows without coordinates")
    return array


def build_coverage(demand_xy: object, site_xy: object, radius_m: float) -> Coverage:
    """Find every demand-site pair within ``radius_m`` (British National Grid metres), by KD-tree.

    Parameters
    ----------
    demand_xy, site_xy : array_like, shape (n, 2)
        Easting and northing of the demand points and candidate sites.
    radius_m : float
        Service radius; a pair at exactly this distance is covered.

    Returns
    -------
    Coverage
    """
    demand, sites = _points(demand_xy, "demand_xy"), _points(site_xy, "site_xy")
    if not radius_m > 0:
        raise ConfigError("the service radius must be positive", given=radius_m, fix="e.g. 5000 (metres)")
    pairs = cKDTree(demand).sparse_distance_matrix(cKDTree(sites), radius_m, output_type="ndarray")
    order = np.lexsort((pairs["j"], pairs["i"]))
    rows, cols = pairs["i"][order].astype(np.int64), pairs["j"][order].astype(np.int64)
    indptr = np.concatenate([[0], np.cumsum(np.bincount(rows, minlength=len(demand)))])
    matrix = sp.csr_matrix((np.ones(rows.size), cols, indptr), shape=(len(demand), len(sites)))
    return Coverage(matrix, pairs["v"][order].astype(np.float64), float(radius_m))


def _check(coverage: Coverage | sp.spmatrix, weights: object, k: int, capacities, loads):
    if isinstance(coverage, Coverage):
        cov = coverage
    else:
        matrix = sp.csr_matrix(coverage, dtype=np.float64, copy=True)
        matrix.eliminate_zeros()
        matrix.sum_duplicates()
        matrix.data[:] = 1.0
        cov = Coverage(matrix, np.zeros(0), math.nan)
    matrix = cov.matrix
    n, m = matrix.shape
    w = np.asarray(weights, dtype=np.float64)
    if w.shape != (n,) or not np.isfinite(w).all() or (w < 0).any():
        raise SchemaError("demand weights must be one finite, non-negative value per demand point",
                          given=f"shape {w.shape}", fix="fill missing forecasts with 0")
    if not isinstance(k, (int, np.integer)) or k < 1:
        raise ConfigError("the number of sites to choose must be a positive integer", given=k, fix="e.g. 5")
    cap = load = None
    if capacities is not None:
        cap = np.broadcast_to(np.asarray(capacities, dtype=np.float64), (m,)).copy()
        load = np.ones(n) if loads is None else np.asarray(loads, dtype=np.float64)
        if load.shape != (n,) or not (np.isfinite(load).all() and (load > 0).all()) or np.isnan(cap).any() \
                or (cap < 0).any():
            raise SchemaError("capacities must be >= 0 per site and loads > 0 per demand point",
                              given=f"capacities {cap.shape}, loads {load.shape}", fix="check the inputs")
        column_load = np.asarray(matrix.multiply(load[:, None]).sum(axis=0)).ravel()
        cap = np.minimum(cap, column_load)
    return cov, w, min(int(k), m), cap, load


def _assign_nearest(cov: Coverage, sites: np.ndarray) -> np.ndarray:
    """For each demand point, the nearest chosen site in reach (-1 if none)."""
    matrix = cov.matrix
    n = matrix.shape[0]
    rows = np.repeat(np.arange(n), np.diff(matrix.indptr))
    keep = np.isin(matrix.indices, sites)
    rows, cols = rows[keep], matrix.indices[keep]
    distance = cov.distance_m[keep] if cov.distance_m.size == matrix.nnz else np.zeros(rows.size)
    order = np.lexsort((cols, distance, rows))
    first = np.unique(rows[order], return_index=True)[1]
    assigned = np.full(n, -1, dtype=np.int64)
    assigned[rows[order][first]] = cols[order][first]
    return assigned


def bound_coverage_by_lp(coverage: Coverage | sp.spmatrix, weights: object, k: int, *, capacities=None,
                         loads=None, time_limit_s: float = 30.0) -> float:
    """Optimum of the LP relaxation (an upper bound on covered demand), or NaN if GLOP does not finish."""
    cov, w, k, cap, load = _check(coverage, weights, k, capacities, loads)
    return bound_by_lp_relaxation(cov.matrix, w, k, cap, load, time_limit_s)


def _covered(cov: Coverage, w, sites, cap, assigned) -> tuple[np.ndarray, float]:
    if cap is None:
        assigned = _assign_nearest(cov, sites)
    return assigned, float(w[assigned >= 0].sum())


def _greedy(cov: Coverage, w, k, cap, load) -> tuple[np.ndarray, np.ndarray, float]:
    """Greedy sites, the demand points' assigned sites, and covered demand."""
    if cap is None:
        sites = choose_sites_greedily(cov.matrix, w, k)
        assigned, covered = _covered(cov, w, sites, None, None)
        return sites, assigned, covered
    sites, assigned = choose_capacitated_sites_greedily(cov.matrix, w, k, cap, load)
    return sites, assigned, float(w[assigned >= 0].sum())


def _bound_greedy(cov: Coverage, w, k, cap, load, sites, assigned, covered, time_limit_s) -> tuple[float, str]:
    """Upper bound on the optimum for a greedy plan: min(LP relaxation, submodular bound), and its source."""
    online = math.inf
    if cap is None:
        online = bound_by_submodularity(cov.matrix, w, k, sites, assigned >= 0)
    lp = bound_by_lp_relaxation(cov.matrix, w, k, cap, load, time_limit_s)
    lp = math.inf if math.isnan(lp) else lp
    bound, source = (lp, "lp_relaxation") if lp <= online else (online, "submodular")
    if not math.isfinite(bound):
        bound, source = float(w[np.diff(cov.matrix.indptr) > 0].sum()), "reachable_demand"
    return max(bound, covered), source


def _hint(cov: Coverage, cap, sites: np.ndarray, assigned: np.ndarray) -> np.ndarray:
    """A complete starting solution for the MIP's variables (sites, then demand points or pairs)."""
    x = np.zeros(cov.matrix.shape[1])
    x[sites] = 1.0
    if cap is None:
        return np.concatenate([x, (assigned >= 0).astype(np.float64)])
    rows = np.repeat(np.arange(cov.matrix.shape[0]), np.diff(cov.matrix.indptr))
    return np.concatenate([x, (assigned[rows] == cov.matrix.indices).astype(np.float64)])


def _exact(cov: Coverage, w, k, cap, load, solver, time_limit_s, hint: np.ndarray):
    """Solve the MIP; return (sites, assigned, covered, bound, status) or None when no solution came back."""
    model = build_model(cov.matrix, w, k, cap, load, relax=False)
    m = cov.matrix.shape[1]
    if solver == "scip":  # hints crash OR-Tools 9.15's HiGHS wrapper (segmentation fault)
        for index, value in enumerate(hint):
            model.add_hint(index, float(value))
    engine, optimal, ok = run_solver(model, solver, time_limit_s)
    if not ok:
        return None
    values = np.asarray(engine.variable_values())
    sites = np.flatnonzero(values[:m] > 0.5).astype(np.int64)
    assigned = None
    if cap is not None:
        rows = np.repeat(np.arange(cov.matrix.shape[0]), np.diff(cov.matrix.indptr))
        taken = values[m:] > 0.5
        assigned = np.full(cov.matrix.shape[0], -1, dtype=np.int64)
        assigned[rows[taken]] = cov.matrix.indices[taken]
    assigned, covered = _covered(cov, w, sites, cap, assigned)
    if optimal:
        return sites, assigned, covered, covered, "optimal"
    bound = min(float(engine.best_objective_bound()), float(w[np.diff(cov.matrix.indptr) > 0].sum()))
    if cap is not None:  # SCIP's bound before its root LP is finished can be far too loose
        lp = bound_by_lp_relaxation(cov.matrix, w, k, cap, load, time_limit_s)
        bound = bound if math.isnan(lp) else min(bound, lp)
    return sites, assigned, covered, max(covered, bound), "time_limit"


def solve_coverage(coverage: Coverage | sp.spmatrix, weights: object, k: int, *, capacities=None, loads=None,
                   solver: str = "auto", time_limit_s: float = 30.0,
                   exact_max_pairs: int = EXACT_MAX_PAIRS) -> CoverageSolution:
    """Choose ``k`` sites covering the most demand (see the module docstring for the methods).

    Parameters
    ----------
    coverage : Coverage or scipy.sparse matrix, shape (n_demand, n_sites)
        From :func:`build_coverage` (nonzero = within reach).
    weights : array_like, shape (n_demand,)
        Demand (e.g. forecast harm) of each demand point, >= 0.
    k : int
        Sites to choose (at most the number of candidates).
    capacities : float or array_like, optional
        Most load each site can serve (scalar = same for all); None: no limit.
    loads : array_like, optional
        Load of each demand point (default 1: capacities count demand points).
    solver : {"auto", "scip", "highs", "greedy"}
    time_limit_s : float
        Time limit of the exact solver (and of the LP bound of the greedy).
    exact_max_pairs : int
        With ``"auto"``: solve exactly up to this many pairs, greedily above.

    Returns
    -------
    CoverageSolution
    """
    if solver not in SOLVERS:
        raise ConfigError("unknown solver", given=solver, fix=f"use one of {', '.join(SOLVERS)}")
    clock = time.perf_counter()
    cov, w, k, cap, load = _check(coverage, weights, k, capacities, loads)
    sites, assigned, covered = _greedy(cov, w, k, cap, load)
    used, status, notes, found = "greedy", "heuristic", [], None
    if solver in EXACT_SOLVERS or (solver == "auto" and cov.matrix.nnz <= exact_max_pairs):
        used = "scip" if solver == "auto" else solver
        found = _exact(cov, w, k, cap, load, used, time_limit_s, _hint(cov, cap, sites, assigned))
    if found is None:
        if used != "greedy":
            notes.append(f"{used} returned no solution within the time limit: the greedy plan is kept")
            used = "greedy"
        if cap is None:
            notes.append(f"greedy guarantee: at least {GREEDY_GUARANTEE:.1%} of the optimum (Nemhauser et al. 1978)")
        bound, source = _bound_greedy(cov, w, k, cap, load, sites, assigned, covered, time_limit_s)
    else:
        status, bound, source = found[4], found[3], "solver"
        if found[2] >= covered - 1e-9 * max(1.0, covered):
            sites, assigned, covered = found[:3]
        else:
            notes.append("time limit: the greedy plan beat the solver's best and is kept")
    total = float(w.sum())
    chosen = np.searchsorted(sites, assigned[assigned >= 0])
    site_demand = np.bincount(chosen, weights=w[assigned >= 0], minlength=sites.size)
    gap = 0.0 if bound <= 0 else max(0.0, (bound - covered) / bound)
    return CoverageSolution(sites, assigned, site_demand, covered, total, covered / total if total > 0 else 0.0,
                            bound, gap, used, status, source, time.perf_counter() - clock, int(cov.matrix.nnz),
                            tuple(notes))
