"""Is a place hotter than chance?  Getis-Ord Gi* with the place as the neighbourhood.

For analysts
------------
Gi* asks whether the harm in a cell's neighbourhood is more than the study
area's average would put there.  For a place (a town centre, a ward) the
natural neighbourhood is the place itself: the set of study-grid cells whose
centres lie inside it.  harmmap therefore scores a place with exactly the
Gi* formula (binary weights, Getis & Ord 1992; Ord & Getis 1995), with the
place's ``c`` cells standing in for a cell's k-ring:

    G = (harm in the place's cells) / (harm in the study area)
    E[G] = c / N,   Var[G] = c (N - c) / (N - 1) / N^2 * s^2 / mean^2

where ``N`` is the number of study-grid cells and ``s^2`` and ``mean`` are
the variance and mean of harm per cell.  ``z = (G - E[G]) / sqrt(Var[G])``
answers "does this place hold more harm than ``c`` cells picked at random?".
The pseudo p-value compares the place's harm with 999 random sets of ``c``
cells (the shared null of :mod:`harmmap.scoring.permutation`).

Place *harm totals* elsewhere in harmmap are exact (point in polygon); this
test works on the cell grid, so a place smaller than one cell is represented
by the cell holding its centre.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from scipy.stats import norm

from harmmap.errors import ConfigError
from harmmap.scoring.permutation import count_extremes, pseudo_p_values, simulate_neighbour_sums


@dataclass(frozen=True, slots=True)
class ZoneGi:
    """Gi* of each zone (place) against the study grid."""

    gi_z: np.ndarray
    gi_p: np.ndarray
    gi_p_sim: np.ndarray
    cells: np.ndarray
    permutations: int
    seed: int


def zones_to_membership(zone_codes: np.ndarray, cell_codes: np.ndarray, n_zones: int, n_cells: int) -> sp.csr_matrix:
    """Return the binary zones x cells membership matrix from (zone, cell) index pairs (duplicates collapse)."""
    zone_codes = np.asarray(zone_codes, dtype=np.int64)
    cell_codes = np.asarray(cell_codes, dtype=np.int64)
    if zone_codes.shape != cell_codes.shape:
        raise ConfigError("zone and cell index arrays differ in length", given=f"{zone_codes.size} vs {cell_codes.size}")
    if zone_codes.size and (zone_codes.min() < 0 or zone_codes.max() >= n_zones
                            or cell_codes.min() < 0 or cell_codes.max() >= n_cells):
        raise ConfigError("zone or cell index out of range", given=f"{n_zones} zones, {n_cells} cells")
    matrix = sp.csr_matrix((np.ones(zone_codes.size), (zone_codes, cell_codes)), shape=(n_zones, n_cells))
    matrix.data[:] = 1.0
    return matrix


def gi_star_zones(values: np.ndarray, membership: sp.csr_matrix, *, permutations: int = 999, seed: int) -> ZoneGi:
    """Gi* z, two-sided normal p and pseudo p of each zone.

    Parameters
    ----------
    values : numpy.ndarray of float
        Harm per study-grid cell (zero-filled).
    membership : scipy.sparse.csr_matrix
        Zones x cells, 1 where the cell belongs to the zone.
    permutations : int
        Random cell sets per zone size (0 = no pseudo p-values, NaN).
    seed : int

    Returns
    -------
    ZoneGi
        Zones with no cells, or a study area without variation, get z = 0
        and p = 1 (nothing to test).
    """
    values = np.asarray(values, dtype=np.float64)
    n = values.size
    if membership.shape[1] != n:
        raise ConfigError("membership matrix does not match the grid", given=f"{membership.shape} vs {n} cells")
    cells = np.asarray(membership.sum(axis=1)).ravel()
    observed = membership @ values
    z = _zone_z(values, observed, cells)
    p = np.where(np.isfinite(z), 2.0 * norm.sf(np.abs(z)), 1.0)
    p_sim = np.full(cells.size, np.nan)
    if permutations:
        counts = cells.astype(np.int64)
        null = simulate_neighbour_sums(values, counts, permutations=permutations, seed=seed)
        at_least, at_most = count_extremes(null, observed, counts)
        p_sim = pseudo_p_values(at_least, at_most, permutations)
    return ZoneGi(np.nan_to_num(z), p, p_sim, cells.astype(np.int64), int(permutations), seed)


def _zone_z(values: np.ndarray, observed: np.ndarray, cells: np.ndarray) -> np.ndarray:
    n = values.size
    total = values.sum()
    mean = total / n if n else 0.0
    variance = values.var() if n else 0.0
    z = np.full(cells.size, np.nan)
    usable = (cells > 0) & (cells < n)
    if n < 2 or total <= 0 or variance <= 0 or not usable.any():
        return z
    c = cells[usable]
    expected = c / n
    var_g = c * (n - c) / (n - 1) / n**2 * variance / mean**2
    z[usable] = (observed[usable] / total - expected) / np.sqrt(var_g)
    return z
