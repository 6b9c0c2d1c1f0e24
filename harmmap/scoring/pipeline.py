"""One scoring run: from incidents to ranked, tested cells and places.

For analysts
------------
``score`` does, in order:

1. keeps the incidents of the time window and weighs each by its harm
   (:mod:`harmmap.scoring.harm`), optionally decayed by recency
   (:mod:`harmmap.scoring.aggregate`);
2. sums harm over every cell of the zero-filled study grid, and over places
   (point in polygon, done before this step);
3. picks the neighbourhood size (given, or from incremental spatial
   autocorrelation, :mod:`harmmap.scoring.scale`);
4. tests every cell with Getis-Ord Gi* (analytic and permutation), adjusts
   for multiple testing (Benjamini-Hochberg) and bins the result like ArcGIS
   (-3..+3); adds local Moran's I clusters and outliers and global Moran's I
   (analytic z under randomisation: at grid sizes it is accurate and the
   permutation version would cost seconds);
5. tests every place with Gi* using the place as the neighbourhood
   (:mod:`harmmap.scoring.zones`);
6. ranks cells and places by harm, with a Poisson-bootstrap interval on each
   rank and the chance of being in the top N; measures concentration and how
   much the ranking depends on the harm weights (cchi vs css vs count).

Random streams are derived from one ``seed``: Gi* uses ``seed``, local
Moran ``seed + 1``, places ``seed + 3``, the
bootstrap ``seed + 4`` and the cells' randomisation test ``seed + 5``, so a run is reproducible from its metadata.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Mapping

import numpy as np
import pandas as pd

from harmmap.errors import ConfigError
from harmmap.geo.grid import cells_to_neighbours
from harmmap.scoring.aggregate import harm_by_unit
from harmmap.scoring.harm import HarmWeights, incidents_to_harm
from harmmap.scoring.periods import months_to_periods, recency_weights
from harmmap.scoring.result import ScoringResult
from harmmap.scoring.scale import choose_neighbourhood
from harmmap.scoring.cell_table import build_cells
from harmmap.scoring.period_table import build_crime_types, build_periods, summarise_run
from harmmap.scoring.place_table import build_places

SIGNIFICANCE = ("analytic", "randomisation", "conditional")


@dataclass(frozen=True, slots=True)
class ScoringSettings:
    """What a run is asked to do (all persisted with the result).

    Attributes
    ----------
    resolution : int
        H3 resolution of the grid (at most the workspace's base resolution).
    k : int or None
        Neighbourhood in H3 rings; None chooses it automatically from ``candidate_ks``.
    period : str
        Breakdown of the per-period table: "month", "quarter", "half", "all" or "window".
    window : (str, str) or None
        First and last month scored ("YYYY-MM"); None = all months with data.
    weights : str
        Harm weights ranking is based on; the other tables in ``ScoringInputs.weights``
        are compared with it.
    half_life_months : float or None
        Recency decay of harm (None = none).
    permutations, seed : int
        Permutation inference (0 = analytic only) and the seed of every random draw.
    significance : str
        Which p-values give the Gi* bins of cells and places: "analytic"
        (default), "randomisation" (exact Monte Carlo p of Gi* under total
        randomisation with ``draws`` random neighbourhoods; right on sparse,
        skewed harm), "analytic" (the normal p of the Gi* z, as ArcGIS's Hot
        Spot Analysis; powerful, but too many false alarms when
        neighbourhoods hold few incidents: see ``metadata["normal_approximation"]``) or
        "conditional" (esda's conditional permutation with ``permutations``,
        which holds the cell's own value fixed and so only asks whether the
        *surroundings* are unusual).
    draws : int
        Random neighbourhoods of the cells' randomisation test (smallest
        two-sided p is ``2 / (draws + 1)``, which bounds what FDR can find on
        big grids).
    place_draws : int
        Random cell sets of the places' randomisation test (places are few, so
        fewer draws reach the FDR thresholds; a place can span thousands of
        cells, which makes each draw costlier).
    fdr : bool
        Benjamini-Hochberg correction of the Gi* confidence bins (ArcGIS's
        "Apply False Discovery Rate correction").
    alpha : float
        Significance level of the local Moran clusters (judged on the raw
        pseudo p-values, GeoDa's default: exploratory, not FDR-controlled).
    top_n, replicates : int
        "Top N" of the rank intervals and the number of bootstrap replicates.
    """

    resolution: int = 9
    k: int | None = 1
    candidate_ks: tuple[int, ...] = (1, 2, 3, 4, 5)
    period: str = "quarter"
    window: tuple[str, str] | None = None
    weights: str = "cchi"
    half_life_months: float | None = None
    permutations: int = 999
    seed: int = 0
    significance: str = "analytic"
    draws: int = 199_999
    place_draws: int = 19_999
    fdr: bool = True
    alpha: float = 0.05
    top_n: int = 20
    replicates: int = 200

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        out = asdict(self)
        out["candidate_ks"] = list(self.candidate_ks)
        out["window"] = list(self.window) if self.window else None
        return out


@dataclass(frozen=True, slots=True)
class ScoringInputs:
    """Everything a run reads, already in memory (the store builds it).

    Attributes
    ----------
    incidents : pandas.DataFrame
        Counted incidents: ``cell`` (uint64, at the scoring resolution),
        ``month`` (datetime64), ``crime_type``, ``offence``, ``injury``,
        ``weapon``, ``value_gbp``.
    pair_rows, pair_places : numpy.ndarray of int
        The (incident row, place index) pairs of incidents inside places.
    places : pandas.DataFrame
        One row per place in place-index order: ``place_id``, ``kind``,
        ``name``, ``code``, ``area_km2``, ``stores``.
    place_cell_places, place_cells : numpy.ndarray
        Place index and uint64 cell of each (place, cell whose centre is inside).
    study_cells : numpy.ndarray of uint64
        Sorted unique cells of the study grid.
    weights : Mapping[str, HarmWeights]
        Harm tables by name; must include ``settings.weights``.
    context : Mapping
        JSON-ready facts copied to the metadata (data vintage, study area).
    """

    incidents: pd.DataFrame
    pair_rows: np.ndarray
    pair_places: np.ndarray
    places: pd.DataFrame
    place_cell_places: np.ndarray
    place_cells: np.ndarray
    study_cells: np.ndarray
    weights: Mapping[str, HarmWeights]
    context: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Weighed:
    """Incidents of the window, placed on the grid and weighed (internal to a run)."""

    rows: np.ndarray            # incident rows in the window
    grid_index: np.ndarray      # grid index of those rows (-1 outside the study grid)
    harm: dict[str, np.ndarray]  # per weights name, per row of ``rows``
    period_codes: np.ndarray    # per row of ``rows``
    period_labels: tuple[str, ...]
    pair_places: np.ndarray     # place index of each incident-place pair in the window
    pair_positions: np.ndarray  # position in ``rows`` of the pair's incident


def _check(settings: ScoringSettings, inputs: ScoringInputs) -> None:
    if settings.weights not in inputs.weights:
        raise ConfigError("the ranking weights were not loaded", given=settings.weights,
                          fix=f"use one of {sorted(inputs.weights)}")
    if settings.significance not in SIGNIFICANCE:
        raise ConfigError("unknown significance method", given=settings.significance, fix=f"use one of {SIGNIFICANCE}")
    if len(inputs.incidents) == 0:
        raise ConfigError("there are no counted incidents to score", given="0 incidents",
                          fix="ingest data first (harmmap ingest police-uk / incidents)")
    if inputs.study_cells.size == 0:
        raise ConfigError("the study area has no cells", given="0 cells",
                          fix="import places covering the data or use the buffer study area")
    if settings.significance == "randomisation" and min(settings.draws, settings.place_draws) < 1:
        raise ConfigError("the randomisation test needs draws", given=repr(settings.draws),
                          fix="use draws=199999 or --significance analytic")
    if settings.significance == "conditional" and settings.permutations < 1:
        raise ConfigError("conditional significance needs permutations", given=repr(settings.permutations),
                          fix="use permutations=999 or another --significance")
    if isinstance(settings.top_n, bool) or settings.top_n < 1:
        raise ConfigError("top_n must be at least 1", given=repr(settings.top_n))


def weigh_incidents(inputs: ScoringInputs, settings: ScoringSettings) -> Weighed:
    """Select the window, weigh each incident by every harm table, and find its grid cell."""
    incidents = inputs.incidents
    month = incidents["month"].to_numpy(dtype="datetime64[M]")
    periods = months_to_periods(month, settings.period, window=settings.window)
    rows = np.flatnonzero(periods.codes >= 0)
    if rows.size == 0:
        raise ConfigError("no incidents in the scoring window", given=settings.window,
                          fix="widen --window or ingest data for those months")
    window_months = month[rows]
    decay = recency_weights(window_months, periods.end_months.max(), settings.half_life_months)
    harm = {name: incidents_to_harm(incidents, table)[rows] * decay for name, table in inputs.weights.items()}
    cells = incidents["cell"].to_numpy(dtype=np.uint64)[rows]
    position = np.minimum(np.searchsorted(inputs.study_cells, cells), inputs.study_cells.size - 1)
    grid_index = np.where(inputs.study_cells[position] == cells, position, -1)
    pair_places, pair_positions = _window_pairs(inputs, rows)
    return Weighed(rows, grid_index, harm, periods.codes[rows], periods.labels, pair_places, pair_positions)


def _window_pairs(inputs: ScoringInputs, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(place index, position in ``rows``) of each incident-place pair whose incident is in the window."""
    position = np.full(len(inputs.incidents), -1, dtype=np.int64)
    position[rows] = np.arange(rows.size)
    found = position[np.asarray(inputs.pair_rows, dtype=np.int64)]
    keep = found >= 0
    return np.asarray(inputs.pair_places, dtype=np.int64)[keep], found[keep]


def score(inputs: ScoringInputs, settings: ScoringSettings) -> ScoringResult:
    """Run the whole scoring pipeline and return its result.

    Parameters
    ----------
    inputs : ScoringInputs
    settings : ScoringSettings

    Returns
    -------
    ScoringResult
    """
    _check(settings, inputs)
    weighed = weigh_incidents(inputs, settings)
    inside = weighed.grid_index >= 0
    n_cells = inputs.study_cells.size
    cell_harm = {name: harm_by_unit(weighed.grid_index[inside], h[inside], n_cells)
                 for name, h in weighed.harm.items()}
    primary = cell_harm[settings.weights].harm
    if settings.k is None:
        choice = choose_neighbourhood(inputs.study_cells, primary, ks=settings.candidate_ks)
        k, scale = choice.k, choice
    else:
        k, scale = settings.k, None
    neighbours = cells_to_neighbours(inputs.study_cells, k)
    cells, cell_stats = build_cells(inputs, settings, weighed, cell_harm, neighbours)
    places, place_stats = build_places(inputs, settings, weighed, cell_stats)
    periods = build_periods(inputs, weighed, settings.weights, cell_stats)
    crime_types = build_crime_types(inputs, weighed, settings.weights, cell_stats)
    metadata = summarise_run(inputs, settings, weighed, k, scale, cell_stats, place_stats)
    return ScoringResult(cells=cells, places=places, periods=periods, metadata=metadata, crime_types=crime_types)
