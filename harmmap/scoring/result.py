"""The outcome of one scoring run: ranked cells, ranked places, a per-period breakdown and metadata.

For analysts
------------
A :class:`ScoringResult` is everything a run found, and enough to redo it:
its ``metadata`` records the harm weights and their version, the H3
resolution and neighbourhood (and why that neighbourhood was chosen), the
time window, the random seed, and the data vintage (which files, up to which
month).  The web app and the reports only ever show persisted results; they
never recompute statistics.

Tables (pandas DataFrames; the column lists below are the contract):

``cells``
    One row per study-grid cell with harm, or with a significant Gi* class.
    ``cell`` (uint64 H3 index), ``harm``, ``incidents``, ``harm_<weights>``
    for the comparison weightings, ``gi_z``, ``gi_p`` (analytic),
    ``gi_p_rand`` (total randomisation), ``gi_p_sim`` (conditional permutation),
    ``gi_q`` (Benjamini-Hochberg adjusted), ``gi_bin`` (-3..3),
    ``moran_i``, ``moran_p_sim``, ``moran_class`` (HH/LL/HL/LH/ns),
    ``rank``, ``rank_low``, ``rank_high``, ``p_top_n``, ``places`` (names
    of the places the cell's centre lies in, "; "-separated).
``places``
    One row per place: ``place_id``, ``kind``, ``name``, ``code``,
    ``harm``, ``incidents``, ``area_km2``, ``harm_per_km2``, ``stores``,
    ``harm_per_store``, ``cells``, ``hot_cells``, ``gi_z``, ``gi_p``,
    ``gi_p_rand``, ``gi_q``, ``gi_bin``, ``rank``, ``rank_low``,
    ``rank_high``, ``p_top_n``, ``harm_<weights>``.
``periods``
    Long table: ``unit_kind`` ("cell" or "place"), ``unit`` (cell index as
    text or place id), ``period``, ``harm``, ``incidents``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

import pandas as pd

from harmmap.errors import SchemaError

CELL_COLUMNS: tuple[str, ...] = (
    "cell", "harm", "incidents", "gi_z", "gi_p", "gi_p_rand", "gi_p_sim", "gi_q", "gi_bin",
    "moran_i", "moran_p_sim", "moran_class", "rank", "rank_low", "rank_high", "p_top_n", "places",
)
PLACE_COLUMNS: tuple[str, ...] = (
    "place_id", "kind", "name", "code", "harm", "incidents", "area_km2", "harm_per_km2", "stores",
    "harm_per_store", "cells", "hot_cells", "gi_z", "gi_p", "gi_p_rand", "gi_q", "gi_bin",
    "rank", "rank_low", "rank_high", "p_top_n",
)
PERIOD_COLUMNS: tuple[str, ...] = ("unit_kind", "unit", "period", "harm", "incidents")
#: Harm and incidents per unit, period and police.uk crime type (for the map's crime-type filter).
CRIME_TYPE_COLUMNS: tuple[str, ...] = ("unit_kind", "unit", "period", "crime_type", "harm", "incidents")


@dataclass(frozen=True, slots=True)
class ScoringResult:
    """Ranked cells and places of one run, with the metadata that makes it reproducible.

    Attributes
    ----------
    cells, places, periods : pandas.DataFrame
        See the module docstring for their columns.
    crime_types : pandas.DataFrame
        ``periods`` broken down by crime type (:data:`CRIME_TYPE_COLUMNS`).
    metadata : Mapping
        JSON-serialisable: settings, weights (name, version, unverified
        entries), resolution, k and the reason for it, window, seed,
        permutations, data vintage, counts, global Moran's I, concentration,
        weight sensitivity.
    """

    cells: pd.DataFrame
    places: pd.DataFrame
    periods: pd.DataFrame
    metadata: Mapping[str, Any]
    crime_types: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=list(CRIME_TYPE_COLUMNS)))

    def __post_init__(self) -> None:
        for name, frame, columns in (("cells", self.cells, CELL_COLUMNS), ("places", self.places, PLACE_COLUMNS),
                                     ("periods", self.periods, PERIOD_COLUMNS),
                                     ("crime_types", self.crime_types, CRIME_TYPE_COLUMNS)):
            missing = [c for c in columns if c not in frame.columns]
            if missing:
                raise SchemaError(f"ScoringResult.{name} lacks columns", given=str(missing),
                                  fix="build results with harmmap.scoring.pipeline.score")
