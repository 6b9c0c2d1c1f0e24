"""The per-period breakdown of a scoring run, and the run's metadata.

For analysts
------------
``periods`` lists, for every place and every cell with an incident (one of
weight 0, such as anti-social behaviour under ``cchi``, still counts), the harm and
incident count of each period (month, quarter or half-year) of the window:
the series that trend analysis and the six-monthly assessment read.  Only
(unit, period) pairs with at least one incident are listed; a missing pair
means zero.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

import numpy as np
import pandas as pd

from harmmap.geo.cells import cells_to_strings
from harmmap.scoring.aggregate import harm_by_unit

_LORENZ_POINTS = 101


def _long(kind: str, units: np.ndarray, harm: np.ndarray, incidents: np.ndarray, labels: tuple[str, ...]) -> pd.DataFrame:
    unit_index, period_index = np.nonzero(incidents > 0)
    return pd.DataFrame({
        "unit_kind": kind, "unit": units[unit_index], "period": np.asarray(labels, dtype=object)[period_index],
        "harm": harm[unit_index, period_index], "incidents": incidents[unit_index, period_index],
    })


def build_periods(inputs, weighed, primary: str, cells) -> pd.DataFrame:
    """Harm and incidents per (place, period) and (cell with an incident, period), long format."""
    n_periods = len(weighed.period_labels)
    harm = weighed.harm[primary]
    codes, where = weighed.pair_places, weighed.pair_positions
    place = harm_by_unit(codes, harm[where], len(inputs.places), period_codes=weighed.period_codes[where],
                         n_periods=n_periods)
    place_ids = inputs.places["place_id"].astype(str).to_numpy(dtype=object)
    inside = weighed.grid_index >= 0
    active = np.flatnonzero(cells.incidents > 0)
    compact = np.full(inputs.study_cells.size, -1, dtype=np.int64)
    compact[active] = np.arange(active.size)
    cell = harm_by_unit(compact[weighed.grid_index[inside]], harm[inside], active.size,
                        period_codes=weighed.period_codes[inside], n_periods=n_periods)
    cell_ids = cells_to_strings(inputs.study_cells[active]).astype(object)
    return pd.concat([_long("place", place_ids, place.harm, place.incidents, weighed.period_labels),
                      _long("cell", cell_ids, cell.harm, cell.incidents, weighed.period_labels)],
                     ignore_index=True)


def _long_by_type(kind: str, units: np.ndarray, harm: np.ndarray, incidents: np.ndarray, labels: tuple[str, ...],
                  types: list) -> pd.DataFrame:
    unit_index, combined = np.nonzero(incidents > 0)
    return pd.DataFrame({
        "unit_kind": kind, "unit": units[unit_index],
        "period": np.asarray(labels, dtype=object)[combined // len(types)],
        "crime_type": np.asarray(types, dtype=object)[combined % len(types)],
        "harm": harm[unit_index, combined], "incidents": incidents[unit_index, combined],
    })


def build_crime_types(inputs, weighed, primary: str, cells) -> pd.DataFrame:
    """Harm and incidents per (unit, period, crime type), for places and for cells with an incident."""
    codes, types = pd.factorize(inputs.incidents["crime_type"].to_numpy()[weighed.rows], sort=True)
    types = [str(t) for t in types] or ["-"]
    n = len(weighed.period_labels) * len(types)
    combined = weighed.period_codes * len(types) + codes
    harm = weighed.harm[primary]
    where = weighed.pair_positions
    place = harm_by_unit(weighed.pair_places, harm[where], len(inputs.places), period_codes=combined[where],
                         n_periods=n)
    inside = weighed.grid_index >= 0
    active = np.flatnonzero(cells.incidents > 0)
    compact = np.full(inputs.study_cells.size, -1, dtype=np.int64)
    compact[active] = np.arange(active.size)
    cell = harm_by_unit(compact[weighed.grid_index[inside]], harm[inside], active.size,
                        period_codes=combined[inside], n_periods=n)
    labels = weighed.period_labels
    return pd.concat([
        _long_by_type("place", inputs.places["place_id"].astype(str).to_numpy(dtype=object), place.harm,
                      place.incidents, labels, types),
        _long_by_type("cell", cells_to_strings(inputs.study_cells[active]).astype(object), cell.harm, cell.incidents,
                      labels, types)], ignore_index=True)


def _concentration(summary) -> dict[str, Any] | None:
    if summary is None:
        return None
    lorenz = summary.lorenz
    pick = np.unique(np.linspace(0, lorenz.population_share.size - 1, _LORENZ_POINTS).round().astype(int))
    return {"units": summary.n_units, "total_harm": summary.total_harm, "gini": summary.gini,
            "generalised_gini": summary.generalised_gini, "sparse": summary.sparse,
            "top_shares": {f"{k:g}": v for k, v in summary.top_shares.items()},
            "lorenz": {"population_share": lorenz.population_share[pick].tolist(),
                       "harm_share": lorenz.harm_share[pick].tolist()}}


def _normal_approximation(incidents: int, cells: int, k: int) -> dict[str, Any]:
    """Whether Gi*'s analytic p-values can be trusted: expected incidents per neighbourhood >= 5.

    A neighbourhood of ``3k(k+1) + 1`` cells holds on average ``incidents /
    cells`` times that many incidents; below about 5 the sum is far from
    normal (the usual rule for the normal approximation of Poisson counts)
    and analytic Gi* calls single incidents hot spots.
    """
    size = 3 * k * (k + 1) + 1
    expected = incidents / cells * size if cells else 0.0
    return {"expected_incidents_per_neighbourhood": expected, "neighbourhood_cells": size,
            "adequate": bool(expected >= 5.0)}


def _weights(inputs) -> dict[str, Any]:
    return {name: {"version": w.version, "asb_policy": w.asb_policy, "sources": list(w.sources),
                   "unverified": list(w.unverified)} for name, w in inputs.weights.items()}


def _finite(value: Any) -> Any:
    """Replace NaN and infinities by None, recursively (strict JSON has no NaN)."""
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    if isinstance(value, (float, np.floating)):
        return float(value) if np.isfinite(value) else None
    if isinstance(value, np.integer):
        return int(value)
    return value


def summarise_run(inputs, settings, weighed, k: int, scale, cells, places) -> dict[str, Any]:
    """The JSON-ready metadata that makes a run explainable and reproducible (NaN becomes null)."""
    return _finite(_summary(inputs, settings, weighed, k, scale, cells, places))


def _summary(inputs, settings, weighed, k: int, scale, cells, places) -> dict[str, Any]:
    inside = weighed.grid_index >= 0
    primary = weighed.harm[settings.weights]
    moran = cells.global_moran
    return {
        "settings": settings.to_dict(),
        "weights": _weights(inputs),
        "resolution": settings.resolution,
        "k": k,
        "k_choice": None if scale is None else {
            "rule": scale.rule, "reason": scale.reason,
            "candidates": [asdict(c) for c in scale.table]},
        "window": {"first": weighed.period_labels[0], "last": weighed.period_labels[-1],
                   "periods": list(weighed.period_labels)},
        "totals": {"incidents": int(weighed.rows.size), "harm": float(primary.sum()),
                   "incidents_in_study_area": int(inside.sum()), "harm_in_study_area": float(primary[inside].sum()),
                   "incidents_outside_study_area": int((~inside).sum()),
                   "incident_place_pairs": places.pairs_in_window},
        "grid": {"cells": int(inputs.study_cells.size), "cells_with_harm": int((cells.harm > 0).sum()),
                 "hot_cells_95": int((cells.gi_bin >= 2).sum()), "cold_cells_95": int((cells.gi_bin <= -2).sum())},
        "normal_approximation": _normal_approximation(int(inside.sum()), inputs.study_cells.size, k),
        "global_moran": {"moran_i": moran.moran_i, "expected_i": moran.expected_i, "moran_z": moran.moran_z,
                         "moran_p": moran.moran_p, "variance": "randomisation"},
        "concentration": {"cells": _concentration(cells.concentration), "places": _concentration(places.concentration)},
        "sensitivity": {"cells": {n: asdict(s) for n, s in cells.sensitivity.items()},
                        "places": {n: asdict(s) for n, s in places.sensitivity.items()}},
        "context": dict(inputs.context),
    }
