"""Ranking units by harm, how sure each rank is, and how much it depends on the weights.

What it does, for analysts
--------------------------
**Rank.**  Units (cells or places) are ranked 1, 2, ... n, 1 having the most
harm.  Equal harm is ordered by a fixed tie-breaker (the unit id), so the same
data always give the same ranking and every rank is used exactly once.

**How sure.**  Harm totals are counts of events that could easily have been a
little different: one robbery more or less can move a place several ranks.  We
measure that with the bootstrap (Efron & Tibshirani 1993, *An Introduction to
the Bootstrap*): re-draw the incidents many times with replacement, re-rank
every time, and report the range of ranks a unit takes (the middle 90 % by
default) and the share of re-draws in which it is in the top N ("p_top_n").
We use the Poisson bootstrap (Hanley & MacGibbon 2006, *Computer Methods and
Programs in Biomedicine* 83, 57-62): each incident appears a Poisson(1) number
of times, which for many incidents is the ordinary bootstrap and lets
incidents in different units be re-drawn independently.  Because a sum of
``c`` independent Poisson(1) draws is Poisson(``c``), the incidents of one unit
with the same harm value are drawn together as one Poisson(``c``) count - the
same distribution, far fewer draws.

In each re-draw, units with equal harm share the best of their ranks
("1224" competition ranking), so ties favour nobody; a unit with no harm in a
re-draw is never counted as in the top N.  Units that had no harm at all share
one interval, starting just below the units that had some.  (:func:`rank_by_harm`
spreads tied units over consecutive ranks by id, so the listed rank of a tied
unit, e.g. an empty cell, can lie below its interval.)  Bounds are whole
ranks: the lower bound is the ``(1 - level) / 2`` percentile rounded towards
the top, the upper the ``(1 + level) / 2`` percentile rounded towards the
bottom (numpy's "lower" and "higher" methods), so intervals err on the wide
side.

Caveat.  Hall & Miller (2009, "Using the bootstrap to quantify the authority
of an empirical ranking", *Annals of Statistics* 37(6B), 3929-3959) show that
the ordinary bootstrap is unreliable for the ranks of units whose true harm is
tied or nearly tied: there its intervals can be too narrow, i.e. look more
certain than they are (they propose an m-out-of-n bootstrap).  Read narrow
intervals among units with similar harm as "these are close", not as "this
order is certain".

**Weight sensitivity.**  To see how much a ranking depends on the choice of
harm weights (Cambridge Crime Harm Index, Crime Severity Score or plain
counts), compare two harm vectors for the same units: Spearman's rho and
Kendall's tau-b rank correlations (``scipy.stats``), and the share of the top
N units the two rankings have in common.
"""

from __future__ import annotations

import math
import warnings
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import sparse, stats

from harmmap.errors import ConfigError, SchemaError
from harmmap.scoring.concentration import check_unit_values

_CHUNK_ELEMENTS = 4_000_000  # floats per replicate chunk (~32 MB per array)
_TABLE_MAX = 1000  # groups of up to this many incidents are drawn by inverse CDF
_DENSE_KEYS = 8_000_000  # (unit, value) key spaces up to this size are counted with bincount
_WORKERS = 2


@dataclass(frozen=True, slots=True)
class RankIntervals:
    """Bootstrap interval of each unit's rank.

    Attributes
    ----------
    rank_low, rank_high : numpy.ndarray of int64
        Best and worst rank of the interval (rank_low <= rank_high), per unit.
    p_top_n : numpy.ndarray of float64
        Share of replicates in which the unit has harm and is in the top ``top_n``.
    top_n, replicates, seed : int
    level : float
    """

    rank_low: np.ndarray
    rank_high: np.ndarray
    p_top_n: np.ndarray
    top_n: int
    replicates: int
    level: float
    seed: int


@dataclass(frozen=True, slots=True)
class WeightSensitivity:
    """Agreement of two rankings of the same units.

    Attributes
    ----------
    spearman_rho, kendall_tau : float
        Rank correlations (tau-b); NaN when either harm vector is constant.
    top_n_overlap : float
        ``|top N of a ∩ top N of b| / N`` (N capped at the number of units).
    top_n, n_units : int
    """

    spearman_rho: float
    kendall_tau: float
    top_n_overlap: float
    top_n: int
    n_units: int


