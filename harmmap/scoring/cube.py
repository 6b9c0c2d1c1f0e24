"""Space-time cube: harm per H3 cell per period, and Getis-Ord Gi* of every bin.

For analysts
------------
A *space-time cube* stacks one hotspot map per period (month by default):
each *bin* is one cell in one period and holds the harm (or the number of
incidents) recorded there.  Emerging Hot Spot Analysis first tests every bin
with Getis-Ord Gi*, then looks at how each cell's results change over time
(:mod:`harmmap.scoring.trend`, :mod:`harmmap.scoring.emerging`).

A bin's neighbourhood is its cell and the cells within ``k`` rings of it, in
the same period and, with ``time_steps = s``, in the ``s`` periods before it
(ArcGIS's "neighborhood time step": a bin looks back in time, never ahead).
The first periods of the cube have fewer earlier periods, so their
neighbourhoods are smaller; the statistic accounts for that exactly.

The Gi* z-score of bin *(i, t)* with neighbourhood *N(i, t)* of ``W`` bins is
(Getis & Ord 1992; Ord & Getis 1995, binary weights)::

    z = (sum of x over N(i, t) - mean * W) / (sd * sqrt(W * (N - W) / (N - 1)))

where ``mean`` and ``sd`` (population standard deviation) describe the
*global window*:

``"cube"``
    all ``N = cells x periods`` bins (ArcGIS's default "Entire cube"): a
    bin is hot when its neighbourhood is high compared with the whole cube, so
    a cell whose harm rises over the years turns from not significant to hot;
``"slice"``
    only the bins of the same period (ArcGIS's "Individual time step"):
    every period is its own hotspot map, equal to running Gi* per month;
    neighbourhoods cannot span periods then (``time_steps`` must be 0).

The two-sided p-value comes from the normal distribution.  With ``fdr=True``
the Benjamini-Hochberg procedure controls the false discovery rate over the
family of tests: every bin of the cube for the "cube" window, every bin of
the period for the "slice" window.  A bin is a significant hot (cold) spot
when it is rejected at ``alpha`` and its z is positive (negative); ``gi_bin``
repeats the test at 90, 95 and 99 % as ArcGIS's ``Gi_Bin`` (-3..+3).

References
----------
Getis, A. and Ord, J. K. (1992). The analysis of spatial association by use of
distance statistics. Geographical Analysis 24(3), 189-206.
Ord, J. K. and Getis, A. (1995). Local spatial autocorrelation statistics:
distributional issues and an application. Geographical Analysis 27(4), 286-306.
Esri, "How Create Space Time Cube works" and "How Emerging Hot Spot Analysis
works", ArcGIS Pro tool reference (space-time pattern mining).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from scipy.special import ndtr, ndtri

from harmmap.errors import ConfigError
from harmmap.scoring.fdr import benjamini_hochberg_threshold
from harmmap.scoring.getis_ord import CONFIDENCE_LEVELS

GLOBAL_WINDOWS: tuple[str, ...] = ("cube", "slice")
_MOMENT_ROWS = 32_768


@dataclass(frozen=True, slots=True)
class SpaceTimeGi:
    """Gi* of every bin of a space-time cube (arrays of shape (cells, periods)).

    Attributes
    ----------
    gi_z : numpy.ndarray of float64
        z-score of each bin (``gi_p``, the two-sided normal p-value, is derived from it).
    gi_bin : numpy.ndarray of int8
        -3..+3 confidence bins (99/95/90 % cold .. hot), FDR-adjusted when ``fdr``.
    hot, cold : numpy.ndarray of bool
        Significant hot / cold spot at ``alpha`` (after FDR when ``fdr``).
    time_steps, global_window, fdr, alpha
        The settings used.
    """

    gi_z: np.ndarray
    gi_bin: np.ndarray
    hot: np.ndarray
    cold: np.ndarray
    time_steps: int
    global_window: str
    fdr: bool
    alpha: float

    @property
    def gi_p(self) -> np.ndarray:
        """Two-sided normal p-value of each bin (computed on demand: a national cube has 10^8 bins)."""
        return 2.0 * ndtr(-np.abs(self.gi_z))


def incidents_to_cube(unit_index: np.ndarray, period_index: np.ndarray, values: np.ndarray,
                      n_units: int, n_periods: int) -> np.ndarray:
    """Sum ``values`` into a (units x periods) cube; rows with index -1 (outside) are left out.

    Parameters
    ----------
    unit_index, period_index : numpy.ndarray of int
        Cell (or place) and period of each incident, -1 when outside the grid or window.
    values : numpy.ndarray of float
        Harm (or 1 for counts) of each incident.
    n_units, n_periods : int
        Cube shape.

    Returns
    -------
    numpy.ndarray of float64, shape (n_units, n_periods)
    """
    unit = np.asarray(unit_index, dtype=np.int64)
    period = np.asarray(period_index, dtype=np.int64)
    values = np.asarray(values, dtype=np.float64)
    if not unit.shape == period.shape == values.shape or unit.ndim != 1:
        raise ConfigError("unit, period and value arrays must be one-dimensional and equally long",
                          given=f"{unit.shape}, {period.shape}, {values.shape}")
    if n_units < 1 or n_periods < 1:
        raise ConfigError("a cube needs at least one unit and one period", given=f"{n_units} x {n_periods}")
    if unit.size and (unit.max() >= n_units or period.max() >= n_periods or unit.min() < -1 or period.min() < -1):
        raise ConfigError("unit or period index out of range", given=f"cube {n_units} x {n_periods}",
                          fix="use -1 for rows outside the grid or window")
    inside = (unit >= 0) & (period >= 0)
    flat = unit[inside] * n_periods + period[inside]
    cube = np.bincount(flat, weights=values[inside], minlength=n_units * n_periods)
    return cube.reshape(n_units, n_periods)


def _check_cube(cube: np.ndarray) -> np.ndarray:
    cube = np.asarray(cube, dtype=np.float64)
    if cube.ndim != 2 or cube.shape[0] < 2 or cube.shape[1] < 1:
        raise ConfigError("the cube must be a (cells x periods) array with at least 2 cells",
                          given=f"shape {cube.shape}")
    if not np.isfinite(cube).all() or (cube < 0).any():
        raise ConfigError("cube values must be finite and non-negative", given="negative or non-finite values")
    return cube


def _check_settings(time_steps: int, global_window: str, alpha: float) -> None:
    if global_window not in GLOBAL_WINDOWS:
        raise ConfigError("unknown global window", given=repr(global_window), fix=f"use one of {GLOBAL_WINDOWS}")
    if isinstance(time_steps, bool) or not isinstance(time_steps, (int, np.integer)) or time_steps < 0:
        raise ConfigError("time_steps must be a whole number >= 0", given=repr(time_steps))
    if global_window == "slice" and time_steps:
        raise ConfigError("the 'slice' window tests each period on its own, so neighbourhoods cannot span periods",
                          given=f"time_steps={time_steps}", fix="use time_steps=0 or global_window='cube'")
    if isinstance(alpha, bool) or not isinstance(alpha, (int, float, np.floating)) or not 0.0 < float(alpha) < 1.0:
        raise ConfigError("alpha must lie strictly between 0 and 1", given=repr(alpha))


def _time_window(spatial: np.ndarray, spatial_size: np.ndarray, time_steps: int) -> tuple[np.ndarray, np.ndarray]:
    """Add the ``time_steps`` earlier periods to each bin's spatial sum; return sums and sizes (W).

    W has shape (cells, 1) without time steps (it does not vary by period) and
    (cells, periods) with them, so the common case never builds a second cube.
    """
    spatial_size = spatial_size.astype(np.float64)[:, None]
    if not time_steps:
        return spatial, spatial_size
    periods = spatial.shape[1]
    total = np.cumsum(spatial, axis=1)
    sums = total.copy()
    if time_steps + 1 < periods:
        sums[:, time_steps + 1:] -= total[:, : periods - time_steps - 1]
    del total
    depth = np.minimum(np.arange(periods), time_steps) + 1.0
    return sums, spatial_size * depth[None, :]


def _moments(cube: np.ndarray, per_period: bool) -> tuple[np.ndarray | float, np.ndarray | float]:
    """Mean and population standard deviation of the cube (or of each period), two-pass, in row blocks
    so that no temporary as large as the cube is made."""
    rows = cube.shape[0]
    mean = cube.sum(axis=0) / rows if per_period else cube.sum() / cube.size
    squares = np.zeros(cube.shape[1]) if per_period else 0.0
    for start in range(0, rows, _MOMENT_ROWS):
        block = cube[start:start + _MOMENT_ROWS] - mean
        block *= block
        squares = squares + (block.sum(axis=0) if per_period else block.sum())
    return mean, np.sqrt(squares / (rows if per_period else cube.size))


def _z_scores(sums: np.ndarray, size: np.ndarray, cube: np.ndarray, global_window: str) -> np.ndarray:
    """Turn neighbourhood sums into Gi* z-scores against the global window (in place on ``sums``).

    A neighbourhood of the whole window (``W = N``) or of no bin has no variance: z = 0.
    """
    per_period = global_window == "slice"
    n = float(cube.shape[0] if per_period else cube.size)
    mean, sd = _moments(cube, per_period)
    sums -= mean * size
    scale = np.sqrt(size * (n - size) / (n - 1.0)) * sd
    sums /= np.where(scale > 0, scale, np.inf)  # no variance: z = 0
    return sums


def _thresholds(p: np.ndarray, column: np.ndarray, n_columns: int, family: int | None, level: float) -> np.ndarray:
    """Largest p rejected at ``level`` per column (-1: none); ``family`` None = no FDR, else BH over that many tests."""
    if family is None:
        return np.full(n_columns, level)
    out = np.full(n_columns, -1.0)
    for t in range(n_columns):
        mine = p if n_columns == 1 else p[column == t]
        out[t] = benjamini_hochberg_threshold(np.sort(mine), family, level)
    return out


def _significance(gi_z: np.ndarray, fdr: bool, global_window: str,
                  alpha: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """ArcGIS bins and hot/cold flags.  Only bins with p <= max(0.10, alpha) can be significant at any
    level, so p-values and the Benjamini-Hochberg thresholds are computed for those bins alone."""
    loosest = max(0.10, alpha)
    cut = -ndtri(loosest / 2.0) * (1.0 - 1e-9)
    flat = gi_z.ravel()
    index = np.flatnonzero((flat >= cut) | (flat <= -cut))
    z = flat[index]
    p = 2.0 * ndtr(-np.abs(z))
    per_slice = global_window == "slice"
    n_columns = gi_z.shape[1] if per_slice else 1
    column = index % gi_z.shape[1] if per_slice else np.zeros(index.size, dtype=np.int64)
    family = (gi_z.shape[0] if per_slice else gi_z.size) if fdr else None
    magnitude = np.zeros(index.size, dtype=np.int8)
    for level, threshold in reversed(CONFIDENCE_LEVELS):
        magnitude[p <= _thresholds(p, column, n_columns, family, threshold)[column]] = level
    significant = p <= _thresholds(p, column, n_columns, family, alpha)[column]
    sign = np.sign(z).astype(np.int8)
    gi_bin = np.zeros(gi_z.shape, dtype=np.int8)
    gi_bin.ravel()[index] = magnitude * sign
    hot, cold = np.zeros(gi_z.shape, dtype=bool), np.zeros(gi_z.shape, dtype=bool)
    hot.ravel()[index] = significant & (sign > 0)
    cold.ravel()[index] = significant & (sign < 0)
    return gi_bin, hot, cold


def space_time_gi_star(cube: np.ndarray, neighbours: sp.spmatrix, *, time_steps: int = 0,
                       global_window: str = "cube", fdr: bool = True, alpha: float = 0.05) -> SpaceTimeGi:
    """Test every bin of a space-time cube with Getis-Ord Gi*.

    Parameters
    ----------
    cube : numpy.ndarray of float, shape (n_cells, n_periods)
        Non-negative harm (or counts) per cell and period, zero-filled, oldest period first.
    neighbours : scipy.sparse matrix, shape (n_cells, n_cells)
        Binary spatial neighbour matrix without diagonal
        (:func:`harmmap.geo.grid.cells_to_neighbours`); the cell itself is added.
    time_steps : int, default 0
        How many earlier periods belong to a bin's neighbourhood.
    global_window : {"cube", "slice"}, default "cube"
        What a bin is compared with: the whole cube or its own period.
    fdr : bool, default True
        Control the false discovery rate (Benjamini-Hochberg) over the family of tests.
    alpha : float, default 0.05
        Significance level of ``hot`` and ``cold``.

    Returns
    -------
    SpaceTimeGi
    """
    cube = _check_cube(cube)
    _check_settings(time_steps, global_window, alpha)
    matrix = sp.csr_matrix(neighbours)
    if matrix.shape != (cube.shape[0], cube.shape[0]):
        raise ConfigError("neighbour matrix does not match the cube", given=f"{matrix.shape} vs {cube.shape[0]} cells",
                          fix="build it with harmmap.geo.grid.cells_to_neighbours(cells, k)")
    if (matrix.data != 1).any() or matrix.diagonal().any():
        raise ConfigError("neighbours must be binary with an empty diagonal", given="weighted entries or self-neighbours",
                          fix="use harmmap.geo.grid.cells_to_neighbours")
    spatial = matrix @ cube
    spatial += cube
    return _test_bins(spatial, np.diff(matrix.indptr) + 1, cube, int(time_steps), global_window, fdr, float(alpha))


def zone_space_time_gi_star(cube: np.ndarray, membership: sp.spmatrix, *, time_steps: int = 0,
                            global_window: str = "cube", fdr: bool = True, alpha: float = 0.05) -> SpaceTimeGi:
    """Test every (zone, period) of a cell cube with Gi*, the zone's cells being its neighbourhood.

    A zone (a town centre) is tested like a cell whose neighbourhood is exactly
    its own cells (:mod:`harmmap.scoring.zones`), against the same global
    window as the cells; the FDR family is every zone-period (``"cube"``) or
    every zone of the period (``"slice"``).

    Parameters
    ----------
    cube : numpy.ndarray of float, shape (n_cells, n_periods)
    membership : scipy.sparse matrix, shape (n_zones, n_cells)
        1 where the cell belongs to the zone
        (:func:`harmmap.scoring.zones.zones_to_membership`).
    time_steps, global_window, fdr, alpha
        As :func:`space_time_gi_star`.

    Returns
    -------
    SpaceTimeGi
        Arrays of shape (n_zones, n_periods); a zone without cells gets z = 0, p = 1.
    """
    cube = _check_cube(cube)
    _check_settings(time_steps, global_window, alpha)
    matrix = sp.csr_matrix(membership, dtype=np.float64, copy=True)
    if matrix.shape[1] != cube.shape[0]:
        raise ConfigError("membership matrix does not match the cube", given=f"{matrix.shape} vs {cube.shape[0]} cells")
    matrix.data[:] = 1.0
    size = np.asarray(matrix.sum(axis=1)).ravel()
    return _test_bins(matrix @ cube, size, cube, int(time_steps), global_window, fdr, float(alpha))


def _test_bins(spatial: np.ndarray, spatial_size: np.ndarray, cube: np.ndarray, time_steps: int,
               global_window: str, fdr: bool, alpha: float) -> SpaceTimeGi:
    sums, size = _time_window(spatial, spatial_size, time_steps)
    gi_z = _z_scores(sums, size, cube, global_window)
    gi_bin, hot, cold = _significance(gi_z, fdr, global_window, alpha)
    return SpaceTimeGi(gi_z, gi_bin, hot, cold, time_steps, global_window, fdr, alpha)
