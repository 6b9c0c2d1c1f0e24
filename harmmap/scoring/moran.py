"""Moran's I: is harm clustered overall (global), and where (local, with HH/LL/HL/LH classes)?

For analysts
------------
Moran's I compares each cell's deviation from the average with the average
deviation of its neighbours (row-standardised weights: each of a cell's ``c``
neighbours counts ``1 / c``).

*Global* Moran's I is one number for the whole study area: above its
expected value ``-1 / (n - 1)`` (about 0) when high-harm cells sit next to
high-harm cells and quiet cells next to quiet ones, below it when high and low
alternate.  ``moran_z`` uses the variance under *randomisation* (the values
are those observed, dealt to the cells at random), as ArcGIS's Spatial
Autocorrelation (Global Moran's I) tool and esda's ``z_rand`` do; the
variance under normality is given too.  ``moran_p_sim`` compares the observed
I with I computed on random permutations of the values over the grid.

*Local* Moran's I (a LISA, Anselin 1995) splits the global statistic over the
cells: ``I_i = (n - 1) * z_i * lag_i / sum(z^2)`` with ``z = y - mean`` and
``lag_i`` the average ``z`` of the cell's neighbours, exactly as esda 2.9's
``Moran_Local(y, w, transformation="r")``.  Its quadrant says what kind of
place a cell is: 1 = HH (high amid high: a hot cluster), 2 = LH (a quiet
cell amid high harm), 3 = LL (cold cluster), 4 = HL (a high-harm outlier amid
quiet cells); a value or lag exactly at the mean counts as low, as in esda.
The lag is computed as (neighbourhood mean - grid mean), so a neighbourhood
whose mean equals the grid mean has a lag of exactly 0 (esda sums rounded
standardised values and may get +-1e-17 there, which flips its quadrant).
Significance comes from conditional permutation (see
:mod:`harmmap.scoring.permutation`): with row-standardised weights the
simulated ``I_i`` is ``z_i`` times a constant times the random neighbourhood
sum, so comparing neighbourhood sums gives the same pseudo p-value.  A cell
exactly at the mean (``z_i = 0``) has ``I_i = 0`` under every draw: p = 1
(esda's tie rule reports 0.001 there).  Cells with no neighbours get
``I_i = 0`` and p = 1.

Degenerate grids: when all values are equal there is nothing to correlate;
harmmap returns ``I = E[I]``, z = 0 and p = 1 (global) and ``I_i = 0``,
p = 1 (local) instead of NaN.  Global Moran's I needs at least 4 cells and at
least one pair of neighbours, and raises :class:`~harmmap.errors.ConfigError`
otherwise.

References
----------
Moran, P. A. P. (1950). Notes on continuous stochastic phenomena. Biometrika 37, 17-23.
Cliff, A. D. and Ord, J. K. (1981). Spatial Processes: Models and Applications. Pion (moments of I).
Anselin, L. (1995). Local indicators of spatial association - LISA. Geographical Analysis 27(2), 93-115.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from scipy.stats import norm

from harmmap.errors import ConfigError
from harmmap.scoring.getis_ord import _check_neighbours
from harmmap.scoring.permutation import count_extremes, pseudo_p_values, simulate_neighbour_sums

QUADRANT_LABELS = {1: "HH", 2: "LH", 3: "LL", 4: "HL"}
_CHUNK_ELEMENTS = 1_000_000


@dataclass(frozen=True, slots=True)
class LocalMoran:
    """Local Moran's I (row-standardised weights) for every cell.

    Attributes
    ----------
    moran_i : numpy.ndarray of float
        ``(n - 1) * z_i * lag_i / sum(z^2)``, as esda ``Moran_Local(...).Is``.
    moran_p_sim : numpy.ndarray of float
        Conditional-permutation pseudo p-value in the observed direction (the
        smaller tail, as esda's ``p_sim``: about half a two-sided p-value);
        1 for cells at the mean or without neighbours; NaN when ``permutations == 0``.
    quadrant : numpy.ndarray of int8
        1 = HH, 2 = LH, 3 = LL, 4 = HL (esda's ``q``).
    permutations, seed : int
    """

    moran_i: np.ndarray
    moran_p_sim: np.ndarray
    quadrant: np.ndarray
    permutations: int
    seed: int


@dataclass(frozen=True, slots=True)
class GlobalMoran:
    """Global Moran's I (row-standardised weights) with analytic and permutation inference.

    Attributes
    ----------
    moran_i, expected_i : float
        The statistic and its expectation ``-1 / (n - 1)``.
    variance_i : float
        Variance under randomisation (esda ``VI_rand``, ArcGIS).
    variance_i_normal : float
        Variance under normality (esda ``VI_norm``).
    moran_z, moran_p : float
        z-score under randomisation and its two-sided normal p-value (esda ``z_rand``, ``p_rand``).
    moran_p_sim : float
        Pseudo p-value from full random permutations of the values, smaller
        tail, ties counted on both sides; NaN when ``permutations == 0``.
    permutations, seed : int
    """

    moran_i: float
    expected_i: float
    variance_i: float
    variance_i_normal: float
    moran_z: float
    moran_p: float
    moran_p_sim: float
    permutations: int
    seed: int


def _check_inputs(values: np.ndarray, neighbours: sp.spmatrix, permutations: int) -> tuple[np.ndarray, sp.csr_matrix]:
    values = np.asarray(values, dtype=np.float64)
    if values.ndim != 1 or not np.all(np.isfinite(values)):
        raise ConfigError("values must be a 1-D array of finite numbers, one per cell",
                          given=f"shape {values.shape}", fix="fill cells without incidents with 0")
    if isinstance(permutations, bool) or not isinstance(permutations, (int, np.integer)) or permutations < 0:
        raise ConfigError("permutations must be a whole number >= 0", given=repr(permutations),
                          fix="use 999 (the default) or 0 to skip permutation inference")
    return values, _check_neighbours(neighbours, values.size)


def _quadrants(deviation: np.ndarray, lag: np.ndarray) -> np.ndarray:
    high, high_lag = deviation > 0, lag > 0
    quadrant = np.full(deviation.size, 3, dtype=np.int8)
    quadrant[high & high_lag] = 1
    quadrant[~high & high_lag] = 2
    quadrant[high & ~high_lag] = 4
    return quadrant


def local_moran(values: np.ndarray, neighbours: sp.spmatrix, *, permutations: int = 999, seed: int) -> LocalMoran:
    """Compute local Moran's I with row-standardised weights, quadrants and permutation p-values.

    Parameters
    ----------
    values : array-like of float, shape (n,)
        Value of every cell of a zero-filled grid.
    neighbours : scipy.sparse matrix, shape (n, n)
        Binary symmetric neighbour matrix without diagonal
        (:func:`harmmap.geo.grid.cells_to_neighbours`); rows are standardised here.
    permutations : int, default 999
        Random neighbourhoods per neighbour count; 0 skips them (``moran_p_sim`` is NaN).
    seed : int
        Seed of the random generator.

    Returns
    -------
    LocalMoran
    """
    values, matrix = _check_inputs(values, neighbours, permutations)
    n = values.size
    counts = np.diff(matrix.indptr)
    neighbour_sums = matrix @ values
    mean = values.mean() if n else 0.0
    deviation = values - mean
    lag = np.divide(neighbour_sums, counts, out=np.zeros(n), where=counts > 0) - mean
    lag[counts == 0] = 0.0
    squares = float(np.sum(deviation * deviation))
    constant = n < 2 or squares <= 0.0
    moran_i = np.zeros(n) if constant else (n - 1) * deviation * lag / squares
    quadrant = _quadrants(np.zeros(n) if constant else deviation, lag)
    if not permutations:
        p_sim = np.full(n, np.nan)
    elif constant:
        p_sim = np.ones(n)
    else:
        null = simulate_neighbour_sums(values, counts, permutations=int(permutations), seed=seed)
        at_least, at_most = count_extremes(null, neighbour_sums, counts)
        p_sim = pseudo_p_values(at_least, at_most, int(permutations))
        p_sim[deviation == 0.0] = 1.0
    return LocalMoran(moran_i=moran_i, moran_p_sim=p_sim, quadrant=quadrant,
                      permutations=int(permutations), seed=seed)


def classify_clusters(quadrant: np.ndarray, p: np.ndarray, alpha: float = 0.05) -> np.ndarray:
    """Return the LISA cluster label of each cell: "HH", "LL", "HL", "LH", or "ns" (not significant).

    A cell takes its quadrant's label when ``p <= alpha`` (NaN p is "ns").
    esda's ``get_cluster_labels`` uses ``p < alpha``; the two differ only for
    a pseudo p-value exactly equal to ``alpha``.
    """
    if isinstance(alpha, bool) or not isinstance(alpha, (int, float, np.floating)) or not 0.0 < float(alpha) < 1.0:
        raise ConfigError("alpha must be strictly between 0 and 1", given=repr(alpha), fix="use e.g. alpha=0.05")
    quadrant = np.asarray(quadrant)
    p = np.asarray(p, dtype=np.float64)
    names = np.array(["ns"] + [QUADRANT_LABELS[q] for q in (1, 2, 3, 4)])
    labels = names[np.where(np.isin(quadrant, (1, 2, 3, 4)), quadrant, 0)]
    significant = np.less_equal(p, alpha, where=~np.isnan(p), out=np.zeros(p.shape, dtype=bool))
    return np.where(significant, labels, "ns")


def _weight_sums(matrix: sp.csr_matrix) -> tuple[sp.csr_matrix, float, float, float]:
    """Return the symmetric upper-triangle form of the row-standardised matrix and its S0, S1, S2.

    With ``W`` row-standardised and an empty diagonal, ``x' W x = x' U x`` for
    ``U = triu(W + W')``, which has half the entries of ``W``: the permutation
    loop multiplies by ``U``.  S0, S1, S2 are Cliff and Ord's weight sums.
    """
    counts = np.diff(matrix.indptr).astype(np.float64)
    inverse = np.divide(1.0, counts, out=np.zeros_like(counts), where=counts > 0)
    standardised = sp.csr_matrix(sp.diags(inverse) @ matrix)
    s0 = float(standardised.sum())
    symmetric = sp.csr_matrix(standardised + standardised.T)
    s1 = 0.5 * float(symmetric.multiply(symmetric).sum())
    row_plus_column = np.asarray(symmetric.sum(axis=1)).ravel()
    s2 = float(np.sum(row_plus_column * row_plus_column))
    return sp.triu(symmetric, k=1, format="csr"), s0, s1, s2


def _variances(deviation: np.ndarray, s0: float, s1: float, s2: float) -> tuple[float, float]:
    """Return (variance under randomisation, variance under normality) of Moran's I."""
    n = float(deviation.size)
    expected = -1.0 / (n - 1)
    normal = (n * n * s1 - n * s2 + 3 * s0 * s0) / ((n - 1) * (n + 1) * s0 * s0) - expected**2
    squares = deviation * deviation
    kurtosis = (np.sum(squares * squares) / n) / (squares.sum() / n) ** 2
    a = n * ((n * n - 3 * n + 3) * s1 - n * s2 + 3 * s0 * s0)
    b = kurtosis * ((n * n - n) * s1 - 2 * n * s2 + 6 * s0 * s0)
    randomised = (a - b) / ((n - 1) * (n - 2) * (n - 3) * s0 * s0) - expected**2
    return randomised, normal


def _simulate_global(values: np.ndarray, upper: sp.csr_matrix, scale: float,
                     permutations: int, seed: int) -> np.ndarray:
    """Return Moran's I for ``permutations`` uniformly random permutations of ``values``.

    Cells holding the most common value ``v`` (0 on a zero-filled grid) are
    interchangeable, so a random permutation only needs random *distinct*
    positions, in random order, for the ``m`` other values
    (``Generator.choice(n, m, replace=False)``).  Writing the deviations as
    ``x = (v - mean) + e`` with ``e`` zero except at those positions,
    ``x' U x = (v - mean)^2 * sum(U) + (v - mean) * r.e + e' U e`` where ``r``
    holds the row plus column sums of ``U``: only ``e`` is built, blocks of
    permutations at a time, and multiplied by the sparse ``U``.
    """
    n = values.size
    distinct, counts = np.unique(values, return_counts=True)
    mode = distinct[np.argmax(counts)]
    spread = values[values != mode] - mode
    shift = mode - values.mean()
    sides = np.asarray(upper.sum(axis=0)).ravel() + np.asarray(upper.sum(axis=1)).ravel()
    base = shift * shift * float(upper.sum())
    rng = np.random.default_rng(seed)
    chunk = max(1, min(permutations, _CHUNK_ELEMENTS // n))
    simulated = np.empty(permutations)
    for start in range(0, permutations, chunk):
        size = min(chunk, permutations - start)
        block = np.zeros((n, size))
        for column in range(size):
            block[rng.choice(n, size=spread.size, replace=False), column] = spread
        # einsum, not BLAS: OpenBLAS threads cost milliseconds per small call on a busy 2-core machine
        linear = np.einsum("i,ij->j", sides, block)
        quadratic = np.einsum("ij,ij->j", block, upper @ block)
        simulated[start:start + size] = scale * (base + shift * linear + quadratic)
    return simulated


def global_moran(values: np.ndarray, neighbours: sp.spmatrix, *, permutations: int = 999, seed: int) -> GlobalMoran:
    """Compute global Moran's I with row-standardised weights, as esda ``Moran(y, w, transformation="r")``.

    Parameters
    ----------
    values : array-like of float, shape (n,), n >= 4
    neighbours : scipy.sparse matrix, shape (n, n)
        Binary symmetric neighbour matrix without diagonal; at least one pair of neighbours.
    permutations : int, default 999
        Full random permutations of the values over the grid; 0 skips them.
    seed : int
        Seed of the random generator.

    Returns
    -------
    GlobalMoran
    """
    values, matrix = _check_inputs(values, neighbours, permutations)
    n = values.size
    if n < 4 or matrix.nnz == 0:
        raise ConfigError("global Moran's I needs at least 4 cells and at least one pair of neighbours",
                          given=f"{n} cells, {matrix.nnz} neighbour links",
                          fix="use a larger study area or a larger k")
    upper, s0, s1, s2 = _weight_sums(matrix)
    deviation = values - values.mean()
    squares = float(np.sum(deviation * deviation))
    expected = -1.0 / (n - 1)
    permutations = int(permutations)
    if squares <= 0.0:
        p_sim = 1.0 if permutations else float("nan")
        return GlobalMoran(expected, expected, 0.0, 0.0, 0.0, 1.0, p_sim, permutations, seed)
    scale = n / s0 / squares
    moran_i = scale * float(np.sum(deviation * (upper @ deviation)))
    variance, variance_normal = _variances(deviation, s0, s1, s2)
    moran_z = (moran_i - expected) / np.sqrt(variance) if variance > 0 else 0.0
    p_sim = float("nan")
    if permutations:
        simulated = _simulate_global(values, upper, scale, permutations, seed)
        tolerance = 1e-9 * max(1.0, float(np.abs(simulated).max()))
        extreme = min(np.sum(simulated >= moran_i - tolerance), np.sum(simulated <= moran_i + tolerance))
        p_sim = (extreme + 1.0) / (permutations + 1.0)
    return GlobalMoran(moran_i=moran_i, expected_i=expected, variance_i=float(variance),
                       variance_i_normal=float(variance_normal), moran_z=float(moran_z),
                       moran_p=float(2.0 * norm.sf(abs(moran_z))), moran_p_sim=float(p_sim),
                       permutations=permutations, seed=seed)