def rank_by_harm(harm: np.ndarray, tie_break: np.ndarray) -> np.ndarray:
    """Rank units by harm, 1 = most harm, ties ordered by ``tie_break`` ascending.

    Parameters
    ----------
    harm : numpy.ndarray
        Harm per unit.
    tie_break : numpy.ndarray
        Per unit, any sortable values (unit ids, cell ids, place ids); units
        with equal harm and equal tie-breakers keep their input order.

    Returns
    -------
    numpy.ndarray of int64
        Always a permutation of ``1..n``.
    """
    harm = check_unit_values(harm)
    keys = np.asarray(tie_break)
    if keys.shape != harm.shape:
        raise SchemaError("tie_break must have one value per unit", given=f"{keys.shape} vs {harm.shape}",
                          fix="pass the unit ids")
    if keys.dtype.kind not in "iufbM":
        keys = np.unique(keys, return_inverse=True)[1]
    order = np.lexsort((keys, -harm))
    ranks = np.empty(len(harm), dtype="int64")
    ranks[order] = np.arange(1, len(harm) + 1)
    return ranks


@dataclass(frozen=True, slots=True)
class _Groups:
    """Incidents with positive harm grouped by (unit, harm value), smallest groups first."""

    active: np.ndarray  # unit code of each active unit (one with positive harm)
    spread: sparse.csr_matrix  # active units x groups: each group's harm value in its unit's row
    count: np.ndarray  # incidents per group (float64: the Poisson means), ascending
    tables: tuple[tuple[int, int, np.ndarray], ...]  # (first, stop, Poisson CDF) per small group size
    n_small: int  # groups [0, n_small) are drawn from the tables, the rest by Generator.poisson


