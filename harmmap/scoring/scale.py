"""Automatic neighbourhood size: the k-ring at which harm clusters most distinctly.

For analysts
------------
Hotspot statistics need a neighbourhood: with H3 cells, "the cell and its
``k`` rings" (k = 1 is the 6 touching cells, k = 2 adds the next 12, ...).
Too small and a hotspot is just one busy corner; too large and distinct
hotspots blur into one.  ArcGIS's Incremental Spatial Autocorrelation tool
answers this by running global Moran's I at a series of increasing distances
and looking at the z-score: it usually rises with distance and then peaks
where "the spatial processes promoting clustering are most pronounced";
Optimized Hot Spot Analysis then uses the first statistically significant
peak as its scale of analysis.

harmmap does the same with k-rings instead of distances:

1. for every candidate ``k`` (default 1..5) compute global Moran's I of the
   cell values with row-standardised k-ring weights, and its z-score under
   randomisation (analytic: no permutations, so it is fast);
2. a *peak* is a candidate whose z is larger than the z of the candidates on
   both sides (the first and last candidates cannot be peaks: their other side
   is unknown); it is *significant* when ``z > z_critical`` (1.96 for the
   default ``alpha = 0.05``, one direction: clustering);
3. choose the first significant peak; if there is none, the ``k`` with the
   largest significant z ("no peak"); if no ``k`` shows significant clustering
   at all, fall back to ``fallback_k`` (default 1, the touching cells), and say so.

The choice and the reason are returned as text for the run's log and metadata.

References
----------
Esri, "How Incremental Spatial Autocorrelation works" and "Incremental Spatial
Autocorrelation" tool reference ("often this is the first statistically
significant peak"), ArcGIS Pro documentation,
https://pro.arcgis.com/en/pro-app/latest/tool-reference/spatial-statistics/incremental-spatial-autocorrelation.htm
Esri, "How Optimized Hot Spot Analysis works" (scale of analysis), ArcGIS Pro documentation.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.stats import norm

from harmmap.errors import ConfigError
from harmmap.geo.grid import cells_to_neighbours
from harmmap.scoring.moran import global_moran


@dataclass(frozen=True, slots=True)
class ScaleCandidate:
    """Global Moran's I of the values with k-ring neighbours."""

    k: int
    moran_i: float
    moran_z: float
    moran_p: float


@dataclass(frozen=True, slots=True)
class ScaleChoice:
    """The chosen neighbourhood and why.

    Attributes
    ----------
    k : int
        Chosen number of H3 rings.
    table : tuple of ScaleCandidate
        Every candidate in the order tried.
    rule : str
        ``"first_peak"``, ``"largest_z"`` or ``"fallback"``.
    reason : str
        One sentence for the log, e.g. "first significant peak of global Moran's I z-score at k=2 (z=14.2)".
    """

    k: int
    table: tuple[ScaleCandidate, ...]
    rule: str
    reason: str


def _check_candidates(ks) -> tuple[int, ...]:
    ks = tuple(ks)
    valid = all(isinstance(k, (int, np.integer)) and not isinstance(k, bool) and k >= 1 for k in ks)
    if not ks or not valid or list(ks) != sorted(set(ks)):
        raise ConfigError("candidate neighbourhoods must be distinct whole numbers >= 1 in increasing order",
                          given=repr(ks), fix="use e.g. ks=(1, 2, 3, 4, 5)")
    return tuple(int(k) for k in ks)


def _measure(cells: np.ndarray, values: np.ndarray, k: int) -> ScaleCandidate:
    neighbours = cells_to_neighbours(cells, k)
    if neighbours.nnz == 0:
        return ScaleCandidate(k, float("nan"), 0.0, 1.0)
    moran = global_moran(values, neighbours, permutations=0, seed=0)
    return ScaleCandidate(k, moran.moran_i, moran.moran_z, moran.moran_p)


def find_peaks(z: np.ndarray) -> np.ndarray:
    """Return the indices of interior strict local maxima of ``z`` (first and last never count)."""
    z = np.asarray(z, dtype=np.float64)
    if z.size < 3:
        return np.empty(0, dtype=np.int64)
    inner = (z[1:-1] > z[:-2]) & (z[1:-1] > z[2:])
    return np.flatnonzero(inner) + 1


def choose_neighbourhood(cells: np.ndarray, values: np.ndarray, *, ks=(1, 2, 3, 4, 5),
                         alpha: float = 0.05, fallback_k: int = 1) -> ScaleChoice:
    """Choose the k-ring neighbourhood from incremental spatial autocorrelation.

    Parameters
    ----------
    cells : numpy.ndarray of uint64
        Sorted unique H3 cells of the zero-filled study grid.
    values : array-like of float
        Value (harm) of each cell, in the order of ``cells``.
    ks : sequence of int
        Candidate numbers of rings, increasing.
    alpha : float
        Significance level of a peak (z must exceed the two-sided critical value, 1.96 at 0.05).
    fallback_k : int
        Used when no candidate shows significant clustering.

    Returns
    -------
    ScaleChoice
    """
    ks = _check_candidates(ks)
    cells = np.asarray(cells, dtype=np.uint64)
    values = np.asarray(values, dtype=np.float64)
    if values.shape != cells.shape:
        raise ConfigError("values must have one entry per cell", given=f"{values.size} values, {cells.size} cells",
                          fix="pass the zero-filled grid and its values in the same order")
    if not 0.0 < float(alpha) < 1.0:
        raise ConfigError("alpha must be strictly between 0 and 1", given=repr(alpha), fix="use alpha=0.05")
    if cells.size < 4:
        return ScaleChoice(fallback_k, (), "fallback",
                           f"only {cells.size} cells: too few to measure clustering; using k={fallback_k}")
    table = tuple(_measure(cells, values, k) for k in ks)
    z = np.array([row.moran_z for row in table])
    critical = float(norm.isf(alpha / 2))
    significant = z > critical
    peaks = [i for i in find_peaks(z) if significant[i]]
    if peaks:
        row = table[peaks[0]]
        return ScaleChoice(row.k, table, "first_peak", f"first significant peak of global Moran's I z-score "
                           f"at k={row.k} (z={row.moran_z:.2f}, I={row.moran_i:.3f})")
    if significant.any():
        row = table[int(np.argmax(np.where(significant, z, -np.inf)))]
        return ScaleChoice(row.k, table, "largest_z", f"no peak of global Moran's I z-score among k={list(ks)}: "
                           f"largest z at k={row.k} (z={row.moran_z:.2f}, I={row.moran_i:.3f})")
    best = table[int(np.argmax(z))]
    return ScaleChoice(fallback_k, table, "fallback",
                       f"no significant clustering at any k={list(ks)} (largest z={best.moran_z:.2f} at "
                       f"k={best.k}, needs > {critical:.2f}); using the default k={fallback_k}")
