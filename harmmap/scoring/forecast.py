"""Forecasts of next-period harm (or counts) for cells and places.

What it does, for analysts
--------------------------
Every forecaster reads a history matrix (one row per unit - an H3 cell of a
zero-filled study grid, or a place - and one column per month, oldest first)
and returns, for each unit, the *expected total over the next* ``horizon``
*months*.  Hotspot maps rank units by this number; the backtest
(:mod:`harmmap.scoring.backtest`) checks how well each ranking would have
done in the past.  The models, in plain English, are in
:data:`MODEL_DESCRIPTIONS` (quoted in the assessment report's method notes).

Space.  Cells of one H3 resolution form a hexagonal grid; "distance" between
cells is the number of grid steps (rings).  Spatial models take
``rings = cells_to_rings(cells, R)``: ``rings[r - 1]`` is the binary matrix of
pairs of cells exactly ``r`` steps apart.  Places have no rings (pass ``()``):
the spatial models then use each unit on its own.  A model never looks
beyond the rings it is given.

Level.  Ranking does not depend on scale, but a forecast should also be a
sensible number.  Models that produce a risk *surface* (the two kernel models
and the empirical-Bayes model) are scaled so that their total equals the mean
total per period over the last 12 periods (:data:`LEVEL_PERIODS`; all
periods if fewer) times ``horizon``.  ``previous``, ``moving_average`` and
``self_exciting`` are totals of their own and are not rescaled.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable, Sequence
from types import MappingProxyType

import numpy as np
import scipy.sparse as sp

from harmmap.errors import ConfigError, SchemaError
from harmmap.geo.grid import cells_to_neighbours
from harmmap.scoring.self_exciting import expect_self_exciting, fit_self_exciting

LEVEL_PERIODS = 12

# Best on PAI at 5 % in the Leicestershire backtest (res-9 cells, 35 months, horizons 6 and 1, count and harm
# weighted); it beat ``previous`` with the paired 95 % interval above zero in all four cases.
DEFAULT_FORECASTER = "self_exciting"

MODEL_DESCRIPTIONS: dict[str, str] = {
    "previous": (
        "Previous period: the map of the last period of the same length is used unchanged as the forecast "
        "(for a six-month forecast, the last six months). This is the baseline every other model must beat."),
    "moving_average": (
        "Moving average: each area's average per month over the last 12 months, multiplied by the number of "
        "months forecast. It smooths out month-to-month noise but reacts slowly to change."),
    "retrospective_kernel": (
        "Retrospective hotspot map: each cell's average per month over the whole history, smoothed over the "
        "cells around it with a quartic kernel (weight (1 - (d/b)^2)^2 for a cell d grid steps away, "
        "bandwidth b = 2 steps, about 600 m for resolution-9 cells), as in a classic kernel-density hotspot map "
        "(Chainey, Tompson & Uhlig 2008). Scaled to the recent monthly level."),
    "prospective_kernel": (
        "Prospective hotspot map (Bowers, Johnson & Pease 2004): every recent event raises the risk of the cells "
        "around it, by 1/(1 + distance) x 1/(1 + age). The original used 50 m cells, distance in cells up to "
        "400 m and age in weeks up to two months; here distance is in H3 grid steps (the cell and its six "
        "neighbours by default) and age in whole months (the last two months by default). Scaled to the recent "
        "monthly level."),
    "self_exciting": (
        "Self-exciting model (Mohler et al. 2011, 2015): each cell has its own steady background rate, and every "
        "event temporarily raises the chance of further events in the same cell, the effect fading exponentially "
        "month by month. Background rates, the average number of follow-on events and the fading rate are "
        "estimated from the history by the EM algorithm; the forecast is the expected number (or harm) of events "
        "in the coming months. For harm, events are weighted by their harm."),
    "empirical_bayes": (
        "Empirical-Bayes smoothed rate: each cell's recent average per month (months weighted by recency, "
        "half-life 12 months) is pulled towards the average of its neighbourhood (the cell and its six "
        "neighbours), more strongly when the cell has little data and less when the neighbourhood is busy; "
        "how strongly is estimated from how much cells really differ beyond chance (Clayton & Kaldor 1987; "
        "Marshall 1991). Scaled to the recent monthly level."),
}


def cells_to_rings(cells: np.ndarray, max_ring: int) -> tuple[sp.csr_matrix, ...]:
    """Return ``(ring_1, ..., ring_R)``: binary matrices of cells exactly ``r`` grid steps apart.

    Parameters
    ----------
    cells : numpy.ndarray of uint64
        Sorted unique H3 cells (the rows of the history matrix).
    max_ring : int
        ``R``, the largest distance needed (0 gives an empty tuple).

    Returns
    -------
    tuple of scipy.sparse.csr_matrix, each (n, n), symmetric, values 1.
    """
    if not isinstance(max_ring, (int, np.integer)) or isinstance(max_ring, bool) or not 0 <= max_ring <= 50:
        raise ConfigError("max_ring must be a whole number of grid steps from 0 to 50", given=repr(max_ring),
                          fix="pass e.g. max_ring=2")
    n = np.asarray(cells).size
    rings, inside = [], sp.csr_matrix((n, n), dtype=np.float64)
    for r in range(1, int(max_ring) + 1):
        disc = cells_to_neighbours(cells, r)
        ring = (disc - inside).tocsr()
        ring.eliminate_zeros()
        rings.append(ring)
        inside = disc
    return tuple(rings)


# --- checks -----------------------------------------------------------------------------------------------

def check_history(history: object) -> np.ndarray:
    """Return ``history`` as a float64 (n_units, n_periods) array, or raise SchemaError."""
    try:
        array = np.asarray(history, dtype=np.float64)
    except (TypeError, ValueError) as error:
        raise SchemaError("history must be numeric", given=type(history).__name__,
                          fix="pass a 2-D numpy array of counts or harm (units x periods)") from error
    if array.ndim != 2 or array.shape[1] == 0:
        raise SchemaError("history must be a 2-D array of units x periods with at least one period",
                          given=f"shape {array.shape}", fix="pass one row per unit and one column per period")
    if not np.all(np.isfinite(array)) or np.any(array < 0):
        raise SchemaError("history must be finite and >= 0", given="negative, NaN or infinite values",
                          fix="fill missing periods with 0 and check the aggregation")
    return array


def check_horizon(horizon: object) -> int:
    """Return ``horizon`` as a positive int, or raise ConfigError."""
    if not isinstance(horizon, (int, np.integer)) or isinstance(horizon, bool) or horizon < 1:
        raise ConfigError("horizon must be a whole number of periods >= 1", given=repr(horizon),
                          fix="pass e.g. horizon=6 for the next six months")
    return int(horizon)


def check_rings(rings: Sequence, n_units: int) -> tuple:
    """Return ``rings`` as a tuple of CSR matrices of shape (n_units, n_units), or raise ConfigError."""
    checked = []
    for position, ring in enumerate(rings, start=1):
        if not sp.issparse(ring) or ring.shape != (n_units, n_units):
            raise ConfigError(f"rings[{position - 1}] must be a sparse {n_units} x {n_units} matrix",
                              given=getattr(ring, "shape", type(ring).__name__),
                              fix="build rings with cells_to_rings(cells, max_ring) for the history's cells")
        checked.append(sp.csr_matrix(ring))
    return tuple(checked)


def _check_number(value: object, name: str, *, low: float, whole: bool = False, example: str) -> float:
    ok = isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)
    ok = ok and math.isfinite(value) and value >= low and (not whole or float(value).is_integer())
    if not ok:
        kind = "a whole number" if whole else "a number"
        raise ConfigError(f"{name} must be {kind} >= {low:g}", given=repr(value), fix=f"pass e.g. {name}={example}")
    return float(value)


# --- shared pieces ----------------------------------------------------------------------------------------

def _smooth(values: np.ndarray, rings: tuple, weights: Sequence[float]) -> np.ndarray:
    """``weights[0] * values + sum_r weights[r] * rings[r-1] @ values`` for the rings given."""
    out = weights[0] * values
    for r, ring in enumerate(rings[: len(weights) - 1], start=1):
        if weights[r] > 0:
            out = out + weights[r] * (ring @ values)
    return out


def _calibrate(risk: np.ndarray, history: np.ndarray, horizon: int) -> np.ndarray:
    """Scale ``risk`` so its total is the mean per-period total of the last LEVEL_PERIODS periods x horizon."""
    level = history[:, -LEVEL_PERIODS:].sum(axis=0).mean() * horizon
    total = risk.sum()
    return risk * (level / total) if total > 0 else np.zeros_like(risk)


# --- forecasters ------------------------------------------------------------------------------------------

def forecast_previous(history: np.ndarray, *, horizon: int, rings: Sequence = ()) -> np.ndarray:
    """Total of the last ``horizon`` periods (all periods, scaled up, if fewer are available)."""
    history, horizon = check_history(history), check_horizon(horizon)
    recent = history[:, -horizon:]
    return recent.sum(axis=1) * (horizon / recent.shape[1])


def forecast_moving_average(history: np.ndarray, *, horizon: int, rings: Sequence = (),
                            periods: int = 12) -> np.ndarray:
    """Mean of the last ``periods`` periods (default 12) times ``horizon``."""
    history, horizon = check_history(history), check_horizon(horizon)
    periods = int(_check_number(periods, "periods", low=1, whole=True, example="12"))
    return history[:, -periods:].mean(axis=1) * horizon


def forecast_retrospective_kernel(history: np.ndarray, *, horizon: int, rings: Sequence = (),
                                  bandwidth: float = 2.0) -> np.ndarray:
    """Whole-history mean rate smoothed by a quartic kernel over grid steps, calibrated to the level.

    The weight of a cell ``d`` steps away is ``(1 - (d / bandwidth)**2)**2`` for ``d < bandwidth``.
    """
    history, horizon = check_history(history), check_horizon(horizon)
    rings = check_rings(rings, history.shape[0])
    bandwidth = _check_number(bandwidth, "bandwidth", low=1e-9, example="2")
    weights = [max(0.0, 1.0 - (d / bandwidth) ** 2) ** 2 for d in range(math.ceil(bandwidth))]
    return _calibrate(_smooth(history.mean(axis=1), rings, weights), history, horizon)


def forecast_prospective_kernel(history: np.ndarray, *, horizon: int, rings: Sequence = (),
                                space_bandwidth: int = 2, time_bandwidth: int = 2) -> np.ndarray:
    """Bowers, Johnson & Pease (2004) risk ``sum 1/(1+d) * 1/(1+a)`` over events with ``d < space_bandwidth``
    grid steps and age ``a < time_bandwidth`` whole periods (last period: age 0), calibrated to the level."""
    history, horizon = check_history(history), check_horizon(horizon)
    rings = check_rings(rings, history.shape[0])
    space = int(_check_number(space_bandwidth, "space_bandwidth", low=1, whole=True, example="2"))
    time = int(_check_number(time_bandwidth, "time_bandwidth", low=1, whole=True, example="2"))
    recent = history[:, ::-1][:, :time]
    weighted = recent @ (1.0 / (1.0 + np.arange(recent.shape[1])))
    return _calibrate(_smooth(weighted, rings, [1.0 / (1.0 + d) for d in range(space)]), history, horizon)


def forecast_self_exciting(history: np.ndarray, *, horizon: int, rings: Sequence = (), iterations: int = 200,
                           tolerance: float = 1e-7, max_branching: float = 0.95) -> np.ndarray:
    """Expected events (or harm) over ``horizon`` from the EM-fitted monthly self-exciting model
    (:mod:`harmmap.scoring.self_exciting`); ``rings`` are not used (triggering stays in the cell)."""
    history, horizon = check_history(history), check_horizon(horizon)
    fit = fit_self_exciting(history, iterations=iterations, tolerance=tolerance, max_branching=max_branching)
    return expect_self_exciting(fit, history, horizon)


def _shrinkage_weight(rate: np.ndarray, prior: np.ndarray, history: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Weight on a unit's own rate under a gamma prior with mean ``prior`` (method of moments)."""
    concentration = np.sum(weights ** 2) / np.sum(weights) ** 2
    spread = np.sum(weights * (history - rate[:, None]) ** 2) / (np.sum(weights) * max(1.0 - concentration, 1e-12))
    dispersion = spread / rate.sum() if rate.sum() > 0 else 1.0
    noise = dispersion * concentration * prior
    inverse_shape = max(0.0, (np.sum((rate - prior) ** 2) - noise.sum()) / max(np.sum(prior ** 2), 1e-300))
    signal = inverse_shape * prior ** 2
    return np.divide(signal, signal + noise, out=np.zeros_like(prior), where=(signal + noise) > 0)