def _count_keys(keys: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Return the distinct keys (sorted) and how often each occurs."""
    if size <= _DENSE_KEYS:
        counts = np.bincount(keys, minlength=size)
        distinct = np.flatnonzero(counts)
        return distinct, counts[distinct]
    codes, distinct = pd.factorize(keys, sort=True)
    return np.asarray(distinct), np.bincount(codes, minlength=len(distinct))


def _poisson_tables(count: np.ndarray) -> tuple[tuple[int, int, np.ndarray], ...]:
    """CDF tables of Poisson(c) for each distinct small group size c, with the slice of groups of that size."""
    if not len(count):
        return ()
    sizes, firsts = np.unique(count, return_index=True)
    stops = np.append(firsts[1:], len(count))
    tables = []
    for size, first, stop in zip(sizes, firsts, stops, strict=True):
        if size > _TABLE_MAX:
            break
        cdf = stats.poisson.cdf(np.arange(math.ceil(size + 15 * math.sqrt(size) + 30)), size)
        cdf[-1] = 1.0  # the mass beyond the table is below 1e-17
        tables.append((int(first), int(stop), cdf))
    return tuple(tables)


def _group_incidents(units: np.ndarray, harm: np.ndarray, n_units: int) -> _Groups:
    """Group incidents by (unit, harm value): a group of c incidents is redrawn as one Poisson(c) count.

    Groups are in a canonical order (by size, then unit, then value), so the
    order of the incidents cannot change the draws.
    """
    keep = harm > 0
    units, harm = units[keep], harm[keep]
    value_codes, values = pd.factorize(harm, sort=True)
    n_values = max(len(values), 1)
    keys, count = _count_keys(units * n_values + value_codes, n_units * n_values)
    order = np.argsort(count, kind="stable")
    keys, count = keys[order], count[order].astype("float64")
    active, group_unit = np.unique(keys // n_values, return_inverse=True)
    group_harm = np.asarray(values, dtype="float64")[keys % n_values]
    spread = sparse.csr_matrix((group_harm, (group_unit, np.arange(len(keys)))), shape=(len(active), len(keys)))
    tables = _poisson_tables(count)
    return _Groups(active, spread, count, tables, tables[-1][1] if tables else 0)


def _draw_counts(groups: _Groups, generators: list[np.random.Generator]) -> np.ndarray:
    """Poisson(c) multiplicity of every group, one row per replicate, each row from its own generator.

    Groups of up to ``_TABLE_MAX`` incidents use the inverse CDF (one uniform
    per draw, exact up to the float rounding of the CDF, ~1.5x faster than
    ``Generator.poisson``); larger ones use ``Generator.poisson``.
    """
    n_small, n_groups = groups.n_small, len(groups.count)
    draws = np.empty((len(generators), n_groups), dtype="float64")
    if n_small:
        uniforms = np.stack([rng.random(n_small) for rng in generators])
        for first, stop, cdf in groups.tables:
            draws[:, first:stop] = np.searchsorted(cdf, uniforms[:, first:stop], side="right")
    if n_small < n_groups:
        draws[:, n_small:] = np.stack([rng.poisson(groups.count[n_small:]) for rng in generators])
    return draws


def _competition_ranks(replicate_harm: np.ndarray) -> np.ndarray:
    """Ranks of each row ("1224": ties share the best rank), 1 = most harm."""
    rows, width = replicate_harm.shape
    order = np.argsort(-replicate_harm, axis=1)
    ordered = np.take_along_axis(replicate_harm, order, axis=1)
    starts = np.ones((rows, width), dtype=bool)
    starts[:, 1:] = ordered[:, 1:] != ordered[:, :-1]
    first = np.maximum.accumulate(np.where(starts, np.arange(width, dtype="int32"), 0), axis=1)
    ranks = np.empty((rows, width), dtype="int32")
    np.put_along_axis(ranks, order, first + 1, axis=1)
    return ranks


def _keep_extremes(kept: np.ndarray, new: np.ndarray, count: int, largest: bool) -> np.ndarray:
    """Merge ``new`` rows into ``kept`` and keep the ``count`` smallest (or largest) per column."""
    both = np.concatenate([kept, new], axis=0)
    if len(both) <= count:
        return both
    if largest:
        return np.partition(both, len(both) - count, axis=0)[len(both) - count:]
    return np.partition(both, count - 1, axis=0)[:count]


def _percentile_positions(replicates: int, level: float) -> tuple[int, int]:
    """0-based order-statistic positions of numpy's 'lower' low and 'higher' high percentiles."""
    low = math.floor(round((1 - level) / 2 * (replicates - 1), 9))
    high = math.ceil(round((1 + level) / 2 * (replicates - 1), 9))
    return low, high


def _check_bootstrap_args(top_n: int, replicates: int, level: float, seed: object) -> None:
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise ConfigError("the bootstrap needs an integer seed", given=seed, fix="pass seed=0 (any integer)")
    if not isinstance(top_n, (int, np.integer)) or top_n < 1:
        raise ConfigError("top_n must be a positive integer", given=top_n, fix="use e.g. 20")
    if not isinstance(replicates, (int, np.integer)) or replicates < 2:
        raise ConfigError("the bootstrap needs at least 2 replicates", given=replicates, fix="use 200 or more")
    if not 0 < level < 1:
        raise ConfigError("interval level must be between 0 and 1", given=level, fix="use 0.9 for 90 %")


def bootstrap_rank_intervals(unit_codes: np.ndarray, harm_values: np.ndarray, n_units: int, *,
                             top_n: int, replicates: int = 200, seed: int, level: float = 0.9) -> RankIntervals:
    """Poisson-bootstrap interval of each unit's harm rank and its chance of being in the top N.

    Parameters
    ----------
    unit_codes : numpy.ndarray of int
        Unit index (0..n_units-1) of each incident (or incident-place pair).
    harm_values : numpy.ndarray of float
        Harm of each incident; finite, not negative.
    n_units : int
        Number of units (zero-filled grid or place table).
    top_n : int
        N of "top N".
    replicates : int
        Bootstrap replicates (default 200).
    seed : int
        Seeds a ``numpy.random.SeedSequence`` spawned into one generator per
        replicate: same inputs and seed, same result, whatever the chunking.
    level : float
        Central coverage of the interval (default 0.9: 5th to 95th percentile).

    Returns
    -------
    RankIntervals
        Arrays of length ``n_units``.

    Notes
    -----
    Cost is about ``replicates x groups`` Poisson draws plus ``replicates``
    sorts of the active units, run in two threads.  Runs replicates in chunks,
    so memory stays near ``chunk x max(groups,
    active units)`` floats plus a few order statistics per active unit, where
    a group is one (unit, distinct harm value) pair and an active unit one with
    positive harm.  See the module docstring for the tie rule and the
    Hall & Miller (2009) caveat on near-ties.
    """
    _check_bootstrap_args(top_n, replicates, level, seed)
    harm = check_unit_values(harm_values, "harm_values")
    units = np.asarray(unit_codes)
    if units.shape != harm.shape or units.dtype.kind not in "iu":
        raise SchemaError("unit_codes must be integer codes, one per incident", given=f"{units.dtype} {units.shape}",
                          fix="pass the unit index of each harm value")
    if len(units) and (units.min() < 0 or units.max() >= n_units):
        raise SchemaError(f"unit codes out of range 0..{n_units - 1}", given=f"{units.min()}..{units.max()}",
                          fix="map each incident to a unit first")
    groups = _group_incidents(units.astype("int64"), harm, n_units)
    low, high = _percentile_positions(replicates, level)
    generators = [np.random.default_rng(child) for child in np.random.SeedSequence(seed).spawn(replicates)]
    chunk = max(1, _CHUNK_ELEMENTS // max(len(groups.count), len(groups.active), 1))
    batches = [generators[start:start + chunk] for start in range(0, replicates, chunk)]
    with ThreadPoolExecutor(max_workers=_WORKERS) as pool:
        parts = list(pool.map(lambda batch: _summarise_batch(groups, batch, top_n, low + 1, replicates - high),
                              batches))
    smallest, largest, in_top, empty_rank = parts[0]
    for part in parts[1:]:
        smallest = _keep_extremes(smallest, part[0], low + 1, largest=False)
        largest = _keep_extremes(largest, part[1], replicates - high, largest=True)
        in_top = in_top + part[2]
        empty_rank = np.concatenate([empty_rank, part[3]])
    ordered_empty = np.sort(empty_rank)
    rank_low = np.full(n_units, ordered_empty[low], dtype="int64")
    rank_high = np.full(n_units, ordered_empty[high], dtype="int64")
    p_top_n = np.zeros(n_units)
    if len(groups.active):
        rank_low[groups.active] = smallest.max(axis=0)
        rank_high[groups.active] = largest.min(axis=0)
        p_top_n[groups.active] = in_top / replicates
    return RankIntervals(rank_low, rank_high, p_top_n, int(top_n), int(replicates), float(level), int(seed))


def _summarise_batch(groups: _Groups, generators: list[np.random.Generator], top_n: int,
                     n_low: int, n_high: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Run one batch of replicates; return its rank extremes, top-N counts and empty-unit ranks."""
    draws = _draw_counts(groups, generators)
    replicate_harm = np.asarray((groups.spread @ draws.T).T)
    ranks = _competition_ranks(replicate_harm)
    positive = replicate_harm > 0
    width = len(groups.active)
    smallest = _keep_extremes(np.empty((0, width), dtype="int32"), ranks, n_low, largest=False)
    largest = _keep_extremes(np.empty((0, width), dtype="int32"), ranks, n_high, largest=True)
    in_top = ((ranks <= top_n) & positive).sum(axis=0)
    return smallest, largest, in_top, positive.sum(axis=1) + 1


def compare_weightings(harm_a: np.ndarray, harm_b: np.ndarray, *, top_n: int) -> WeightSensitivity:
    """Compare the rankings of the same units under two harm weightings.

    Parameters
    ----------
    harm_a, harm_b : numpy.ndarray
        Harm per unit under each weighting (e.g. ``cchi`` and ``count``), aligned.
    top_n : int
        N of the top-N overlap; capped at the number of units.

    Returns
    -------
    WeightSensitivity
        Spearman's rho, Kendall's tau-b, and the top-N overlap, where each top
        N comes from :func:`rank_by_harm` with the unit index as tie-breaker.
    """
    a, b = check_unit_values(harm_a, "harm_a"), check_unit_values(harm_b, "harm_b")
    if a.shape != b.shape:
        raise SchemaError("the two harm vectors must be aligned", given=f"{a.shape} vs {b.shape}",
                          fix="score the same units under both weightings")
    if not isinstance(top_n, (int, np.integer)) or top_n < 1:
        raise ConfigError("top_n must be a positive integer", given=top_n, fix="use e.g. 20")
    n = len(a)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", stats.ConstantInputWarning)
        rho = float(stats.spearmanr(a, b).statistic) if n > 1 else math.nan
        tau = float(stats.kendalltau(a, b).statistic) if n > 1 else math.nan
    top = min(int(top_n), n)
    index = np.arange(n)
    shared = int(((rank_by_harm(a, index) <= top) & (rank_by_harm(b, index) <= top)).sum())
    return WeightSensitivity(rho, tau, shared / top if top else math.nan, int(top_n), n)
