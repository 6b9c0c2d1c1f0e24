"""How good a hotspot forecast was: hit rate, PAI, PEI, PEI* and RRI.

What it does, for analysts
--------------------------
A forecast ranks units (cells or places).  Patrols can cover only a small
share ``c`` of the study area (1 %, 5 %, 10 %), so we *flag* the top-ranked
units until they make up exactly that share of the area and then look at what
actually happened next (counts, or harm: the caller passes either).

* **Hit rate** ``n / N``: the share of what actually happened that fell in the
  flagged units.
* **PAI**, Predictive Accuracy Index (Chainey, Tompson & Uhlig 2008, "The
  utility of hotspot mapping for predicting spatial patterns of crime",
  *Security Journal* 21:4-28): hit rate divided by area share,
  ``(n / N) / (a / A)``.  1 is what flagging at random achieves; 10 means ten
  times the crime per square kilometre of the area as a whole.
* **PEI**, Predictive Efficiency Index (Hunt 2016; the efficiency measure of the
  US National Institute of Justice's 2017 Real-Time Crime Forecasting
  Challenge): the PAI divided by the best PAI any selection of *the same area*
  could have had with hindsight, i.e. ``n / n*`` where ``n*`` is what the
  highest-actual units of area ``a`` held.  It runs from 0 to 1 (1 = perfect
  for that area).  This is how e.g. Flaxman et al.'s winning NIJ code and the
  R package ``ptools`` (Wheeler) compute it.
* **PEI*** (``pei_star``): the PAI divided by the PAI of the *smallest* area
  that could have captured the same ``n``, i.e. ``a* / a`` - how much of the
  flagged area a perfect forecast would have needed for the same catch.  Also
  from 0 to 1.  CAUTION on the name: PEI* was introduced by White, Hunt &
  Green (2023, "A discussion of current crime forecasting indices and an
  improvement to the prediction efficiency index for applications",
  *Security Journal*), whose formula we could not retrieve (only the abstract,
  which calls PEI* "operationally realistic").  It is *not* from Joshi,
  Curtis-Ham, D'Ath & Searle (2021, *ISPRS Int. J. Geo-Inf.* 10(9):597),
  which proposes a different measure, the penalised PAI (PPAI).  The
  definition here is the one our project brief specified; one third-party
  reading of White et al. (equal areas, ``n / n*``) coincides with our PEI
  instead.  Treat the label as provisional.
* **RRI**, Recapture Rate Index (Levine 2008, "The 'hottest' part of a
  hotspot", *Security Journal* 21:295-302, as used e.g. by Drawve 2016):
  ``(n2 / n1) / (N2 / N1)`` where period 1 is the training data
  (``previous``) and period 2 the test period, both counted in the same
  flagged units.  Equivalently, test hit rate over training hit rate: above 1
  the hotspots held *more* of the crime later than when they were chosen.
  (``ptools`` calls a different ratio, predicted over observed, "RRI"; that is
  not this.)

Exactly ``c`` of the area.  Units are flagged from the highest forecast per
unit area down; the last unit needed is flagged *in part* (the share of it
that brings the flagged area to exactly ``c``), assuming what happened in it
was spread evenly.  So the area share is always exactly ``c`` and PAI is
exactly ``hit rate / c``.  Without ``area`` every unit counts as the same
area: true for cells of one H3 resolution to within a few per cent (H3
cells of one resolution vary in area by a factor of up to about 2 across the
globe but very little within a county), and the usual assumption.

Ties.  Many units share a forecast value (often 0) at the cut-off.  All tied
units are treated as one block and the block is flagged in part, which gives
each tied unit equal credit: the expected value under random tie-breaking
(exact when the tied units have equal area).  Results therefore never depend
on row order.

No data.  When nothing happened in the test period (all ``actual`` zero), hit
rate, PAI, PEI and PEI* are undefined and reported as NaN; RRI is NaN when
``previous`` is missing or the flagged units held nothing in period 1.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from harmmap.errors import ConfigError, SchemaError

DEFAULT_COVERAGES: tuple[float, ...] = (0.01, 0.05, 0.10)
METRICS: tuple[str, ...] = ("hit_rate", "pai", "pei", "pei_star", "rri")


@dataclass(frozen=True, slots=True)
class Accuracy:
    """Accuracy of one forecast at several coverages (arrays aligned with ``coverages``).

    Attributes
    ----------
    coverages : tuple of float
        Flagged share of the study area.
    hit_rate, pai, pei, pei_star, rri : numpy.ndarray of float64
        See the module docstring; NaN where undefined.
    captured : numpy.ndarray of float64
        ``n``: actual count or harm in the flagged units.
    total : float
        ``N``: actual total over all units.
    """

    coverages: tuple[float, ...]
    hit_rate: np.ndarray
    pai: np.ndarray
    pei: np.ndarray
    pei_star: np.ndarray
    rri: np.ndarray
    captured: np.ndarray
    total: float

    def to_frame(self) -> pd.DataFrame:
        """Return a tidy table with columns ``coverage``, ``metric``, ``value``."""
        blocks = [pd.DataFrame({"coverage": np.asarray(self.coverages, dtype=np.float64), "metric": name,
                                "value": getattr(self, name)}) for name in METRICS]
        return pd.concat(blocks, ignore_index=True)


def _check_vector(values: object, name: str, size: int | None, *, nonnegative: bool, positive: bool = False):
    array = np.asarray(values, dtype=np.float64)
    if array.ndim != 1 or (size is not None and array.size != size):
        raise SchemaError(f"{name} must be a 1-D array with one value per unit",
                          given=f"shape {array.shape}" + (f", expected ({size},)" if size is not None else ""),
                          fix="pass arrays aligned with the same units, in the same order")
    bad = ~np.isfinite(array) | ((array <= 0) if positive else (array < 0) if nonnegative else False)
    if np.any(bad):
        rule = "> 0" if positive else ">= 0" if nonnegative else "finite"
        raise SchemaError(f"{name} must be finite and {rule}", given=f"{int(bad.sum())} bad values",
                          fix=f"check {name} for NaN, infinite or negative entries")
    return array


def _check_coverages(coverages: Sequence[float]) -> np.ndarray:
    array = np.asarray(coverages, dtype=np.float64).ravel()
    if array.size == 0 or not np.all((array > 0) & (array <= 1)):
        raise ConfigError("coverages must be shares of the study area in (0, 1]", given=repr(tuple(coverages)),
                          fix="pass e.g. coverages=(0.01, 0.05, 0.10)")
    return array


def _cumulative_blocks(key: np.ndarray, values: np.ndarray, area: np.ndarray):
    """Sort by ``key`` descending, pool ties; return cumulative area, cumulative values and block sizes."""
    order = np.argsort(-key, kind="stable")
    sorted_key = key[order]
    starts = np.flatnonzero(np.r_[True, sorted_key[1:] != sorted_key[:-1]])
    block_area = np.add.reduceat(area[order], starts)
    block_values = np.add.reduceat(values[order], starts, axis=0)
    cum_area = np.r_[0.0, np.cumsum(block_area)]
    cum_values = np.concatenate([np.zeros((1,) + block_values.shape[1:]), np.cumsum(block_values, axis=0)])
    return cum_area, cum_values, block_area, block_values


def _capture(key: np.ndarray, values: np.ndarray, area: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """Values held by the top-``key`` units of total area ``targets`` (last block flagged in part)."""
    cum_area, cum_values, block_area, block_values = _cumulative_blocks(key, values, area)
    block = np.clip(np.searchsorted(cum_area, targets, side="left") - 1, 0, block_area.size - 1)
    part = (targets - cum_area[block]) / block_area[block]
    return cum_values[block] + part[:, None] * block_values[block]


def _smallest_area(actual: np.ndarray, area: np.ndarray, captured: np.ndarray) -> np.ndarray:
    """Smallest area that could have held ``captured`` (highest actual density first)."""
    cum_area, cum_values, block_area, block_values = _cumulative_blocks(actual / area, actual[:, None], area)
    cum_values = cum_values[:, 0]
    wanted = np.minimum(captured, cum_values[-1])
    block = np.clip(np.searchsorted(cum_values, wanted, side="left") - 1, 0, block_area.size - 1)
    held = block_values[block, 0]
    part = np.divide(wanted - cum_values[block], held, out=np.zeros_like(wanted), where=held > 0)
    return np.where(wanted > 0, cum_area[block] + part * block_area[block], 0.0)


def measure_accuracy(forecast: np.ndarray, actual: np.ndarray, *, coverages: Sequence[float] = DEFAULT_COVERAGES,
                     area: np.ndarray | None = None, previous: np.ndarray | None = None) -> Accuracy:
    """Measure how well a forecast ranking captured what actually happened.

    Parameters
    ----------
    forecast : numpy.ndarray, shape (n_units,)
        Forecast per unit (any finite scores; higher = flagged first, per unit area).
    actual : numpy.ndarray, shape (n_units,)
        What happened in the test period (count or harm), >= 0.
    coverages : sequence of float
        Shares of the study area to flag, each in (0, 1].
    area : numpy.ndarray, optional
        Area of each unit (> 0, any unit); ``None`` = equal areas.
    previous : numpy.ndarray, optional
        Count or harm of the training period per unit, for RRI.

    Returns
    -------
    Accuracy

    Examples
    --------
    >>> acc = measure_accuracy([5, 4, 3, 2, 1], [3, 0, 1, 0, 0], coverages=(0.2,))
    >>> float(acc.hit_rate[0]), float(acc.pai[0]), float(acc.pei[0])
    (0.75, 3.75, 1.0)
    """
    forecast = _check_vector(forecast, "forecast", None, nonnegative=False)
    n = forecast.size
    actual = _check_vector(actual, "actual", n, nonnegative=True)
    area = np.ones(n) if area is None else _check_vector(area, "area", n, nonnegative=True, positive=True)
    cover = _check_coverages(coverages)
    if n == 0:
        raise SchemaError("there are no units to measure", given="0 units", fix="pass at least one unit")
    columns = [actual] if previous is None else [actual, _check_vector(previous, "previous", n, nonnegative=True)]
    targets = cover * area.sum()
    held = _capture(forecast / area, np.column_stack(columns), area, targets)
    captured, total = held[:, 0], float(actual.sum())
    with np.errstate(divide="ignore", invalid="ignore"):
        hit_rate = captured / total if total > 0 else np.full(cover.size, np.nan)
        best = _capture(actual / area, actual[:, None], area, targets)[:, 0]
        pei = np.where(best > 0, captured / best, np.where(total > 0, 0.0, np.nan))
        pei_star = np.where(total > 0, _smallest_area(actual, area, captured) / targets, np.nan)
        rri = np.full(cover.size, np.nan)
        if previous is not None and columns[1].sum() > 0 and total > 0:
            previous_rate = held[:, 1] / columns[1].sum()
            rri = np.where(previous_rate > 0, hit_rate / previous_rate, np.nan)
    return Accuracy(tuple(float(c) for c in cover), hit_rate, hit_rate / cover, pei, pei_star, rri, captured, total)
