"""How a place's harm changed: the last six months against the six before and a year before.

For analysts
------------
The six-monthly assessment compares each place's most recent half-year with

* the *previous* half-year (is it getting worse right now?), and
* the *same months a year earlier* (is it worse than last year, with the
  season held fixed? Retail crime is seasonal: the run-up to Christmas is
  not comparable with the spring before it).

Both are reported as harm totals and as a percentage change.  A change from
zero has no percentage (it is shown as NaN, "new"); a half-year that the data
do not fully cover is NaN too, never a partial sum.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from harmmap.errors import ConfigError


@dataclass(frozen=True, slots=True)
class Changes:
    """Harm of the latest half-year and of the two comparison half-years, per unit.

    Attributes
    ----------
    recent, previous, year_ago : numpy.ndarray of float
        Sums over the last ``span`` periods, the ``span`` before them, and the
        same periods a year earlier (NaN when the series is too short).
    change_previous_pct, change_year_pct : numpy.ndarray of float
        ``100 * (recent - base) / base``; NaN when ``base`` is 0 or missing.
    """

    recent: np.ndarray
    previous: np.ndarray
    year_ago: np.ndarray
    change_previous_pct: np.ndarray
    change_year_pct: np.ndarray


def _window_sum(series: np.ndarray, end: int, span: int) -> np.ndarray:
    """Sum of the ``span`` periods ending just before index ``end`` (NaN when they are not all there)."""
    if end - span < 0:
        return np.full(series.shape[0], np.nan)
    return series[:, end - span:end].sum(axis=1)


def _percent(recent: np.ndarray, base: np.ndarray) -> np.ndarray:
    valid = np.isfinite(base) & (base > 0) & np.isfinite(recent)
    return np.divide(100.0 * (recent - base), base, out=np.full(recent.shape, np.nan), where=valid)


def measure_changes(series: np.ndarray, *, span: int, year: int) -> Changes:
    """Compare the last ``span`` periods with the ``span`` before and the same periods ``year`` earlier.

    Parameters
    ----------
    series : numpy.ndarray of float, shape (n_units, n_periods)
        Harm per unit and period, oldest first.
    span : int
        Periods in a half-year (6 for months, 2 for quarters, 1 for halves).
    year : int
        Periods in a year (12, 4, 2).

    Returns
    -------
    Changes
    """
    series = np.asarray(series, dtype=np.float64)
    if series.ndim != 2:
        raise ConfigError("series must be a (units x periods) array", given=f"shape {series.shape}")
    if span < 1 or year < span:
        raise ConfigError("span must be at least 1 and no longer than a year", given=f"span={span}, year={year}")
    end = series.shape[1]
    recent = _window_sum(series, end, span)
    previous = _window_sum(series, end - span, span)
    year_ago = _window_sum(series, end - year, span)
    return Changes(recent, previous, year_ago, _percent(recent, previous), _percent(recent, year_ago))
