"""Getis-Ord Gi*: hot and cold spots of harm on a grid of cells.

For analysts
------------
Gi* ("G-i-star") asks, for every cell, whether the harm in the cell *and its
neighbours* is higher (a hot spot) or lower (a cold spot) than chance would
give if the same harm values were scattered at random over the study area.
A single high-harm cell surrounded by quiet cells is not a hot spot; a
cluster of high-harm cells is.

For cell ``i`` with ``c`` neighbours (its k-ring; binary weights, the cell
itself included with weight 1, so ``W* = c + 1`` cells are summed)::

    G*_i = (sum of values in the cell and its neighbours) / (sum of all values)
    E[G*_i] = W* / n
    Var[G*_i] = W* (n - W*) / (n - 1) / n^2 * s^2 / mean^2
    z_i = (G*_i - E[G*_i]) / sqrt(Var[G*_i])

where ``n`` is the number of cells on the (zero-filled) grid and ``s^2`` the
population variance of the values.  ``gi_z`` is that z-score: +2 means the
neighbourhood holds two standard errors more harm than expected.  ``gi_p`` is
the two-sided normal p-value ``2 * P(Z > |z|)``.  These are exactly the
formulas of PySAL esda 2.9 ``G_Local(y, w, transform="B", star=True)``
(harmmap's tests check the z-scores agree to 1e-9); note that esda's
``p_norm`` is *one*-sided, i.e. ``gi_p / 2``.

Harm is skewed (a few cells hold most of it), so the normal approximation can
be rough.  ``gi_p_sim`` is therefore also computed by conditional permutation
(see :mod:`harmmap.scoring.permutation`): the cell's own value stays put, the
other values are dealt at random to its ``c`` neighbours 999 times.  Since
``G*_sim = (y_i + neighbour sum) / sum(y)``, comparing neighbourhood sums is
the same as comparing G* values.

Sparse grids.  With few incidents per cell the normal approximation fails
badly: one shoplifting on a 61-cell grid gives its 7-cell neighbourhood
z = 2.8 (p = 0.005), while the exact chance that 7 random cells hold that
incident is 7/61 = 0.11.  And conditional permutation cannot help, because it
keeps the cell's own value fixed and so asks a different question (are the
*surroundings* unusual?).  :func:`randomisation_p_values` answers Gi*'s own
question exactly: it draws ``W*`` cells at random (the cell itself not held
fixed), 199,999 times by default, which is the very null distribution whose
mean and variance the analytic formula uses, without the normal
approximation.  harmmap bins on it by default.

:func:`confidence_bins` turns z and p into ArcGIS's ``Gi_Bin`` classes:
+3 / +2 / +1 = hot spot with 99 / 95 / 90 % confidence, -1 / -2 / -3 = cold
spot, 0 = not significant; optionally with the Benjamini-Hochberg false
discovery rate correction at each level, as ArcGIS's "Apply False Discovery
Rate (FDR) Correction" does.

Degenerate grids.  When every value is the same (for instance a period with no
harm at all: all zeros) or the grid has fewer than two cells, nothing can be
above or below expectation: harmmap returns ``gi = E[G*]``, ``gi_z = 0``,
``gi_p = 1`` and ``gi_p_sim = 1`` rather than esda's NaN (0/0).  A cell whose
neighbourhood covers the whole grid (``W* = n``) likewise gets z = 0, p = 1.
Negative or non-finite values raise :class:`~harmmap.errors.ConfigError`:
G* is defined for non-negative values with a positive total.

References
----------
Getis, A. and Ord, J. K. (1992). The analysis of spatial association by use of
distance statistics. Geographical Analysis 24(3), 189-206.
Ord, J. K. and Getis, A. (1995). Local spatial autocorrelation statistics:
distributional issues and an application. Geographical Analysis 27(4), 286-306.
Esri, "How Hot Spot Analysis (Getis-Ord Gi*) works" and "Hot Spot Analysis
(Getis-Ord Gi*)" tool reference (Gi_Bin, FDR correction), ArcGIS Pro documentation,
https://pro.arcgis.com/en/pro-app/latest/tool-reference/spatial-statistics/hot-spot-analysis.htm
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from scipy.special import ndtr

from harmmap.errors import ConfigError
from harmmap.scoring.fdr import adjust_benjamini_hochberg
from harmmap.scoring.permutation import count_extremes, pseudo_p_values, simulate_neighbour_sums

#: Confidence levels of the Gi_Bin classes, strongest first: (bin magnitude, alpha).
CONFIDENCE_LEVELS = ((3, 0.01), (2, 0.05), (1, 0.10))


@dataclass(frozen=True, slots=True)
class GiStar:
    """Getis-Ord Gi* for every cell of a grid.

    Attributes
    ----------
    gi : numpy.ndarray of float
        The G* statistic: share of the total harm found in the cell and its neighbours.
    gi_z : numpy.ndarray of float
        z-score of G* under the normal approximation (positive = hot).
    gi_p : numpy.ndarray of float
        Two-sided normal p-value, ``2 * norm.sf(|gi_z|)`` (esda's ``p_norm`` is half of it).
    gi_p_sim : numpy.ndarray of float
        Conditional-permutation pseudo p-value in the observed direction,
        ``(extreme draws + 1) / (permutations + 1)`` with the smaller tail
        counted (esda's ``p_sim``, ``alternative="directed"``): one tail, so
        about half of a two-sided p-value such as ``gi_p``; at most ~0.5.
        NaN everywhere when ``permutations == 0``.
    permutations : int
        Random neighbourhoods drawn (0 = none).
    seed : int
        Seed of the random generator used for the permutations.
    """

    gi: np.ndarray
    gi_z: np.ndarray
    gi_p: np.ndarray
    gi_p_sim: np.ndarray
    permutations: int
    seed: int


def _check_values(values: np.ndarray) -> np.ndarray:
    values = np.asarray(values, dtype=np.float64)
    if values.ndim != 1:
        raise ConfigError("values must be one number per cell (a 1-D array)", given=f"shape {values.shape}",
                          fix="pass the harm of each grid cell, in the order of the neighbour matrix")
    if not np.all(np.isfinite(values)):
        raise ConfigError("values must be finite", given=f"{int(np.sum(~np.isfinite(values)))} NaN/inf values",
                          fix="fill cells without incidents with 0")
    if values.size and values.min() < 0:
        raise ConfigError("Gi* needs non-negative values", given=f"minimum {values.min()!r}",
                          fix="score harm, counts or rates, which cannot be negative")
    return values


def _check_neighbours(neighbours: sp.spmatrix, n: int) -> sp.csr_matrix:
    if not sp.issparse(neighbours) or neighbours.shape != (n, n):
        raise ConfigError("neighbours must be a square scipy.sparse matrix with one row per value",
                          given=f"{type(neighbours).__name__} of shape {getattr(neighbours, 'shape', None)} "
                                f"for {n} values",
                          fix="build it with harmmap.geo.grid.cells_to_neighbours(cells, k)")
    matrix = sp.csr_matrix(neighbours)
    if matrix.nnz and (np.any(matrix.data != 1.0) or np.any(matrix.diagonal() != 0)):
        raise ConfigError("neighbours must be binary (all weights 1) with an empty diagonal",
                          given="weighted entries or self-neighbours",
                          fix="use harmmap.geo.grid.cells_to_neighbours, which builds exactly that")
    return matrix


def _analytic(values: np.ndarray, neighbours: sp.csr_matrix) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return (gi, gi_z, neighbour sums) with esda's G_Local(star=True, transform="B") moments."""
    n = values.size
    neighbour_sums = neighbours @ values
    cardinality = np.diff(neighbours.indptr).astype(np.float64) + 1.0
    expected = cardinality / n
    total = values.sum()
    variance = values.var() if n else 0.0
    if n < 2 or total <= 0.0 or variance <= 0.0:
        return expected, np.zeros(n), neighbour_sums
    mean = total / n
    gi = (neighbour_sums + values) / total
    gi_variance = cardinality * (n - cardinality) / (n - 1) / n**2 * (variance / mean**2)
    gi_z = np.divide(gi - expected, np.sqrt(gi_variance), out=np.zeros(n), where=gi_variance > 0)
    return gi, gi_z, neighbour_sums


def _simulate(values: np.ndarray, neighbours: sp.csr_matrix, neighbour_sums: np.ndarray,
              permutations: int, seed: int) -> np.ndarray:
    counts = np.diff(neighbours.indptr)
    if values.size < 2 or values.var() <= 0.0:
        return np.ones(values.size)
    null = simulate_neighbour_sums(values, counts, permutations=permutations, seed=seed)
    at_least, at_most = count_extremes(null, neighbour_sums, counts)
    return pseudo_p_values(at_least, at_most, permutations)


def gi_star(values: np.ndarray, neighbours: sp.spmatrix, *, permutations: int = 999, seed: int) -> GiStar:
    """Compute Getis-Ord Gi* (binary weights, self included) with analytic and permutation inference.

    Parameters
    ----------
    values : array-like of float, shape (n,)
        Non-negative value (harm, count) of every cell of a zero-filled grid.
    neighbours : scipy.sparse matrix, shape (n, n)
        Binary, symmetric neighbour matrix without diagonal, e.g. from
        :func:`harmmap.geo.grid.cells_to_neighbours`; the cell itself is added here.
    permutations : int, default 999
        Random neighbourhoods for the pseudo p-values; 0 skips them (``gi_p_sim`` is NaN).
    seed : int
        Seed of the random generator (same seed, same ``gi_p_sim``).

    Returns
    -------
    GiStar

    Raises
    ------
    ConfigError
        For negative or non-finite values, a neighbour matrix of the wrong
        shape, weighted or with a diagonal, or a negative ``permutations``.
    """
    values = _check_values(values)
    matrix = _check_neighbours(neighbours, values.size)
    if isinstance(permutations, bool) or not isinstance(permutations, (int, np.integer)) or permutations < 0:
        raise ConfigError("permutations must be a whole number >= 0", given=repr(permutations),
                          fix="use 999 (the default) or 0 for the analytic test only")
    gi, gi_z, neighbour_sums = _analytic(values, matrix)
    gi_p = 2.0 * ndtr(-np.abs(gi_z))  # = 2 * norm.sf(|z|), without scipy.stats' overhead
    if permutations:
        gi_p_sim = _simulate(values, matrix, neighbour_sums, int(permutations), seed)
    else:
        gi_p_sim = np.full(values.size, np.nan)
    return GiStar(gi=gi, gi_z=gi_z, gi_p=gi_p, gi_p_sim=gi_p_sim, permutations=int(permutations), seed=seed)


def confidence_bins(gi_z: np.ndarray, p: np.ndarray, *, fdr: bool = False) -> np.ndarray:
    """Return ArcGIS-style ``Gi_Bin`` classes from -3 (cold, 99 %) to +3 (hot, 99 %).

    ``|bin|`` is 3 when ``p <= 0.01``, 2 when ``p <= 0.05``, 1 when
    ``p <= 0.10`` and 0 otherwise; the sign is the sign of ``gi_z``.  With
    ``fdr=True`` the p-values are first replaced by their Benjamini-Hochberg
    adjusted values, which is the same as running the BH procedure separately
    at 10 %, 5 % and 1 % (the rejected sets are nested), as ArcGIS's "Apply
    False Discovery Rate (FDR) Correction" does.

    Parameters
    ----------
    gi_z : array-like of float
        Gi* z-scores (only their sign is used).
    p : array-like of float
        The p-values to judge significance by: ``gi_p`` (two-sided, as ArcGIS)
        or ``gi_p_sim`` (one tail, as esda: the same thresholds are then about
        twice as permissive; pass ``numpy.minimum(2 * gi_p_sim, 1)`` for a
        two-sided reading).  NaN gives bin 0.
    fdr : bool, default False
        Apply the Benjamini-Hochberg false discovery rate correction.

    Returns
    -------
    numpy.ndarray of int8
    """
    gi_z = np.asarray(gi_z, dtype=np.float64)
    p = adjust_benjamini_hochberg(p) if fdr else np.asarray(p, dtype=np.float64)
    if gi_z.shape != p.shape:
        raise ConfigError("gi_z and p must have one value per cell each", given=f"{gi_z.shape} and {p.shape}",
                          fix="pass arrays from the same GiStar result")
    magnitude = np.zeros(p.shape, dtype=np.int8)
    for level, alpha in reversed(CONFIDENCE_LEVELS):
        magnitude[np.less_equal(p, alpha, where=~np.isnan(p), out=np.zeros(p.shape, dtype=bool))] = level
    sign = np.where(gi_z > 0, 1, np.where(gi_z < 0, -1, 0)).astype(np.int8)
    return magnitude * sign


def randomisation_p_values(values: np.ndarray, neighbours: sp.spmatrix, *, draws: int = 199_999,
                           seed: int) -> np.ndarray:
    """Two-sided Monte Carlo p-value of each cell's Gi* under total randomisation.

    The statistic is the harm of the cell and its neighbours (``W*`` cells);
    the null draws ``W*`` distinct cells of the grid at random ``draws``
    times (one shared null per neighbourhood size).  The p-value is
    ``min(1, 2 * (min(#null >= observed, #null <= observed) + 1) / (draws + 1))``,
    so it is comparable with the analytic two-sided ``gi_p``; its smallest
    possible value is ``2 / (draws + 1)``.

    Parameters
    ----------
    values : array-like of float, shape (n,)
        Non-negative value of every cell of a zero-filled grid.
    neighbours : scipy.sparse matrix, shape (n, n)
        Binary, symmetric, empty diagonal (the cell itself is added here).
    draws : int
        Random neighbourhoods per neighbourhood size.
    seed : int

    Returns
    -------
    numpy.ndarray of float64
        1 for every cell on a grid without variation.
    """
    values = _check_values(values)
    matrix = _check_neighbours(neighbours, values.size)
    if values.size < 2 or values.var() <= 0.0:
        return np.ones(values.size)
    sizes = np.diff(matrix.indptr).astype(np.int64) + 1
    observed = matrix @ values + values
    null = simulate_neighbour_sums(values, sizes, permutations=draws, seed=seed)
    at_least, at_most = count_extremes(null, observed, sizes)
    return np.minimum(1.0, 2.0 * pseudo_p_values(at_least, at_most, draws))
