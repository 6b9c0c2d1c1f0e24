"""How concentrated harm is: Lorenz curve, Gini coefficient and top shares.

What it does, for analysts
--------------------------
Crime concentrates: across eight cities, half of all crime happened at 2.1-6 %
of street segments and a quarter at 0.4-1.6 % (Weisburd 2015,
"The law of crime concentration and the criminology of place", *Criminology*
53(2), 133-157).  This module measures that concentration for harm.

* **Lorenz curve.**  Sort the units from least to most harm.  The curve joins
  (share of units, share of harm) after each unit, from (0, 0) to (1, 1).  The
  diagonal is perfect equality; the further the curve sags below it, the more
  concentrated harm is.
* **Gini coefficient.**  Twice the area between the diagonal and the Lorenz
  curve: 0 when every unit has the same harm, ``(n - 1) / n`` when one unit of
  ``n`` has all of it.  We compute it exactly for the ``n`` units given, as the
  mean absolute difference over twice the mean (Gini 1912), in the sorted form
  ``G = sum_i((2i - n - 1) * x_(i)) / (n * sum(x))`` with ``x_(1) <= ... <=
  x_(n)`` (e.g. Damgaard & Weiner 2000, *Ecology* 81(4), 1139-1142).  This is
  the "biased" Gini of R's ``DescTools::Gini(x, unbiased = FALSE)``.
* **Top shares.**  The share of all harm in the top 1 %, 5 % and 10 % of units
  (the top ``ceil(f * n)`` units, at least one).

Sparse data.  When there are fewer incidents than units (e.g. 2 000 robberies
on a grid of 100 000 cells), most units must be empty whatever the underlying
risk, so the ordinary Gini is close to 1 even if incidents fell at random.
Bernasco & Steenbeek (2017, "More places than crimes: implications for
evaluating the law of crime concentration at place", *Journal of Quantitative
Criminology* 33(3), 451-467, doi:10.1007/s10940-016-9324-7) compare the
Lorenz curve with the line of *maximal* equality given the data (one incident
per unit in ``n_incidents`` units) instead of the diagonal.  Their generalised
Gini is ``G' = max(1, n_units / n_incidents) * (G - 1) + 1`` computed on
incident *counts*; it equals ``G`` when incidents are at least as many as
units.  It is defined for counts, so :func:`summarise_concentration` computes
it from the incident counts per unit (not from harm) and reports whether the
data are sparse; read a harm Gini on sparse data with that caveat.

All-zero input has no distribution to describe: its Gini and top shares are
NaN (undefined), not 0.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from harmmap.errors import ConfigError, SchemaError

DEFAULT_TOP_FRACTIONS: tuple[float, ...] = (0.01, 0.05, 0.10)


@dataclass(frozen=True, slots=True)
class Lorenz:
    """Points of a Lorenz curve, from (0, 0) to (1, 1).

    Attributes
    ----------
    population_share : numpy.ndarray of float64
        ``0, 1/n, 2/n, ..., 1``: share of units, least harmed first.
    harm_share : numpy.ndarray of float64
        Cumulative share of harm held by those units; NaN after the first
        point when all harm is 0.
    """

    population_share: np.ndarray
    harm_share: np.ndarray


@dataclass(frozen=True, slots=True)
class Concentration:
    """Concentration summary of harm over units.

    Attributes
    ----------
    n_units : int
    total_harm : float
    gini : float
        Ordinary (exact, discrete) Gini of harm; NaN if all harm is 0.
    top_shares : dict of float to float
        Fraction of units (e.g. 0.01) -> share of harm in the top ``ceil(f * n)`` units.
    lorenz : Lorenz
    n_incidents : int or None
        Total incidents, when counts were given.
    generalised_gini : float
        Bernasco & Steenbeek's generalised Gini of the incident counts; NaN
        when counts were not given or are all 0.
    sparse : bool or None
        True when there are fewer incidents than units (ordinary Gini inflated).
    """

    n_units: int
    total_harm: float
    gini: float
    top_shares: dict[float, float]
    lorenz: Lorenz = field(repr=False)
    n_incidents: int | None
    generalised_gini: float
    sparse: bool | None


def check_unit_values(values: object, name: str = "values") -> np.ndarray:
    """Return ``values`` as a 1-D float array of finite, non-negative harm per unit, or raise SchemaError."""
    array = np.asarray(values, dtype="float64")
    if array.ndim != 1:
        raise SchemaError(f"{name} must be one value per unit", given=f"shape {array.shape}",
                          fix="pass a 1-D array (one period at a time)")
    if len(array) and not (np.isfinite(array).all() and array.min() >= 0):
        raise SchemaError(f"{name} must be finite and not negative", given=f"min {np.nanmin(array)}",
                          fix="pass harm totals per unit (zero-filled)")
    return array


def _gini_of_sorted(ascending: np.ndarray) -> float:
    n, total = len(ascending), float(ascending.sum())
    if n == 0 or total == 0:
        return math.nan
    # sum_i (2i - n - 1) x_(i) / (n sum x): the sorted formula without its cancelling constant
    coefficients = np.arange(1 - n, n, 2, dtype="float64")
    return float(np.dot(coefficients, ascending) / (n * total))


def _lorenz_of_sorted(ascending: np.ndarray) -> Lorenz:
    n, total = len(ascending), float(ascending.sum())
    population = np.arange(n + 1, dtype="float64") / max(n, 1)
    if total == 0:
        share = np.full(n + 1, np.nan)
        share[0] = 0.0
        return Lorenz(population, share)
    share = np.concatenate(([0.0], np.cumsum(ascending))) / total
    share[-1] = 1.0
    return Lorenz(population, share)


def lorenz_curve(values: np.ndarray) -> Lorenz:
    """Return the Lorenz curve of non-negative values (harm per unit).

    Parameters
    ----------
    values : numpy.ndarray
        Harm (or count) per unit, zero-filled: empty units count.

    Returns
    -------
    Lorenz
        ``n + 1`` points, sorted ascending, starting at (0, 0) and ending at (1, 1).
    """
    return _lorenz_of_sorted(np.sort(check_unit_values(values)))


def gini(values: np.ndarray) -> float:
    """Return the exact Gini coefficient of non-negative values.

    Parameters
    ----------
    values : numpy.ndarray
        Harm (or count) per unit, zero-filled.

    Returns
    -------
    float
        ``sum_ij |x_i - x_j| / (2 n^2 mean)``: 0 when all equal, ``(n - 1) / n``
        when one value is non-zero, NaN when all are 0 or there are none.
    """
    return _gini_of_sorted(np.sort(check_unit_values(values)))


def generalised_gini(counts: np.ndarray) -> float:
    """Return Bernasco & Steenbeek's (2017) generalised Gini of incident counts per unit.

    Parameters
    ----------
    counts : numpy.ndarray
        Incidents per unit, zero-filled (whole numbers).

    Returns
    -------
    float
        ``max(1, n_units / n_incidents) * (G - 1) + 1``, where ``G`` is :func:`gini`
        of the counts; equals ``G`` when incidents >= units; NaN when there are
        no incidents.  Without their small-sample ("unbiased") correction.
    """
    array = check_unit_values(counts, "counts")
    if (array != np.round(array)).any():
        raise SchemaError("the generalised Gini is defined for whole-number counts",
                          given="fractional values", fix="pass incidents per unit, not harm")
    ordinary = gini(array)
    total = float(array.sum())
    if math.isnan(ordinary):
        return math.nan
    return float(max(1.0, len(array) / total) * (ordinary - 1.0) + 1.0)


def _top_count(fraction: float, n: int) -> int:
    if not (isinstance(fraction, (int, float, np.number)) and 0 < fraction <= 1):
        raise ConfigError("top fractions must be in (0, 1]", given=fraction, fix="use e.g. 0.01 for the top 1 %")
    return max(1, math.ceil(round(fraction * n, 9)))


def _top_shares_of_sorted(descending_cumsum: np.ndarray, fractions: Sequence[float]) -> dict[float, float]:
    n = len(descending_cumsum)
    total = float(descending_cumsum[-1]) if n else 0.0
    shares = {}
    for fraction in fractions:
        count = _top_count(fraction, n)
        shares[float(fraction)] = math.nan if total == 0 else float(descending_cumsum[min(count, n) - 1] / total)
    return shares


def top_shares(values: np.ndarray, fractions: Sequence[float] = DEFAULT_TOP_FRACTIONS) -> dict[float, float]:
    """Return the share of total harm held by the top ``ceil(f * n)`` units, for each fraction ``f``.

    Parameters
    ----------
    values : numpy.ndarray
        Harm per unit, zero-filled.
    fractions : sequence of float
        Fractions of units in (0, 1]; ``ceil`` (at least one unit).

    Returns
    -------
    dict of float to float
        Fraction -> share in [0, 1]; NaN when all harm is 0.
    """
    descending = np.sort(check_unit_values(values))[::-1]
    return _top_shares_of_sorted(np.cumsum(descending), fractions)


def summarise_concentration(values: np.ndarray, *, incidents: np.ndarray | None = None,
                            fractions: Sequence[float] = DEFAULT_TOP_FRACTIONS) -> Concentration:
    """Summarise the concentration of harm over units (one sort for everything).

    Parameters
    ----------
    values : numpy.ndarray
        Harm per unit, zero-filled.
    incidents : numpy.ndarray, optional
        Incidents per unit, aligned with ``values``: enables the generalised
        Gini and the sparse-data flag.
    fractions : sequence of float
        Top fractions, default 1 %, 5 %, 10 %.

    Returns
    -------
    Concentration
    """
    ascending = np.sort(check_unit_values(values))
    descending_cumsum = np.cumsum(ascending[::-1])
    n_incidents, general, sparse = None, math.nan, None
    if incidents is not None:
        counts = check_unit_values(incidents, "incidents")
        if counts.shape != ascending.shape:
            raise SchemaError("incidents must align with values", given=f"{counts.shape} vs {ascending.shape}",
                              fix="pass incidents per unit for the same units")
        general = generalised_gini(counts)
        n_incidents = int(counts.sum())
        sparse = n_incidents < len(counts)
    return Concentration(
        n_units=len(ascending), total_harm=float(ascending.sum()), gini=_gini_of_sorted(ascending),
        top_shares=_top_shares_of_sorted(descending_cumsum, fractions), lorenz=_lorenz_of_sorted(ascending),
        n_incidents=n_incidents, generalised_gini=general, sparse=sparse,
    )
