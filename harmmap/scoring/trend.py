"""Mann-Kendall trend test and Sen's slope, for many series at once.

For analysts
------------
The **Mann-Kendall test** asks whether a series (one cell's Gi* z-score per
month, one place's harm per month) tends to go up or down over time, without
assuming the change is a straight line or the values are normally
distributed.  It looks at every pair of periods ``i < j`` and scores ``+1``
when the later value is higher, ``-1`` when it is lower and ``0`` when they
are equal::

    S = sum over i < j of sign(x_j - x_i)

A series that only rises has ``S = n(n-1)/2`` (every pair +1); pure noise
gives ``S`` near 0.  ``tau = S / (n(n-1)/2)`` rescales ``S`` to -1..+1 (this
is Kendall's tau-a between the values and time, as pymannkendall's ``Tau``).

If there were no trend, ``S`` would be roughly normal with mean 0 and
variance ``n(n-1)(2n+5)/18``.  **Tie correction**: equal values make ``S``
less variable, so each group of ``t`` equal values removes
``t(t-1)(2t+5)`` from the numerator::

    var_s = [n(n-1)(2n+5) - sum over tie groups of t(t-1)(2t+5)] / 18

Values count as tied only when exactly equal (as pymannkendall).  **Continuity
correction**: ``S`` moves in steps of 2, so one unit is taken off its size
before standardising: ``z = (S - 1) / sqrt(var_s)`` when ``S > 0``,
``(S + 1) / sqrt(var_s)`` when ``S < 0`` and 0 when ``S = 0`` (or when every
value is equal, ``var_s = 0``).  ``p`` is the two-sided normal p-value and
``trend`` is +1 (increasing) or -1 (decreasing) when ``p < alpha``, else 0.

At least 3 periods are required, as R's ``trend::mk.test`` (Pohlert) requires:
with 2 the continuity-corrected z is always 0, so the test could never find
anything.  Note that even 4 periods can never reach p < 0.05 (the smallest
possible p is 0.090); 5 can (p = 0.028 for a strictly monotone series).

**Sen's slope** (Theil-Sen estimator) measures *how fast* the series
changes: the median over all pairs ``i < j`` of ``(x_j - x_i) / (j - i)``,
in units of the series per period.  Being a median it ignores a few wild
months.  The intercept follows pymannkendall (Conover 1980):
``median(x) - median(t) * slope`` with ``t = 0 .. n-1``, so the line
``intercept + slope * t`` passes through the medians.

Both functions take one series per row (time along the last axis), work in
chunks with a time-major buffer and never loop in Python over the series:
3 million 36-month series take a couple of seconds.

References
----------
Mann, H. B. (1945). Nonparametric tests against trend. Econometrica 13(3), 245-259.
Kendall, M. G. (1975). Rank Correlation Methods, 4th edition. London: Charles Griffin.
Sen, P. K. (1968). Estimates of the regression coefficient based on Kendall's tau.
Journal of the American Statistical Association 63(324), 1379-1389.
Hussain, M. M. and Mahmud, I. (2019). pyMannKendall: a python package for non
parametric Mann Kendall family of trend tests. Journal of Open Source Software
4(39), 1556. https://doi.org/10.21105/joss.01556
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import ndtr

from harmmap.errors import ConfigError

#: Fewest periods a series may have (as R's trend::mk.test).
MIN_PERIODS = 3
#: Series per chunk of the Mann-Kendall pass (fastest measured; time-major buffer of ~5 MB at 36 periods).
MANN_KENDALL_CHUNK = 16_384
#: Series per chunk of the Sen's slope pass (n(n-1)/2 slopes each).
SENS_SLOPE_CHUNK = 4_096


@dataclass(frozen=True, slots=True)
class MannKendall:
    """Mann-Kendall trend test of every series (arrays of shape (n_series,)).

    Attributes
    ----------
    s : numpy.ndarray of int64
        Mann-Kendall score ``S`` (concordant minus discordant pairs with time).
    var_s : numpy.ndarray of float64
        Tie-corrected variance of ``S`` under no trend.
    z : numpy.ndarray of float64
        Continuity-corrected standard score (0 when ``S = 0`` or ``var_s = 0``).
    p : numpy.ndarray of float64
        Two-sided normal p-value of ``z``.
    tau : numpy.ndarray of float64
        ``S / (n(n-1)/2)``: Kendall's tau-a, pymannkendall's ``Tau``.
    trend : numpy.ndarray of int8
        +1 increasing, -1 decreasing (``p < alpha``), 0 no trend.
    alpha : float
        Significance level used for ``trend``.
    """

    s: np.ndarray
    var_s: np.ndarray
    z: np.ndarray
    p: np.ndarray
    tau: np.ndarray
    trend: np.ndarray
    alpha: float


@dataclass(frozen=True, slots=True)
class SensSlope:
    """Theil-Sen slope and Conover intercept of every series (arrays of shape (n_series,)).

    Attributes
    ----------
    slope : numpy.ndarray of float64
        Median of ``(x_j - x_i) / (j - i)`` over all pairs ``i < j``, per period.
    intercept : numpy.ndarray of float64
        ``median(x) - (n - 1) / 2 * slope``: the line's value at period 0.
    """

    slope: np.ndarray
    intercept: np.ndarray


def _check_series(series: object) -> np.ndarray:
    x = np.asarray(series, dtype=np.float64)
    if x.ndim == 1:
        x = x[np.newaxis, :]
    if x.ndim != 2:
        raise ConfigError("series must be one series (1-D) or one series per row (2-D, time along the last axis)",
                          given=f"shape {x.shape}", fix="reshape to (n_series, n_periods)")
    if x.shape[1] < MIN_PERIODS:
        raise ConfigError(f"a trend needs at least {MIN_PERIODS} periods per series",
                          given=f"{x.shape[1]} periods (shape {x.shape})",
                          fix="use a longer window; with 2 periods the Mann-Kendall z is always 0")
    return x


def _raise_not_finite(x: np.ndarray, start: int) -> None:
    row = start + int(np.flatnonzero(~np.isfinite(x).all(axis=1))[0])
    raise ConfigError("series values must be finite (no NaN or infinity)",
                      given=f"row {row}: {x[row - start].tolist()[:12]}",
                      fix="fill periods without data (e.g. with 0 or the Gi* z of an empty bin) or drop the series")


def _check_alpha(alpha: float) -> float:
    if isinstance(alpha, bool) or not isinstance(alpha, (int, float, np.floating)) or not 0.0 < alpha < 1.0:
        raise ConfigError("alpha must be a probability strictly between 0 and 1", given=repr(alpha),
                          fix="use e.g. 0.05")
    return float(alpha)


def _smallest_int(largest: int) -> type:
    for dtype in (np.int8, np.int16, np.int32):
        if largest <= np.iinfo(dtype).max:
            return dtype
    return np.int64


def _fill_time_major(buffer: np.ndarray, x: np.ndarray, block: int = 1024) -> None:
    """Copy rows ``x`` (m, T) into ``buffer`` (T, m), in cache-sized blocks."""
    for start in range(0, x.shape[0], block):
        np.copyto(buffer[:, start:start + block], x[start:start + block].T)


def _score_chunk(xt: np.ndarray, greater: np.ndarray, equal: np.ndarray, scratch: np.ndarray) -> tuple:
    """Return (#pairs i<j with x_j > x_i, per-element count of other equal elements) for (T, m) ``xt``.

    ``greater`` (m,) and ``equal`` (T, m) are zeroed accumulators; ``scratch`` a (T, m) bool buffer.
    """
    n = xt.shape[0]
    for i in range(n - 1):
        later = xt[i + 1:]
        flags = scratch[:n - 1 - i]
        np.greater(later, xt[i], out=flags)
        greater += flags.sum(axis=0, dtype=greater.dtype)
        np.equal(later, xt[i], out=flags)
        equal[i] += flags.sum(axis=0, dtype=equal.dtype)
        equal[i + 1:] += flags
    return greater, equal


def _score_and_ties(x: np.ndarray, chunk: int) -> tuple[np.ndarray, np.ndarray]:
    """Return S and the tie term ``sum_t t(t-1)(2t+5)`` of every row of ``x`` (n_series, T).

    With ``e_k`` the number of *other* elements equal to element ``k``, a tie
    group of size ``t`` has ``e_k = t - 1`` for each of its ``t`` members, so
    ``sum_k (2 e_k^2 + 7 e_k) = sum_t t(t-1)(2t+5)``; ``sum_k e_k / 2`` is the
    number of tied pairs, hence ``S = 2 * greater + tied - n(n-1)/2``.
    """
    n_series, n = x.shape
    pairs = n * (n - 1) // 2
    s = np.empty(n_series, np.int64)
    ties = np.empty(n_series, np.int64)
    buffer = np.empty((n, min(chunk, n_series)))
    scratch = np.empty(buffer.shape, bool)
    equal_dtype, greater_dtype = _smallest_int(n - 1), _smallest_int(pairs)
    for start in range(0, n_series, chunk):
        rows = x[start:start + chunk]
        m = rows.shape[0]
        xt = buffer[:, :m]
        _fill_time_major(xt, rows)
        if not np.isfinite(xt).all():
            _raise_not_finite(rows, start)
        greater, equal = _score_chunk(xt, np.zeros(m, greater_dtype), np.zeros((n, m), equal_dtype),
                                      scratch[:, :m])
        equal = equal.astype(np.int64)
        equal_total = equal.sum(axis=0)
        ties[start:start + m] = 2 * np.einsum("ij,ij->j", equal, equal) + 7 * equal_total
        s[start:start + m] = 2 * greater.astype(np.int64) + equal_total // 2 - pairs
    return s, ties


def mann_kendall(series: object, *, alpha: float = 0.05, chunk: int = MANN_KENDALL_CHUNK) -> MannKendall:
    """Run the Mann-Kendall trend test on every series (tie- and continuity-corrected).

    Parameters
    ----------
    series : array-like of float, shape (n_periods,) or (n_series, n_periods)
        One series per row, oldest period first; finite values only.
    alpha : float, default 0.05
        Significance level for ``trend`` (two-sided, ``p < alpha``).
    chunk : int, default MANN_KENDALL_CHUNK
        Series processed at once (memory ~ ``n_periods * chunk * 10`` bytes).

    Returns
    -------
    MannKendall
        Arrays of shape (n_series,); a 1-D input gives arrays of shape (1,).

    Raises
    ------
    ConfigError
        For a shape other than 1-D/2-D, fewer than 3 periods, a NaN or infinite
        value (the message names the row), or ``alpha`` outside (0, 1).

    Examples
    --------
    >>> result = mann_kendall([1.0, 2.0, 3.0, 4.0, 5.0])
    >>> int(result.s[0]), round(float(result.var_s[0]), 4), round(float(result.z[0]), 4), int(result.trend[0])
    (10, 16.6667, 2.2045, 1)
    """
    alpha = _check_alpha(alpha)
    if isinstance(chunk, bool) or not isinstance(chunk, (int, np.integer)) or chunk < 1:
        raise ConfigError("chunk must be a positive whole number", given=repr(chunk))
    x = _check_series(series)
    n = x.shape[1]
    s, ties = _score_and_ties(x, int(chunk))
    var_s = (n * (n - 1) * (2 * n + 5) - ties) / 18.0
    numerator = (s - np.sign(s)).astype(np.float64)
    z = np.divide(numerator, np.sqrt(var_s), out=np.zeros(s.shape), where=var_s > 0)
    p = 2.0 * ndtr(-np.abs(z))
    trend = np.where(p < alpha, np.sign(z), 0.0).astype(np.int8)
    tau = s / (n * (n - 1) / 2.0)
    return MannKendall(s=s, var_s=var_s, z=z, p=p, tau=tau, trend=trend, alpha=alpha)


def _pair_slopes(rows: np.ndarray, out: np.ndarray) -> np.ndarray:
    """Fill ``out`` (m, n(n-1)/2) with ``(x_j - x_i) / (j - i)`` for every pair, lag by lag."""
    n = rows.shape[1]
    offset = 0
    for lag in range(1, n):
        width = n - lag
        block = out[:, offset:offset + width]
        np.subtract(rows[:, lag:], rows[:, :-lag], out=block)
        block /= lag
        offset += width
    return out


def sens_slope(series: object, *, chunk: int = SENS_SLOPE_CHUNK) -> SensSlope:
    """Estimate Sen's (Theil-Sen) slope and the Conover intercept of every series.

    Parameters
    ----------
    series : array-like of float, shape (n_periods,) or (n_series, n_periods)
        One series per row, oldest period first; finite values only.
    chunk : int, default SENS_SLOPE_CHUNK
        Series processed at once (memory ~ ``n_periods^2 / 2 * chunk * 8`` bytes).

    Returns
    -------
    SensSlope
        Arrays of shape (n_series,), as ``pymannkendall.sens_slope`` per row.

    Raises
    ------
    ConfigError
        For a shape other than 1-D/2-D, fewer than 3 periods or a NaN/infinite value.

    Examples
    --------
    >>> result = sens_slope([1.0, 3.0, 2.0, 4.0])
    >>> float(result.slope[0]), float(result.intercept[0])
    (0.75, 1.375)
    """
    if isinstance(chunk, bool) or not isinstance(chunk, (int, np.integer)) or chunk < 1:
        raise ConfigError("chunk must be a positive whole number", given=repr(chunk))
    x = _check_series(series)
    n_series, n = x.shape
    slope = np.empty(n_series)
    median_x = np.empty(n_series)
    out = np.empty((min(int(chunk), n_series), n * (n - 1) // 2))
    for start in range(0, n_series, int(chunk)):
        rows = x[start:start + int(chunk)]
        if not np.isfinite(rows).all():
            _raise_not_finite(rows, start)
        m = rows.shape[0]
        slope[start:start + m] = np.median(_pair_slopes(rows, out[:m]), axis=1)
        median_x[start:start + m] = np.median(rows, axis=1)
    intercept = median_x - (n - 1) / 2.0 * slope
    return SensSlope(slope=slope, intercept=intercept)
