"""The cell table of a scoring run: harm, Gi*, local Moran, rank and rank interval per grid cell.

For analysts
------------
Every cell of the zero-filled study grid is tested; the table keeps the cells
with harm and the cells whose Gi* bin or local Moran class is significant
(a quiet cell that is significantly *cold* is kept too).  The Gi* bins use
the analytic p-values by default, as ArcGIS does, with the Benjamini-Hochberg
false discovery rate, so that among the cells called hot at 95 % at most 5 %
are expected to be false alarms; ``gi_p_sim`` (conditional permutation) is
reported beside them as a check that does not rely on the normal
approximation.  Local Moran classes (HH, LL, HL, LH) use the raw pseudo
p-values, GeoDa's default: read them as exploratory.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.sparse as sp

from harmmap.scoring.aggregate import UnitHarm
from harmmap.scoring.concentration import Concentration, summarise_concentration
from harmmap.scoring.fdr import adjust_benjamini_hochberg
from harmmap.scoring.getis_ord import GiStar, confidence_bins, gi_star
from harmmap.scoring.moran import GlobalMoran, classify_clusters, global_moran, local_moran
from harmmap.scoring.ranking import WeightSensitivity, bootstrap_rank_intervals, compare_weightings, rank_by_harm


@dataclass(frozen=True, slots=True)
class CellStats:
    """Grid-wide results a run's other steps need (full grid, not only the kept rows)."""

    harm: np.ndarray
    incidents: np.ndarray
    gi_bin: np.ndarray
    gi: GiStar
    global_moran: GlobalMoran
    concentration: Concentration
    sensitivity: dict[str, WeightSensitivity]


def choose_p_values(analytic: np.ndarray, simulated: np.ndarray, significance: str, permutations: int) -> np.ndarray:
    """The two-sided p-values that decide significance.

    The analytic ``gi_p`` is two-sided; the pseudo p-value counts only the
    tail the observation lies in, so it is doubled (capped at 1) to judge
    both on the same scale.
    """
    if significance == "permutation" and permutations:
        return np.minimum(1.0, 2.0 * simulated)
    return analytic


def _moran_classes(values: np.ndarray, neighbours: sp.csr_matrix, settings) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    local = local_moran(values, neighbours, permutations=settings.permutations, seed=settings.seed + 1)
    p = local.moran_p_sim
    return local.moran_i, p, classify_clusters(local.quadrant, p, settings.alpha)


def measure_sensitivity(unit_harm: dict[str, UnitHarm], primary: str, top_n: int) -> dict[str, WeightSensitivity]:
    """Rank agreement between the primary harm weights and each other table.

    Compared over the units with any incident: the many empty cells of a
    zero-filled grid tie at the bottom under every weighting and would
    inflate the rank correlations towards 1.
    """
    active = unit_harm[primary].incidents > 0
    base = unit_harm[primary].harm[active]
    if base.size == 0:
        return {}
    return {name: compare_weightings(base, other.harm[active], top_n=min(top_n, base.size))
            for name, other in unit_harm.items() if name != primary}


def _place_names(inputs, cells: np.ndarray) -> np.ndarray:
    """Names of the places each cell's centre lies in, joined with "; " ("" for none)."""
    if len(inputs.places) == 0 or cells.size == 0:
        return np.full(cells.size, "", dtype=object)
    names = inputs.places["name"].astype(str).to_numpy(dtype=object)[np.asarray(inputs.place_cell_places)]
    pairs = pd.DataFrame({"cell": np.asarray(inputs.place_cells, dtype=np.uint64), "name": names})
    joined = pairs.drop_duplicates().groupby("cell", sort=False)["name"].agg("; ".join)
    return pd.Series(cells).map(joined).fillna("").to_numpy(dtype=object)


def build_cells(inputs, settings, weighed, cell_harm: dict[str, UnitHarm],
                neighbours: sp.csr_matrix) -> tuple[pd.DataFrame, CellStats]:
    """Test and rank every cell of the study grid; return the kept rows and the grid-wide stats."""
    primary = cell_harm[settings.weights]
    values = primary.harm
    gi = gi_star(values, neighbours, permutations=settings.permutations, seed=settings.seed)
    p = choose_p_values(gi.gi_p, gi.gi_p_sim, settings.significance, settings.permutations)
    bins = confidence_bins(gi.gi_z, p, fdr=settings.fdr)
    moran_i, moran_p, moran_class = _moran_classes(values, neighbours, settings)
    overall = global_moran(values, neighbours, permutations=0, seed=settings.seed + 2)
    ranks = rank_by_harm(values, tie_break=inputs.study_cells)
    inside = weighed.grid_index >= 0
    intervals = bootstrap_rank_intervals(weighed.grid_index[inside], weighed.harm[settings.weights][inside],
                                         values.size, top_n=settings.top_n, replicates=settings.replicates,
                                         seed=settings.seed + 4)
    keep = np.flatnonzero((values > 0) | (bins != 0) | (moran_class != "ns"))
    table = pd.DataFrame({
        "cell": inputs.study_cells[keep], "harm": values[keep], "incidents": primary.incidents[keep],
        "gi_z": gi.gi_z[keep], "gi_p": gi.gi_p[keep], "gi_p_sim": gi.gi_p_sim[keep],
        "gi_q": adjust_benjamini_hochberg(p)[keep], "gi_bin": bins[keep],
        "moran_i": moran_i[keep], "moran_p_sim": moran_p[keep], "moran_class": moran_class[keep],
        "rank": ranks[keep], "rank_low": intervals.rank_low[keep], "rank_high": intervals.rank_high[keep],
        "p_top_n": intervals.p_top_n[keep],
    })
    for name, unit in cell_harm.items():
        if name != settings.weights:
            table[f"harm_{name}"] = unit.harm[keep]
    table["places"] = _place_names(inputs, table["cell"].to_numpy(np.uint64))
    table = table.sort_values("rank", kind="stable").reset_index(drop=True)
    stats = CellStats(values, primary.incidents, bins, gi, overall,
                      summarise_concentration(values, incidents=primary.incidents),
                      measure_sensitivity(cell_harm, settings.weights, settings.top_n))
    return table, stats
