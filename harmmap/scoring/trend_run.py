"""One trends run: emerging hotspots of cells and places, place trends, and forecasts.

For analysts
------------
``analyse_trends`` answers "is this hotspot new, intensifying, persistent or
fading, and where will harm be next?":

1. the incidents of the window are weighed (as in scoring) and summed into a
   space-time cube of cells x periods (monthly by default,
   :mod:`harmmap.scoring.cube`), and into one harm series per place;
2. every bin is tested with Gi* (FDR-controlled), each cell's series of
   z-scores gets a Mann-Kendall trend test (:mod:`harmmap.scoring.trend`),
   and the two are combined into the 17 ArcGIS Emerging Hot Spot classes
   (:mod:`harmmap.scoring.emerging`);
3. each place is tested the same way with its own cells as the neighbourhood
   (so a town centre gets an emerging class too), and its harm series gets a
   Mann-Kendall test, a Sen's slope (harm per period), and its change against
   the previous six months and against the same months a year earlier;
4. the chosen forecaster (:mod:`harmmap.scoring.forecast`) predicts the harm
   of the next ``horizon`` periods for every cell and place.

The cube holds harm by default (``value="harm"``) or incident counts
(``value="count"``, as ArcGIS's cube of point counts).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Mapping

import numpy as np
import pandas as pd
import scipy.sparse as sp

from harmmap.errors import ConfigError
from harmmap.geo.cells import cells_to_strings
from harmmap.geo.grid import cells_to_neighbours
from harmmap.scoring.cube import SpaceTimeGi, incidents_to_cube, space_time_gi_star, zone_space_time_gi_star
from harmmap.scoring.emerging import classify_emerging, codes_to_keys
from harmmap.scoring.forecast import DEFAULT_FORECASTER, cells_to_rings, forecast
from harmmap.scoring.pipeline import ScoringInputs, ScoringSettings, weigh_incidents
from harmmap.scoring.place_trends import measure_changes
from harmmap.scoring.trend import mann_kendall, sens_slope

VALUES = ("harm", "count")
_MONTHS = {"month": 1, "quarter": 3, "half": 6}


@dataclass(frozen=True, slots=True)
class TrendSettings:
    """What a trends run is asked to do (persisted with the result).

    Attributes
    ----------
    resolution, k, weights
        Grid resolution, neighbourhood rings and harm table, as in scoring.
    period : {"month", "quarter", "half"}
        Length of a time step of the cube.
    window : tuple of str or None
        First and last month of the cube (``None``: all months with data).
    value : {"harm", "count"}
        What the cube sums.
    time_steps : int
        Earlier periods inside a bin's neighbourhood.
    global_window : {"cube", "slice"}
    fdr, alpha
        Multiple-testing control and significance level of hot/cold bins.
    trend_alpha : float
        Significance level of the Mann-Kendall trends.
    forecaster : str
        Forecasting model (:data:`harmmap.scoring.forecast.FORECASTERS`).
    horizon : int
        Periods ahead to forecast.
    forecast_rings : int
        Rings of the spatial kernels of the forecasters.
    """

    resolution: int = 9
    k: int = 1
    weights: str = "cchi"
    period: str = "month"
    window: tuple[str, str] | None = None
    value: str = "harm"
    time_steps: int = 0
    global_window: str = "cube"
    fdr: bool = True
    alpha: float = 0.05
    trend_alpha: float = 0.05
    forecaster: str = DEFAULT_FORECASTER
    horizon: int = 6
    forecast_rings: int = 2

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready settings."""
        out = asdict(self)
        out["window"] = list(self.window) if self.window else None
        return out


@dataclass(frozen=True, slots=True)
class TrendResult:
    """Tables of a trends run (see :func:`analyse_trends` for their columns)."""

    cells: pd.DataFrame
    places: pd.DataFrame
    periods: pd.DataFrame
    metadata: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class _Cubes:
    harm: np.ndarray
    count: np.ndarray
    place_harm: np.ndarray
    place_count: np.ndarray
    labels: tuple[str, ...]


