"""A self-exciting (Hawkes) model of monthly counts per cell, fitted by EM.

What it does, for analysts
--------------------------
Crime is partly *persistent* (some places always have more) and partly
*contagious*: a burglary raises the risk of another at the same place for a
while afterwards (near repeats).  Mohler et al. model both at once as a
self-exciting point process (Mohler, Short, Brantingham, Schoenberg & Tita
2011, "Self-exciting point process modeling of crime", *JASA* 106(493):100-108).
The grid-cell version used in the Los Angeles and Kent field trials (Mohler,
Short, Malinowski, Johnson, Tita, Bertozzi & Brantingham 2015, "Randomized
controlled field trials of predictive policing", *JASA* 110(512):1399-1411)
gives every cell ``n`` its own steady background rate ``mu_n`` and lets every
past event in the cell add a decaying bump ``theta * omega * exp(-omega * t)``
to the cell's rate, ``t`` after it happened; ``theta`` (the branching ratio,
the expected number of "follow-on" events one event causes) and ``omega`` (how
fast the bump decays) are shared by all cells.  Triggering stays inside the
cell, as in the 2015 grid model.

Monthly bins: the exact discrete-time analogue
----------------------------------------------
We only see counts per month, not event times.  We place each event at the
*end* of its month and integrate the exponential bump over whole later
months.  An event in month ``s`` then adds ``theta * g(k)`` expected events
to month ``s + k`` (``k >= 1``) with the geometric kernel
``g(k) = (1 - q) * q**(k - 1)``, ``q = exp(-omega)``, which sums to 1 over
``k``.  The model for the count ``y[n, t]`` is

    y[n, t] ~ Poisson(mu_n + theta * sum_k g(k) * y[n, t - k]).

No follow-on event falls in its parent's own month: within-month
contagion cannot be told apart from a high background using monthly counts.
This is an exact model for binned data (a discrete-time Hawkes / Poisson
autoregression), not an approximation to the continuous one.

Fitting (EM, after Mohler et al. 2011).  The E-step splits each month's
count into the expected part due to the background and the part triggered by
earlier months; the M-step re-estimates ``mu_n`` (background events over the
months observed), ``theta`` (triggered events over the expected number of
offspring the observed events could have had *inside* the window, so events
near the end are not penalised) and ``q`` (a one-dimensional maximisation of
the expected complete-data likelihood, which only needs the total and mean
lag of the triggered events).  Plain EM crawls when ``theta`` is small, so
each cycle makes two EM updates and an extrapolated third (SQUAREM, Varadhan
& Roland 2008, *Scandinavian Journal of Statistics* 35:335-353), keeping the
extrapolation only if the likelihood does not fall.  Everything is
vectorised over cells; cells with no events are skipped (their ``mu_n`` is 0).  ``theta`` is kept below
``max_branching`` (default 0.95) so forecasts cannot explode.

Short series.  With a free background rate per cell and only a few dozen
months, the maximum-likelihood ``theta`` is biased towards 0 - the
"incidental parameters" bias of fixed-effect panel models (Neyman & Scott
1948, *Econometrica* 16:1-32).  Simulating from the model with
``theta = 0.4``, EM gave about 0.26 with 48 months, 0.36 with 200 and 0.39
with 600 (the EM steps themselves recover 0.40 when the background is known).
The background rates absorb the difference, so forecasts lean more on each
cell's long-run rate than the true process would.

Harm.  Given a harm matrix instead of counts, the same EM maximises the
Poisson *quasi*-likelihood with harm as event weights: ``theta`` is then the
expected follow-on harm per unit of harm.  This keeps one code path and lets
serious events excite more than minor ones.

Forecast: the expected number (or harm) of events in the next ``horizon``
months given the history, computed exactly by running the intensity forward
with future counts replaced by their expectations.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import minimize_scalar

from harmmap.errors import ConfigError

_TINY = 1e-300


@dataclass(frozen=True, slots=True)
class SelfExcitingFit:
    """Fitted parameters of the monthly self-exciting model.

    Attributes
    ----------
    background : numpy.ndarray of float64
        ``mu_n``: expected background events per period in each unit.
    branching_ratio : float
        ``theta``: expected direct follow-on events per event.
    decay : float
        ``omega`` (per period); ``q = exp(-omega)`` is the share of the
        bump left after one more period.
    log_likelihood : float
        Poisson (quasi-)log-likelihood at the fit, without the ``log y!`` term.
    iterations : int
    converged : bool
    """

    background: np.ndarray
    branching_ratio: float
    decay: float
    log_likelihood: float
    iterations: int
    converged: bool


def _excitation(series: np.ndarray, q: float) -> tuple[np.ndarray, np.ndarray]:
    """Given ``series`` (periods x units), return ``S[t] = sum_k g(k) y[t-k]`` and ``K[t] = sum_k k g(k) y[t-k]``."""
    s = np.zeros_like(series)
    k = np.zeros_like(series)
    for t in range(1, series.shape[0]):
        s[t] = q * s[t - 1] + (1.0 - q) * series[t - 1]
        k[t] = q * k[t - 1] + s[t]
    return s, k


def _update_q(weight: float, lag_weight: float, totals: np.ndarray, q_old: float) -> float:
    """Maximise ``W log(1-q) + (KW - W) log q - W log(sum_s Y_s (1 - q^m_s))`` over q."""
    if weight <= 0:
        return q_old
    remaining = np.arange(totals.size - 1, -1, -1, dtype=np.float64)

    def negative(q: float) -> float:
        exposure = np.sum(totals * (1.0 - q ** remaining))
        return -(weight * np.log1p(-q) + (lag_weight - weight) * np.log(q) - weight * np.log(max(exposure, _TINY)))

    return float(minimize_scalar(negative, bounds=(1e-6, 1.0 - 1e-6), method="bounded",
                                 options={"xatol": 1e-9}).x)


@dataclass(frozen=True, slots=True)
class _Data:
    """The observed history in the layout EM needs (periods x active units, plus the non-zero entries)."""

    series: np.ndarray
    flat: np.ndarray
    observed: np.ndarray
    unit_of: np.ndarray
    totals: np.ndarray
    max_branching: float

    @classmethod
    def of(cls, history: np.ndarray, max_branching: float) -> _Data:
        series = np.ascontiguousarray(history.T)
        flat = np.flatnonzero(series)
        return cls(series, flat, series.ravel()[flat], flat % series.shape[1], series.sum(axis=1), max_branching)


def _log_likelihood(x: np.ndarray, data: _Data) -> float:
    """Poisson (quasi-)log-likelihood of ``x = (mu..., theta, q)``; -inf if infeasible."""
    mu, theta, q = x[:-2], x[-2], x[-1]
    if not (np.all(mu >= 0) and 0 <= theta <= data.max_branching and 0 < q < 1):
        return -np.inf
    s = _excitation(data.series, q)[0]
    rate = mu[data.unit_of] + theta * s.ravel()[data.flat]
    if np.any(rate <= 0):
        return -np.inf
    return float(data.observed @ np.log(rate)) - data.series.shape[0] * float(mu.sum()) - theta * float(s.sum())


def _em_step(x: np.ndarray, data: _Data) -> np.ndarray:
    """One EM update of ``x = (mu..., theta, q)``."""
    mu, theta, q = x[:-2], x[-2], x[-1]
    n_periods = data.series.shape[0]
    s, k = _excitation(data.series, q)
    s_at = s.ravel()[data.flat]
    share = data.observed / (mu[data.unit_of] + theta * s_at)
    mu = mu * np.bincount(data.unit_of, share, minlength=mu.size) / n_periods
    triggered = theta * float(share @ s_at)
    q = _update_q(triggered, theta * float(share @ k.ravel()[data.flat]), data.totals, q)
    exposure = float(np.sum(data.totals * (1.0 - q ** np.arange(n_periods - 1, -1, -1, dtype=np.float64))))
    theta = min(triggered / exposure, data.max_branching) if exposure > 0 else 0.0
    return np.r_[mu, theta, q]


def _squarem_step(x: np.ndarray, data: _Data, likelihood: float) -> tuple[np.ndarray, float]:
    """One SQUAREM cycle (Varadhan & Roland 2008, scheme S3) that never lowers the likelihood."""
    x1 = _em_step(x, data)
    x2 = _em_step(x1, data)
    r, v = x1 - x, x2 - 2 * x1 + x
    alpha = max(-float(np.linalg.norm(r)) / max(float(np.linalg.norm(v)), _TINY), -1e3)
    while alpha < -1:
        trial = x - 2 * alpha * r + alpha ** 2 * v
        if np.isfinite(_log_likelihood(trial, data)):
            stepped = _em_step(trial, data)
            value = _log_likelihood(stepped, data)
            if value >= likelihood:
                return stepped, value
        alpha = (alpha - 1) / 2 if alpha < -1.01 else -1.0
    return x2, _log_likelihood(x2, data)


def _check_settings(iterations: object, tolerance: object, max_branching: object) -> None:
    if not isinstance(iterations, (int, np.integer)) or isinstance(iterations, bool) or iterations < 1:
        raise ConfigError("iterations must be a whole number >= 1", given=repr(iterations),
                          fix="pass e.g. iterations=200")
    if not isinstance(tolerance, (int, float)) or not 0 < tolerance < 1:
        raise ConfigError("tolerance must be a number between 0 and 1", given=repr(tolerance),
                          fix="pass e.g. tolerance=1e-7")
    if not isinstance(max_branching, (int, float)) or not 0 < max_branching < 1:
        raise ConfigError("max_branching must be a number between 0 and 1", given=repr(max_branching),
                          fix="pass e.g. max_branching=0.95 (a value of 1 or more lets forecasts explode)")


def fit_self_exciting(history: np.ndarray, *, iterations: int = 200, tolerance: float = 1e-7,
                      max_branching: float = 0.95) -> SelfExcitingFit:
    """Fit the monthly self-exciting model by EM.

    Parameters
    ----------
    history : numpy.ndarray of float64, shape (n_units, n_periods)
        Counts (or harm) per unit and period, oldest period first, >= 0.
    iterations : int
        Most accelerated EM cycles (each makes three EM updates).
    tolerance : float
        Stop when the log-likelihood improves by less than ``tolerance`` times
        its absolute value.
    max_branching : float
        Upper bound on ``theta`` (below 1 keeps the process stationary).

    Returns
    -------
    SelfExcitingFit
    """
    _check_settings(iterations, tolerance, max_branching)
    history = np.asarray(history, dtype=np.float64)
    n_units, n_periods = history.shape
    background = np.zeros(n_units)
    active = np.flatnonzero(history.sum(axis=1) > 0)
    if active.size == 0 or n_periods < 2:
        background[active] = history[active].sum(axis=1) / n_periods
        return SelfExcitingFit(background, 0.0, float(np.log(2.0)), 0.0, 0, True)
    data = _Data.of(history[active], float(max_branching))
    x = np.r_[0.8 * data.series.sum(axis=0) / n_periods, 0.2, 0.5]
    likelihood, converged, done = _log_likelihood(x, data), False, 0
    for done in range(1, iterations + 1):
        x, updated = _squarem_step(x, data, likelihood)
        gain, likelihood = updated - likelihood, updated
        if gain <= tolerance * abs(likelihood):
            converged = True
            break
    mu, theta, q = x[:-2], float(x[-2]), float(x[-1])
    background[active] = mu
    return SelfExcitingFit(background, theta, float(-np.log(q)), likelihood, done, converged)


def expect_self_exciting(fit: SelfExcitingFit, history: np.ndarray, horizon: int) -> np.ndarray:
    """Return the expected total over the next ``horizon`` periods for each unit.

    Parameters
    ----------
    fit : SelfExcitingFit
        From :func:`fit_self_exciting` on the same ``history``.
    history : numpy.ndarray of float64, shape (n_units, n_periods)
    horizon : int

    Returns
    -------
    numpy.ndarray of float64, shape (n_units,)
    """
    history = np.asarray(history, dtype=np.float64)
    q = float(np.exp(-fit.decay))
    excitation = np.zeros(history.shape[0])
    for t in range(1, history.shape[1] + 1):
        excitation = q * excitation + (1.0 - q) * history[:, t - 1]
    total = np.zeros(history.shape[0])
    for _ in range(horizon):
        expected = fit.background + fit.branching_ratio * excitation
        total += expected
        excitation = q * excitation + (1.0 - q) * expected
    return total
