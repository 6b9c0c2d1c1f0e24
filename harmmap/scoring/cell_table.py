"""The cell table of a scoring run: harm, Gi*, local Moran, rank and rank interval per grid cell.

For analysts
------------
Every cell of the zero-filled study grid is tested; the table keeps the cells
with harm and the cells whose Gi* bin or local Moran class is significant
(a quiet cell that is significantly *cold* is kept too).  Three p-values are
reported and ``settings.significance`` says which gives the bins (always with
the Benjamini-Hochberg false discovery rate unless ``fdr`` is off):

``gi_p`` (default, "analytic")
    ArcGIS's normal approximation.  On the simulator's realistic data it finds
    the planted persistent, intensifying and diminishing cells (recall 1.0 with
    count weights) with no false discovery against the true intensity; but when
    neighbourhoods hold few incidents it calls single incidents "hot spots"
    (one shoplifting on a 61-cell grid: p = 0.005 where the exact p is 0.11;
    a flat grid with 0.3 incidents per cell shows a false hot spot in 70 % of
    runs).  ``metadata["normal_approximation"]`` says when a run is in that regime.
``gi_p_rand`` ("randomisation")
    The exact Monte Carlo p of Gi* under total randomisation (199,999 random
    neighbourhoods per size): it keeps the false discovery rate on sparse data,
    but with heterogeneous, heavy-tailed harm a few extreme cells dominate its
    null and it finds far fewer hot spots (planted recall 0.3 on the same
    simulator).  Its smallest p is ``2 / (draws + 1)``.
``gi_p_sim`` ("conditional")
    esda's conditional permutation: the cell's own value held fixed, so it
    asks whether the *surroundings* are unusual.

All figures are measured in ``tests/scoring/test_planted.py``.
``gi_p_sim`` is esda's conditional permutation (the cell's own value held
fixed: are its surroundings unusual?).  Local Moran classes (HH, LL, HL, LH) use the raw pseudo
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
from harmmap.scoring.getis_ord import GiStar, confidence_bins, gi_star, randomisation_p_values
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


def classify_gi(settings, gi_z: np.ndarray, *, analytic: np.ndarray, randomisation: np.ndarray,
                conditional: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return ``(gi_q, gi_bin)`` from the p-values ``settings.significance`` names.

    "randomisation" (default) and "analytic" are two-sided; "conditional" is
    one-tailed (the tail the observation lies in), so it is doubled, capped
    at 1.  ``gi_q`` is the Benjamini-Hochberg adjusted p; the bins use it when
    ``settings.fdr``.
    """
    p = {"randomisation": randomisation, "analytic": analytic,
         "conditional": np.minimum(1.0, 2.0 * conditional)}[settings.significance]
    return adjust_benjamini_hochberg(p), confidence_bins(gi_z, p, fdr=settings.fdr)


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
    pairs = pairs[pairs["cell"].isin(cells)].drop_duplicates()
    shared = pairs["cell"].duplicated(keep=False).to_numpy()
    joined = pd.concat([pairs.loc[~shared].set_index("cell")["name"],
                        pairs.loc[shared].groupby("cell", sort=False)["name"].agg("; ".join)])
    mapped = pd.Series(cells).map(joined)
    return np.where(mapped.notna(), mapped.astype(object), "").astype(object)


def build_cells(inputs, settings, weighed, cell_harm: dict[str, UnitHarm],
                neighbours: sp.csr_matrix) -> tuple[pd.DataFrame, CellStats]:
    """Test and rank every cell of the study grid; return the kept rows and the grid-wide stats."""
    primary = cell_harm[settings.weights]
    values = primary.harm
    gi = gi_star(values, neighbours, permutations=settings.permutations, seed=settings.seed)
    gi_p_rand = randomisation_p_values(values, neighbours, draws=settings.draws, seed=settings.seed + 5)
    gi_q, bins = classify_gi(settings, gi.gi_z, analytic=gi.gi_p, randomisation=gi_p_rand, conditional=gi.gi_p_sim)
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
        "gi_z": gi.gi_z[keep], "gi_p": gi.gi_p[keep], "gi_p_sim": gi.gi_p_sim[keep], "gi_p_rand": gi_p_rand[keep],
        "gi_q": gi_q[keep], "gi_bin": bins[keep],
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