def _check(settings: TrendSettings) -> None:
    if settings.period not in _MONTHS:
        raise ConfigError("trends need a regular time step", given=repr(settings.period),
                          fix=f"use one of {sorted(_MONTHS)}")
    if settings.value not in VALUES:
        raise ConfigError("unknown cube value", given=repr(settings.value), fix=f"use one of {VALUES}")
    if isinstance(settings.horizon, bool) or not isinstance(settings.horizon, int) or settings.horizon < 1:
        raise ConfigError("the forecast horizon must be at least one period", given=repr(settings.horizon))


def build_cubes(inputs: ScoringInputs, settings: TrendSettings) -> _Cubes:
    """Weigh the window's incidents and sum them into the cell and place cubes."""
    scoring = ScoringSettings(resolution=settings.resolution, k=settings.k, period=settings.period,
                              window=settings.window, weights=settings.weights)
    weighed = weigh_incidents(inputs, scoring)
    n_periods = len(weighed.period_labels)
    if n_periods < 3:
        raise ConfigError("a trend needs at least three periods", given=f"{n_periods} ({', '.join(weighed.period_labels)})",
                          fix="widen --window or use a shorter --period")
    harm = weighed.harm[settings.weights]
    ones = np.ones(harm.size)
    n_cells, n_places = inputs.study_cells.size, len(inputs.places)
    cube = incidents_to_cube(weighed.grid_index, weighed.period_codes, harm, n_cells, n_periods)
    counts = incidents_to_cube(weighed.grid_index, weighed.period_codes, ones, n_cells, n_periods)
    place_period = weighed.period_codes[weighed.pair_positions]
    if n_places:
        place_harm = incidents_to_cube(weighed.pair_places, place_period, harm[weighed.pair_positions], n_places, n_periods)
        place_count = incidents_to_cube(weighed.pair_places, place_period, ones[weighed.pair_positions], n_places,
                                        n_periods)
    else:
        place_harm = place_count = np.zeros((0, n_periods))
    return _Cubes(cube, counts, place_harm, place_count, weighed.period_labels)


def _membership(inputs: ScoringInputs, n_cells: int) -> sp.csr_matrix:
    """Places x grid cells (cells whose centre is inside the place)."""
    cells = np.asarray(inputs.place_cells, dtype=np.uint64)
    position = np.minimum(np.searchsorted(inputs.study_cells, cells), max(n_cells - 1, 0))
    inside = inputs.study_cells[position] == cells
    places = np.asarray(inputs.place_cell_places, dtype=np.int64)[inside]
    data = np.ones(places.size)
    matrix = sp.csr_matrix((data, (places, position[inside])), shape=(len(inputs.places), n_cells))
    matrix.data[:] = 1.0
    return matrix


def _classify(gi: SpaceTimeGi, trend_alpha: float) -> tuple[np.ndarray, Any]:
    trend = mann_kendall(gi.gi_z, alpha=trend_alpha)
    return classify_emerging(gi.hot, gi.cold, trend.z, trend.p, trend_alpha=trend_alpha), trend


def _final_run(flags: np.ndarray) -> np.ndarray:
    """Length of the run of True at the end of each row."""
    reversed_flags = flags[:, ::-1]
    first_false = np.argmin(reversed_flags, axis=1)
    return np.where(reversed_flags.all(axis=1), flags.shape[1], first_false)


