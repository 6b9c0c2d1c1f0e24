"""Harm per unit: the sums every map, ranking and statistic starts from.

What it does, for analysts
--------------------------
A *unit* is an H3 cell or a place (a town centre, a shopping street).  Each
incident carries a harm value (its weight in Crime Harm Index days, in Crime
Severity Score points, or 1 for a plain count).  The harm of a unit is the sum
of the harm of the incidents in it; its incident count is the number of
incidents.  Nothing is averaged or smoothed here.  Sums per period use the
period codes of :mod:`harmmap.scoring.periods`.

Conservation.  The harm of all units together equals the harm of the incidents
given.  For cells that is the harm of all incidents (each incident is in exactly
one cell).  For places the pipeline passes one row per (incident, place) pair,
so an incident inside two overlapping places counts in both and the total over
places equals the total over incidents only when places do not overlap (and
every incident is in some place).

Rates.  Harm per km2 and harm per store make places of different sizes
comparable.  A place with zero area or no stores has no rate: the result is NaN
(not infinity), so it sorts last and is never mistaken for the worst place.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from harmmap.errors import ConfigError, SchemaError


@dataclass(frozen=True, slots=True)
class UnitHarm:
    """Harm and incident count per unit (and per period).

    Attributes
    ----------
    harm : numpy.ndarray of float64
        Shape ``(n_units,)``, or ``(n_units, n_periods)`` when periods were given.
    incidents : numpy.ndarray of int64
        Number of rows (incidents, or incident-place pairs) summed, same shape;
        not recency-weighted.
    """

    harm: np.ndarray
    incidents: np.ndarray

    @property
    def n_units(self) -> int:
        """Number of units."""
        return self.harm.shape[0]

    @property
    def total_harm(self) -> float:
        """Harm of all units and periods together."""
        return float(self.harm.sum())


def _check_codes(codes: np.ndarray, size: int, name: str, rows: int) -> np.ndarray:
    codes = np.asarray(codes)
    if codes.shape != (rows,):
        raise SchemaError(f"{name} must have one value per row", given=f"shape {codes.shape}, {rows} rows",
                          fix="pass aligned 1-D arrays")
    if codes.dtype.kind not in "iu":
        raise SchemaError(f"{name} must be integer codes", given=codes.dtype, fix="factorise the units first")
    if rows and (codes.min() < 0 or codes.max() >= size):
        raise SchemaError(f"{name} out of range 0..{size - 1}", given=f"{codes.min()}..{codes.max()}",
                          fix="map each row to a unit of the grid or place table before aggregating")
    return codes.astype("int64", copy=False)


def _check_harm(harm: np.ndarray, rows: int, name: str = "harm") -> np.ndarray:
    harm = np.asarray(harm, dtype="float64")
    if harm.shape != (rows,):
        raise SchemaError(f"{name} must have one value per row", given=f"shape {harm.shape}, {rows} rows",
                          fix="pass aligned 1-D arrays")
    if rows and not (np.isfinite(harm).all() and harm.min() >= 0):
        raise SchemaError(f"{name} must be finite and not negative", given=f"min {np.nanmin(harm)}",
                          fix="check the harm weights table")
    return harm


def harm_by_unit(unit_codes: np.ndarray, harm: np.ndarray, n_units: int, *,
                 period_codes: np.ndarray | None = None, n_periods: int | None = None,
                 weights: np.ndarray | None = None) -> UnitHarm:
    """Sum harm and count incidents per unit (and per period).

    Parameters
    ----------
    unit_codes : numpy.ndarray of int
        Unit index (0..n_units-1) of each row.  For places, one row per
        (incident, place) pair.
    harm : numpy.ndarray of float
        Harm of each row; finite and not negative.
    n_units : int
        Number of units; units without rows get 0.
    period_codes : numpy.ndarray of int, optional
        Period index of each row (:attr:`Periods.codes`); rows with -1 (outside
        the window) are left out.
    n_periods : int, optional
        Number of periods; required with ``period_codes``.
    weights : numpy.ndarray of float, optional
        Multiplier of each row's harm (e.g. :func:`recency_weights`).

    Returns
    -------
    UnitHarm
        ``harm.sum()`` equals the (weighted) harm of the rows kept, up to
        floating-point rounding; row order changes nothing but rounding.
    """
    harm = _check_harm(harm, len(np.asarray(harm)))
    rows = len(harm)
    units = _check_codes(unit_codes, n_units, "unit codes", rows)
    if weights is not None:
        harm = harm * _check_harm(weights, rows, "weights")
    if period_codes is None:
        return UnitHarm(np.bincount(units, weights=harm, minlength=n_units).astype("float64"),
                        np.bincount(units, minlength=n_units).astype("int64"))
    if n_periods is None:
        raise ConfigError("n_periods is needed with period_codes", fix="pass Periods.n_periods")
    periods = np.asarray(period_codes)
    keep = periods >= 0
    if not keep.all():
        units, harm, periods = units[keep], harm[keep], periods[keep]
    periods = _check_codes(periods, n_periods, "period codes", len(units))
    key = units * n_periods + periods
    size = n_units * n_periods
    return UnitHarm(np.bincount(key, weights=harm, minlength=size).reshape(n_units, n_periods),
                    np.bincount(key, minlength=size).astype("int64").reshape(n_units, n_periods))


def _divide(harm: np.ndarray, denominator: np.ndarray, name: str) -> np.ndarray:
    harm = np.asarray(harm, dtype="float64")
    denominator = np.asarray(denominator, dtype="float64")
    if denominator.shape != harm.shape[:1]:
        raise SchemaError(f"{name} must have one value per unit", given=f"{denominator.shape} vs {harm.shape}",
                          fix="align the place table with the harm array")
    if (denominator < 0).any():
        raise SchemaError(f"{name} must not be negative", given=float(np.nanmin(denominator)),
                          fix="check the place table")
    shaped = denominator.reshape((-1,) + (1,) * (harm.ndim - 1))
    out = np.full(np.broadcast_shapes(harm.shape, shaped.shape), np.nan)
    np.divide(harm, shaped, out=out, where=shaped > 0)
    return out


def rates_per_area(harm: np.ndarray, area_km2: np.ndarray) -> np.ndarray:
    """Return harm per km2 of each unit.

    Parameters
    ----------
    harm : numpy.ndarray
        Shape ``(n_units,)`` or ``(n_units, n_periods)``.
    area_km2 : numpy.ndarray
        Area of each unit, shape ``(n_units,)``.

    Returns
    -------
    numpy.ndarray of float64
        Same shape as ``harm``; NaN where the area is 0 or NaN (no rate, never inf).
    """
    return _divide(harm, area_km2, "area_km2")


def rates_per_store(harm: np.ndarray, store_counts: np.ndarray) -> np.ndarray:
    """Return harm per store of each unit.

    Parameters
    ----------
    harm : numpy.ndarray
        Shape ``(n_units,)`` or ``(n_units, n_periods)``.
    store_counts : numpy.ndarray
        Number of stores in each unit, shape ``(n_units,)``.

    Returns
    -------
    numpy.ndarray of float64
        Same shape as ``harm``; NaN where there are no stores (never inf).
    """
    return _divide(harm, store_counts, "store_counts")
