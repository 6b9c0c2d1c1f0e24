"""The place table of a scoring run: harm, rates, Gi* and rank per place.

For analysts
------------
A place's harm is the harm of the incidents inside its boundary (an incident
in two overlapping places counts in both).  Rates are per km2 and per store
of the retailers in the workspace (NaN when a place has none).  ``gi_*``
tests whether the place holds more harm than the same number of random
study-grid cells (:mod:`harmmap.scoring.zones`); a place with no cell in the
study area is not tested (``gi_z``, ``gi_p``, ``gi_q`` NaN, ``gi_bin`` 0); ``hot_cells`` counts its
cells in a Gi* hot spot at 95 % or more.  Ranks carry a Poisson-bootstrap
interval and ``p_top_n``, the share of bootstrap replicates in which the
place is in the top N.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from harmmap.scoring.aggregate import harm_by_unit, rates_per_area, rates_per_store
from harmmap.scoring.cell_table import CellStats, classify_gi, measure_sensitivity
from harmmap.scoring.concentration import Concentration, summarise_concentration
from harmmap.scoring.ranking import WeightSensitivity, bootstrap_rank_intervals, rank_by_harm
from harmmap.scoring.zones import gi_star_zones, zones_to_membership


@dataclass(frozen=True, slots=True)
class PlaceStats:
    """Place-wide results for the run metadata."""

    harm: np.ndarray
    incidents: np.ndarray
    concentration: Concentration | None
    sensitivity: dict[str, WeightSensitivity]
    pairs_in_window: int


def _membership(inputs, n_places: int):
    cells = np.asarray(inputs.place_cells, dtype=np.uint64)
    position = np.minimum(np.searchsorted(inputs.study_cells, cells), max(inputs.study_cells.size - 1, 0))
    inside = inputs.study_cells[position] == cells
    return zones_to_membership(np.asarray(inputs.place_cell_places)[inside], position[inside],
                               n_places, inputs.study_cells.size)


def build_places(inputs, settings, weighed, cells: CellStats) -> tuple[pd.DataFrame, PlaceStats]:
    """Sum, test and rank every place; return the table and the place-wide stats."""
    places = inputs.places.reset_index(drop=True)
    n = len(places)
    codes, where = weighed.pair_places, weighed.pair_positions
    unit = {name: harm_by_unit(codes, h[where], n) for name, h in weighed.harm.items()}
    harm, incidents = unit[settings.weights].harm, unit[settings.weights].incidents
    membership = _membership(inputs, n)
    zone = gi_star_zones(cells.harm, membership, permutations=settings.place_draws, seed=settings.seed + 3)
    rand = np.minimum(1.0, 2.0 * zone.gi_p_sim)  # a place is not a cell: its randomisation is the only one
    hot = membership @ (cells.gi_bin >= 2).astype(np.float64)
    untested = zone.cells == 0  # outside the study area: no test, not "not significant"
    gi_z, gi_p, gi_p_rand = (np.where(untested, np.nan, a) for a in (zone.gi_z, zone.gi_p, rand))
    gi_q, gi_bin = classify_gi(settings, zone.gi_z, analytic=gi_p, randomisation=gi_p_rand, conditional=zone.gi_p_sim)
    table = pd.DataFrame({
        "place_id": places["place_id"].astype(str), "kind": places["kind"].astype(str),
        "name": places["name"].astype(str), "code": places["code"],
        "harm": harm, "incidents": incidents, "area_km2": places["area_km2"].to_numpy(float),
        "harm_per_km2": rates_per_area(harm, places["area_km2"].to_numpy(float)),
        "stores": places["stores"].to_numpy(np.int64),
        "harm_per_store": rates_per_store(harm, places["stores"].to_numpy(np.int64)),
        "cells": zone.cells, "hot_cells": hot.astype(np.int64),
        "gi_z": gi_z, "gi_p": gi_p, "gi_p_rand": gi_p_rand,
        "gi_q": gi_q, "gi_bin": gi_bin,
    })
    _add_ranks(table, codes, weighed.harm[settings.weights][where], settings)
    for name, other in unit.items():
        if name != settings.weights:
            table[f"harm_{name}"] = other.harm
    stats = PlaceStats(harm, incidents, summarise_concentration(harm, incidents=incidents) if n else None,
                       measure_sensitivity(unit, settings.weights, settings.top_n) if n else {}, int(codes.size))
    return table.sort_values("rank", kind="stable").reset_index(drop=True), stats


def _add_ranks(table: pd.DataFrame, codes: np.ndarray, harm: np.ndarray, settings) -> None:
    n = len(table)
    if n == 0:
        for column in ("rank", "rank_low", "rank_high"):
            table[column] = pd.Series([], dtype="int64")
        table["p_top_n"] = pd.Series([], dtype="float64")
        return
    table["rank"] = rank_by_harm(table["harm"].to_numpy(), tie_break=table["place_id"].to_numpy())
    intervals = bootstrap_rank_intervals(codes, harm, n, top_n=min(settings.top_n, n),
                                         replicates=settings.replicates, seed=settings.seed + 4)
    table["rank_low"], table["rank_high"], table["p_top_n"] = intervals.rank_low, intervals.rank_high, intervals.p_top_n