def _forecasts(cubes: _Cubes, settings: TrendSettings, cells: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    values = cubes.harm if settings.value == "harm" else cubes.count
    rings = cells_to_rings(cells, settings.forecast_rings)
    cell_forecast = forecast(values, settings.forecaster, horizon=settings.horizon, rings=rings)
    place_values = cubes.place_harm if settings.value == "harm" else cubes.place_count
    place_forecast = (forecast(place_values, settings.forecaster, horizon=settings.horizon)
                      if len(place_values) else np.zeros(0))
    return cell_forecast, place_forecast


def _forecast_rank(values: np.ndarray, tie_break: np.ndarray) -> np.ndarray:
    """1 = highest forecast; ties broken by ``tie_break`` ascending, so ranks are a permutation."""
    order = np.lexsort((tie_break, -values))
    ranks = np.empty(values.size, dtype=np.int64)
    ranks[order] = np.arange(1, values.size + 1)
    return ranks


def _unit_columns(gi: SpaceTimeGi, codes: np.ndarray, trend) -> dict[str, np.ndarray]:
    """Emerging-class columns shared by cells and places."""
    return {
        "emerging_class": codes_to_keys(codes),
        "emerging_code": codes.astype(np.int8),
        "hot_bins": gi.hot.sum(axis=1).astype(np.int32),
        "cold_bins": gi.cold.sum(axis=1).astype(np.int32),
        "final_run": np.maximum(_final_run(gi.hot), _final_run(gi.cold)).astype(np.int32),
        "final_gi_z": gi.gi_z[:, -1],
        "final_gi_bin": gi.gi_bin[:, -1],
        "trend_z": trend.z,
        "trend_p": trend.p,
    }


def _cell_table(cells: np.ndarray, cubes: _Cubes, gi: SpaceTimeGi, codes: np.ndarray, trend,
                cell_forecast: np.ndarray) -> pd.DataFrame:
    """Cells with any incident, a pattern or a forecast."""
    harm_total, count_total = cubes.harm.sum(axis=1), cubes.count.sum(axis=1)
    keep = np.flatnonzero((count_total > 0) | (codes != 0) | (cell_forecast > 0))
    patterned = codes[keep] != 0
    slope = np.full(keep.size, np.nan)
    if patterned.any():
        slope[patterned] = sens_slope(cubes.harm[keep[patterned]]).slope
    columns = {key: value[keep] for key, value in _unit_columns(gi, codes, trend).items()}
    return pd.DataFrame({
        "cell": cells[keep],
        **columns,
        "harm_total": harm_total[keep],
        "incidents_total": count_total[keep].astype(np.int64),
        "harm_last": cubes.harm[keep, -1],
        "harm_slope": slope,
        "forecast_harm": cell_forecast[keep],
        "forecast_rank": _forecast_rank(cell_forecast, np.arange(cells.size))[keep],
    })


def _place_table(inputs: ScoringInputs, cubes: _Cubes, gi: SpaceTimeGi, codes: np.ndarray, trend,
                 place_forecast: np.ndarray, settings: TrendSettings) -> pd.DataFrame:
    per_period = _MONTHS[settings.period]
    span, year = max(1, 6 // per_period), 12 // per_period
    changes = measure_changes(cubes.place_harm, span=span, year=year)
    counted = measure_changes(cubes.place_count, span=span, year=year)
    harm_trend = mann_kendall(cubes.place_harm, alpha=settings.trend_alpha)
    places = inputs.places
    return pd.DataFrame({
        "place_id": places["place_id"].to_numpy(),
        "name": places["name"].to_numpy(),
        "kind": places["kind"].to_numpy(),
        **_unit_columns(gi, codes, trend),
        "harm_total": cubes.place_harm.sum(axis=1),
        "incidents_total": cubes.place_count.sum(axis=1).astype(np.int64),
        "harm_recent": changes.recent,
        "incidents_recent": counted.recent,
        "incidents_previous": counted.previous,
        "incidents_year_ago": counted.year_ago,
        "harm_previous": changes.previous,
        "harm_year_ago": changes.year_ago,
        "change_previous_pct": changes.change_previous_pct,
        "change_year_pct": changes.change_year_pct,
        "harm_trend_z": harm_trend.z,
        "harm_trend_p": harm_trend.p,
        "harm_trend_tau": harm_trend.tau,
        "harm_slope": sens_slope(cubes.place_harm).slope,
        "forecast_harm": place_forecast,
        "forecast_rank": _forecast_rank(place_forecast, np.arange(len(places))),
    })



def _period_table(kind: str, units: np.ndarray, harm: np.ndarray, count: np.ndarray, gi: SpaceTimeGi,
                  rows: np.ndarray, labels: tuple[str, ...]) -> pd.DataFrame:
    """Long table (unit, period) of the given rows of a cube."""
    n_periods = len(labels)
    return pd.DataFrame({
        "kind": kind,
        "unit": np.repeat(units, n_periods),
        "period": np.tile(np.asarray(labels, dtype=object), rows.size),
        "harm": harm[rows].ravel(),
        "incidents": count[rows].ravel().astype(np.int64),
        "gi_z": gi.gi_z[rows].ravel(),
        "gi_bin": gi.gi_bin[rows].ravel(),
    })


def _class_counts(codes: np.ndarray) -> dict[str, int]:
    values, counts = np.unique(codes, return_counts=True)
    return {str(key): int(n) for key, n in zip(codes_to_keys(values), counts)}


def _metadata(inputs: ScoringInputs, settings: TrendSettings, cubes: _Cubes, cell_codes: np.ndarray,
              place_codes: np.ndarray) -> dict[str, Any]:
    return {
        "kind": "trends",
        "settings": settings.to_dict(),
        "periods": list(cubes.labels),
        "study_cells": int(inputs.study_cells.size),
        "totals": {"incidents": int(cubes.count.sum()), "harm": float(cubes.harm.sum())},
        "cell_classes": _class_counts(cell_codes),
        "place_classes": _class_counts(place_codes),
        "forecast": {"model": settings.forecaster, "horizon": settings.horizon, "value": settings.value},
        "weights_version": inputs.weights[settings.weights].version,
        "context": dict(inputs.context),
    }


def analyse_trends(inputs: ScoringInputs, settings: TrendSettings) -> TrendResult:
    """Run emerging hotspot analysis, place trends and forecasts.

    Parameters
    ----------
    inputs : ScoringInputs
        As for :func:`harmmap.scoring.pipeline.score`.
    settings : TrendSettings

    Returns
    -------
    TrendResult
        ``cells``: one row per cell with an incident, a pattern or a forecast:
        ``cell``, ``emerging_class`` (key of :data:`harmmap.scoring.emerging.EMERGING_CODES`),
        ``emerging_code``, ``hot_bins``, ``cold_bins``, ``final_run``, ``final_gi_z``,
        ``final_gi_bin``, ``trend_z``/``trend_p`` (Mann-Kendall of the Gi* z series),
        ``harm_total``, ``incidents_total``, ``harm_last``, ``harm_slope`` (Sen's slope of
        harm per period, patterned cells only), ``forecast_harm``, ``forecast_rank``.
        ``places``: one row per place with the same class columns, the half-year
        changes, a Mann-Kendall test and Sen's slope of its harm series, and its forecast.
        ``periods``: long table (``kind`` cell|place, ``unit``, ``period``, ``harm``,
        ``incidents``, ``gi_z``, ``gi_bin``) of every place and of the patterned cells.
    """
    _check(settings)
    cubes = build_cubes(inputs, settings)
    values = cubes.harm if settings.value == "harm" else cubes.count
    cells = inputs.study_cells
    gi = space_time_gi_star(values, cells_to_neighbours(cells, settings.k), time_steps=settings.time_steps,
                            global_window=settings.global_window, fdr=settings.fdr, alpha=settings.alpha)
    cell_codes, cell_trend = _classify(gi, settings.trend_alpha)
    membership = _membership(inputs, cells.size)
    place_gi = zone_space_time_gi_star(values, membership, time_steps=settings.time_steps,
                                       global_window=settings.global_window, fdr=settings.fdr, alpha=settings.alpha)
    place_codes, place_trend = _classify(place_gi, settings.trend_alpha)
    cell_forecast, place_forecast = _forecasts(cubes, settings, cells)
    cell_table = _cell_table(cells, cubes, gi, cell_codes, cell_trend, cell_forecast)
    places = _place_table(inputs, cubes, place_gi, place_codes, place_trend, place_forecast, settings)
    patterned = np.flatnonzero(cell_codes != 0)
    periods = pd.concat([
        _period_table("place", places["place_id"].to_numpy(dtype=object), cubes.place_harm, cubes.place_count,
                      place_gi, np.arange(len(places)), cubes.labels),
        _period_table("cell", cells_to_strings(cells[patterned]).astype(object), cubes.harm, cubes.count,
                      gi, patterned, cubes.labels),
    ], ignore_index=True)
    metadata = _metadata(inputs, settings, cubes, cell_codes, place_codes)
    return TrendResult(cells=cell_table, places=places, periods=periods, metadata=metadata)