def forecast_empirical_bayes(history: np.ndarray, *, horizon: int, rings: Sequence = (), half_life: float = 12.0,
                             prior_rings: int = 1) -> np.ndarray:
    """Recency-weighted rate shrunk towards the neighbourhood mean (gamma-Poisson empirical Bayes),
    calibrated to the level; without rings the prior is the mean over all units."""
    history, horizon = check_history(history), check_horizon(horizon)
    rings = check_rings(rings, history.shape[0])
    half_life = _check_number(half_life, "half_life", low=1e-9, example="12")
    prior_rings = int(_check_number(prior_rings, "prior_rings", low=0, whole=True, example="1"))
    ages = np.arange(history.shape[1] - 1, -1, -1, dtype=np.float64)
    weights = 0.5 ** (ages / half_life)
    rate = history @ weights / weights.sum()
    use = rings[:prior_rings]
    if use:
        ones = [1.0] * (len(use) + 1)
        prior = _smooth(rate, use, ones) / _smooth(np.ones_like(rate), use, ones)
    else:
        prior = np.full_like(rate, rate.mean())
    own = _shrinkage_weight(rate, prior, history, weights)
    return _calibrate(own * rate + (1.0 - own) * prior, history, horizon)


# --- registry and dispatcher ------------------------------------------------------------------------------

