"""False discovery rate: Benjamini-Hochberg adjusted p-values.

For analysts
------------
A hotspot map tests every cell at once.  With 10,000 cells and a 5 % test,
about 500 cells look "significant" by chance alone even when nothing is
going on.  The Benjamini-Hochberg procedure controls the *false discovery
rate* instead: among the cells it calls significant, the expected share of
false alarms is at most ``alpha``.  It is what ArcGIS applies when you tick
"Apply False Discovery Rate (FDR) Correction" in Hot Spot Analysis and what
Optimized Hot Spot Analysis always applies.

The procedure sorts the ``m`` p-values, ``p(1) <= ... <= p(m)``, finds the
largest ``k`` with ``p(k) <= k / m * alpha`` and rejects the ``k`` smallest.
Equivalently each p-value gets an *adjusted* p-value (a "q-value")
``q(i) = min over j >= i of (m / j * p(j))``, capped at 1, and a cell is
significant at FDR level ``alpha`` when ``q <= alpha``.  Adjusted p-values
let one array answer the question for every level (90, 95, 99 %).

Missing p-values (NaN, e.g. cells that were not tested) stay NaN, are never
rejected and do not count in ``m``.

Reference
---------
Benjamini, Y. and Hochberg, Y. (1995). Controlling the false discovery rate:
a practical and powerful approach to multiple testing. Journal of the Royal
Statistical Society, Series B 57(1), 289-300.
"""

from __future__ import annotations

import numpy as np

from harmmap.errors import ConfigError


def _check_p_values(p: np.ndarray) -> np.ndarray:
    p = np.asarray(p, dtype=np.float64)
    if p.ndim != 1:
        raise ConfigError("p-values must be a one-dimensional array", given=f"shape {p.shape}",
                          fix="pass one p-value per cell")
    finite = p[~np.isnan(p)]
    if finite.size and (finite.min() < 0.0 or finite.max() > 1.0):
        raise ConfigError("p-values must lie between 0 and 1", given=f"range {finite.min()!r} .. {finite.max()!r}",
                          fix="pass probabilities, not z-scores or percentages")
    return p


def adjust_benjamini_hochberg(p: np.ndarray) -> np.ndarray:
    """Return Benjamini-Hochberg adjusted p-values (step-up, monotone, capped at 1).

    Parameters
    ----------
    p : array-like of float
        One p-value per test, each in [0, 1]; NaN marks a test not carried out.

    Returns
    -------
    numpy.ndarray of float
        ``q`` in the input order: ``q >= p``, ``q`` increases with ``p``, NaN
        where ``p`` is NaN.  ``m`` counts the non-NaN p-values only.

    Raises
    ------
    ConfigError
        When ``p`` is not one-dimensional or has values outside [0, 1].

    Examples
    --------
    >>> adjust_benjamini_hochberg([0.01, 0.04, 0.03, 0.5]).round(3).tolist()
    [0.04, 0.053, 0.053, 0.5]
    """
    p = _check_p_values(p)
    q = np.full(p.shape, np.nan)
    tested = np.flatnonzero(~np.isnan(p))
    m = tested.size
    if m == 0:
        return q
    order = tested[np.argsort(p[tested], kind="stable")]
    scaled = p[order] * (m / np.arange(1, m + 1))  # m / k >= 1 exactly, so q >= p survives rounding
    stepped_up = np.minimum.accumulate(scaled[::-1])[::-1]
    q[order] = np.minimum(stepped_up, 1.0)
    return q


def reject_benjamini_hochberg(p: np.ndarray, alpha: float) -> np.ndarray:
    """Return which tests Benjamini-Hochberg rejects at false discovery rate ``alpha``.

    Parameters
    ----------
    p : array-like of float
        p-values in [0, 1]; NaN is never rejected.
    alpha : float
        Target false discovery rate, strictly between 0 and 1 (e.g. 0.05).

    Returns
    -------
    numpy.ndarray of bool
        True where the adjusted p-value is ``<= alpha`` (the largest ``k`` with
        ``p(k) <= k / m * alpha`` and every smaller p-value).
    """
    if isinstance(alpha, bool) or not isinstance(alpha, (int, float, np.floating)) or not 0.0 < float(alpha) < 1.0:
        raise ConfigError("alpha must be a number strictly between 0 and 1", given=repr(alpha),
                          fix="use e.g. alpha=0.05 (95 % confidence)")
    p = _check_p_values(p)
    tested = ~np.isnan(p)
    # Only p-values <= alpha can be rejected, and their ranks among all m tests are their ranks
    # among themselves: sorting just those keeps this fast on cubes of 10^8 bins.
    candidates = np.flatnonzero(np.less_equal(p, alpha, where=tested, out=np.zeros(p.shape, dtype=bool)))
    threshold = benjamini_hochberg_threshold(np.sort(p[candidates]), int(tested.sum()), float(alpha))
    rejected = np.zeros(p.shape, dtype=bool)
    rejected[candidates] = p[candidates] <= threshold
    return rejected


def benjamini_hochberg_threshold(ascending: np.ndarray, m: int, alpha: float) -> float:
    """Return the largest p-value Benjamini-Hochberg rejects at ``alpha``, or -1 when it rejects none.

    Parameters
    ----------
    ascending : numpy.ndarray of float
        The smallest p-values of the family, sorted ascending: at least every
        p-value <= ``alpha`` (larger ones can never be rejected).
    m : int
        Number of tests in the whole family.
    alpha : float
        False discovery rate.

    Returns
    -------
    float
        ``p(k)`` for the largest ``k`` with ``p(k) <= k / m * alpha``; reject every ``p <= p(k)``.
    """
    passes = np.flatnonzero(ascending * m <= alpha * np.arange(1, ascending.size + 1))
    return float(ascending[passes[-1]]) if passes.size else -1.0
