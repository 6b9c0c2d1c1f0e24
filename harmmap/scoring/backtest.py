"""Rolling-origin backtest: how each forecaster would have done in the past.

What it does, for analysts
--------------------------
Pretend it is an earlier month (the *origin*), forecast the next ``horizon``
months from the data before it only, and score the forecast against what then
happened (hit rate, PAI, PEI, PEI*, RRI at 1 %, 5 % and 10 % of the area; see
:mod:`harmmap.scoring.accuracy`).  Move the origin on by ``step`` months and
repeat (Tashman 2000, "Out-of-sample tests of forecasting accuracy",
*International Journal of Forecasting* 16:437-450).  With 35 months, 12 months
of minimum training and a 6-month horizon that gives 18 windows.

* **No leakage.**  The forecaster for the window at origin ``o`` sees only
  months ``0 .. o-1``; the test is months ``o .. o+horizon-1``.  RRI's period 1
  is the whole training window.
* **Counts and harm.**  Count-weighted scores rank by a forecast fitted on
  the count history and score against counts; harm-weighted scores fit on the
  harm history and score against harm.
* **Mean and 95 % interval across windows.**  When ``step < horizon`` the test
  periods of neighbouring windows overlap, so their scores are correlated and
  an ordinary t-interval would be too narrow.  We use a t-interval whose
  standard error is the Newey-West (Bartlett-kernel) long-run estimate with
  ``ceil(horizon / step) - 1`` lags - the number of neighbouring windows
  sharing a test month - as Diebold & Mariano (1995, *Journal of Business &
  Economic Statistics* 13:253-263) do for overlapping h-step forecasts.  With
  18 windows this is approximate; read the interval as a guide, not a test of
  record.  Windows where a score is undefined (NaN) are left out.
* **Against the baseline.**  :func:`compare_to_baseline` pairs a model with
  the baseline window by window and gives the mean difference and its
  interval (same method); the model *beats* the baseline when the whole
  interval is above zero.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from harmmap.errors import ConfigError, SchemaError
from harmmap.scoring.accuracy import DEFAULT_COVERAGES, measure_accuracy
from harmmap.scoring.forecast import FORECASTERS, check_history, check_horizon, forecast

WINDOW_COLUMNS = ("origin", "train_end", "method", "weighting", "coverage", "metric", "value")
SUMMARY_COLUMNS = ("method", "weighting", "coverage", "metric", "mean", "low", "high", "windows")


@dataclass(frozen=True, slots=True)
class Backtest:
    """Scores of every window and their summary.

    Attributes
    ----------
    windows : pandas.DataFrame
        One row per origin, method, weighting, coverage and metric: columns
        ``origin`` (index of the first test period), ``train_end`` (index of
        the last training period), ``method``, ``weighting`` ("count" or
        "harm"), ``coverage``, ``metric``, ``value``.
    summary : pandas.DataFrame
        ``method``, ``weighting``, ``coverage``, ``metric``, ``mean``,
        ``low``, ``high`` (95 % interval), ``windows`` (number used).
    horizon, step : int
    origins : tuple of int
    """

    windows: pd.DataFrame
    summary: pd.DataFrame
    horizon: int
    step: int
    origins: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class Comparison:
    """A model against the baseline on one score, paired over windows."""

    method: str
    baseline: str
    metric: str
    coverage: float
    weighting: str
    method_mean: float
    method_low: float
    method_high: float
    baseline_mean: float
    baseline_low: float
    baseline_high: float
    difference_mean: float
    difference_low: float
    difference_high: float
    windows: int
    beats_baseline: bool


def summarise_windows(values: np.ndarray, lags: int) -> tuple[float, float, float, int]:
    """Mean and 95 % t-interval with a Newey-West (Bartlett) standard error.

    Parameters
    ----------
    values : numpy.ndarray
        One score per window, in origin order; NaN are dropped.
    lags : int
        Autocovariance lags to include (0 = ordinary t-interval).

    Returns
    -------
    (mean, low, high, n)
    """
    v = np.asarray(values, dtype=np.float64)
    v = v[np.isfinite(v)]
    n = v.size
    if n == 0:
        return math.nan, math.nan, math.nan, 0
    mean = float(v.mean())
    if n == 1:
        return mean, math.nan, math.nan, 1
    d = v - mean
    variance = float(d @ d) / n
    for k in range(1, min(lags, n - 1) + 1):
        variance += 2.0 * (1.0 - k / (lags + 1)) * float(d[k:] @ d[:-k]) / n
    half = stats.t.ppf(0.975, n - 1) * math.sqrt(max(variance, 0.0) * n / (n - 1) / n)
    return mean, float(mean - half), float(mean + half), n


def _check_origins(origins, n_periods: int, horizon: int, min_train: int, step: int) -> tuple[int, ...]:
    for name, value, low in (("min_train", min_train, 1), ("step", step, 1)):
        if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < low:
            raise ConfigError(f"{name} must be a whole number >= {low}", given=repr(value), fix=f"pass e.g. {name}=12")
    if origins is None:
        origins = range(int(min_train), n_periods - horizon + 1, int(step))
    origins = tuple(int(o) for o in origins)
    bad = [o for o in origins if not 1 <= o <= n_periods - horizon]
    if bad or not origins:
        raise ConfigError("no usable backtest windows: each origin needs >= 1 training period and a full test period",
                          given=f"origins {bad or '[]'} with {n_periods} periods and horizon {horizon}",
                          fix="use more periods, a shorter horizon or a smaller min_train")
    return origins


def _check_methods(methods: Sequence[str], params: Mapping | None) -> dict:
    unknown = [m for m in methods if m not in FORECASTERS]
    if unknown or not methods:
        raise ConfigError("unknown or no forecast methods", given=repr(list(methods)),
                          fix=f"choose from {sorted(FORECASTERS)}")
    params = dict(params or {})
    stray = sorted(set(params) - set(methods))
    if stray:
        raise ConfigError("params given for methods not being backtested", given=", ".join(stray),
                          fix="key params by the names in methods")
    return params


def _score_window(matrices: dict, origin: int, horizon: int, methods, rings, coverages, area, params) -> list:
    rows = []
    for weighting, matrix in matrices.items():
        train = matrix[:, :origin]
        actual = matrix[:, origin:origin + horizon].sum(axis=1)
        previous = train.sum(axis=1)
        for method in methods:
            predicted = forecast(train, method, horizon=horizon, rings=rings, **params.get(method, {}))
            table = measure_accuracy(predicted, actual, coverages=coverages, area=area, previous=previous).to_frame()
            for coverage, metric, value in table.itertuples(index=False):
                rows.append((origin, origin - 1, method, weighting, coverage, metric, value))
    return rows


def backtest(counts: np.ndarray, harm: np.ndarray | None, *, methods: Sequence[str], horizon: int = 6,
             min_train: int = 12, step: int = 1, origins: Sequence[int] | None = None, rings: Sequence = (),
             coverages: Sequence[float] = DEFAULT_COVERAGES, params: Mapping[str, Mapping] | None = None,
             area: np.ndarray | None = None) -> Backtest:
    """Run a rolling-origin backtest of several forecasters.

    Parameters
    ----------
    counts : numpy.ndarray, shape (n_units, n_periods)
        Incident counts per unit and period, oldest first.
    harm : numpy.ndarray or None
        Harm per unit and period, same shape; ``None`` scores counts only.
    methods : sequence of str
        Names in :data:`harmmap.scoring.forecast.FORECASTERS`.
    horizon : int
        Test-period length (periods).
    min_train : int
        Training periods before the first origin.
    step : int
        Periods between origins.
    origins : sequence of int, optional
        Explicit origins (index of the first test period); overrides
        ``min_train`` and ``step``.
    rings : sequence of scipy.sparse matrices
        Spatial rings for the spatial models (``()`` for places).
    coverages : sequence of float
        Shares of the area to flag.
    params : mapping, optional
        ``{method: {setting: value}}`` passed to the forecasters.
    area : numpy.ndarray, optional
        Unit areas for the accuracy measures (``None`` = equal).

    Returns
    -------
    Backtest
    """
    counts, horizon = check_history(counts), check_horizon(horizon)
    matrices = {"count": counts}
    if harm is not None:
        harm = check_history(harm)
        if harm.shape != counts.shape:
            raise SchemaError("counts and harm must have the same shape", given=f"{counts.shape} and {harm.shape}",
                              fix="build both from the same units and periods")
        matrices["harm"] = harm
    methods = tuple(methods)
    params = _check_methods(methods, params)
    origins = _check_origins(origins, counts.shape[1], horizon, min_train, step)
    rows = []
    for origin in origins:
        rows.extend(_score_window(matrices, origin, horizon, methods, rings, coverages, area, params))
    windows = pd.DataFrame(rows, columns=list(WINDOW_COLUMNS))
    lags = _overlap_lags(horizon, origins)
    summary = [(*key, *summarise_windows(group.sort_values("origin")["value"].to_numpy(), lags))
               for key, group in windows.groupby(["method", "weighting", "coverage", "metric"], sort=False)]
    step_used = origins[1] - origins[0] if len(origins) > 1 else int(step)
    return Backtest(windows, pd.DataFrame(summary, columns=list(SUMMARY_COLUMNS)), horizon, step_used, origins)


def _overlap_lags(horizon: int, origins: tuple[int, ...]) -> int:
    """Number of neighbouring windows whose test periods overlap (from the smallest gap between origins)."""
    if len(origins) < 2:
        return 0
    gap = max(1, int(np.min(np.diff(sorted(origins)))))
    return max(0, math.ceil(horizon / gap) - 1)


def compare_to_baseline(result: Backtest, method: str, baseline: str = "previous", *, metric: str = "pai",
                        coverage: float = 0.05, weighting: str = "harm") -> Comparison:
    """Compare a model with the baseline on one score, paired window by window.

    Parameters
    ----------
    result : Backtest
        Needs the per-window scores (a summary alone cannot be paired).
    method, baseline : str
    metric : str
        One of "hit_rate", "pai", "pei", "pei_star", "rri".
    coverage : float
    weighting : {"count", "harm"}

    Returns
    -------
    Comparison
        Means and intervals over the windows where both scores exist, the
        paired difference (method minus baseline) and ``beats_baseline``
        (its whole 95 % interval is above 0).
    """
    w = result.windows
    chosen = w[(w["metric"] == metric) & (w["weighting"] == weighting) & np.isclose(w["coverage"], coverage)]
    for name in (method, baseline):
        if not (chosen["method"] == name).any():
            raise ConfigError("no backtest scores for this method, metric, coverage and weighting",
                              given=f"{name}, {metric}, {coverage}, {weighting}",
                              fix="check the names against result.summary")
    wide = chosen.pivot_table(index="origin", columns="method", values="value", aggfunc="first", dropna=False)
    paired = wide[[method, baseline]].dropna().sort_index()
    lags = _overlap_lags(result.horizon, tuple(int(o) for o in paired.index))
    m = summarise_windows(paired[method].to_numpy(), lags)
    b = summarise_windows(paired[baseline].to_numpy(), lags)
    d = summarise_windows((paired[method] - paired[baseline]).to_numpy(), lags)
    return Comparison(method, baseline, metric, float(coverage), weighting, *map(float, m[:3]), *map(float, b[:3]),
                      *map(float, d[:3]), d[3], bool(d[1] > 0))