FORECASTERS: MappingProxyType[str, Callable[..., np.ndarray]] = MappingProxyType({
    "previous": forecast_previous,
    "moving_average": forecast_moving_average,
    "retrospective_kernel": forecast_retrospective_kernel,
    "prospective_kernel": forecast_prospective_kernel,
    "self_exciting": forecast_self_exciting,
    "empirical_bayes": forecast_empirical_bayes,
})


def _parameters_of(function: Callable) -> set[str]:
    signature = inspect.signature(function)
    return {name for name, p in signature.parameters.items()
            if p.kind is p.KEYWORD_ONLY and name not in ("horizon", "rings")}


def forecast(history: np.ndarray, method: str, *, horizon: int, rings: Sequence = (), **params) -> np.ndarray:
    """Forecast the expected total over the next ``horizon`` periods with a named model.

    Parameters
    ----------
    history : numpy.ndarray, shape (n_units, n_periods)
        Counts or harm per unit and period, oldest first, >= 0.
    method : str
        A key of :data:`FORECASTERS`.
    horizon : int
        Number of periods to forecast (e.g. 6 months).
    rings : sequence of scipy.sparse matrices
        From :func:`cells_to_rings`; ``()`` for places.
    **params
        Model settings (see each ``forecast_<method>``).

    Returns
    -------
    numpy.ndarray of float64, shape (n_units,), >= 0.

    Raises
    ------
    ConfigError
        Unknown method or setting, or a setting out of range.
    SchemaError
        ``history`` is not a non-negative 2-D array.
    """
    if method not in FORECASTERS:
        raise ConfigError("unknown forecast method", given=repr(method), fix=f"use one of {sorted(FORECASTERS)}")
    function = FORECASTERS[method]
    unknown = sorted(set(params) - _parameters_of(function))
    if unknown:
        raise ConfigError(f"unknown setting for forecast method {method!r}", given=", ".join(unknown),
                          fix=f"use only {sorted(_parameters_of(function)) or 'no settings'}")
    return function(history, horizon=horizon, rings=rings, **params)
