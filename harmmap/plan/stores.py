"""The persistent-crime store list: where a dedicated store team should go first.

For planners
------------
A security team that cannot be everywhere should work the stores whose crime
is *localised* (it happens at the store itself, in the retailer's own incident
log) and *persistent or intensifying* (it keeps happening, or is growing,
there and around it).  Each store gets reason codes from two sources:

Its surroundings: the emerging hot spot class of the store's grid cell (a
trends run, :mod:`harmmap.scoring.emerging`: Gi* hot spots over time, ArcGIS
Emerging Hot Spot definitions):

``PERSISTENT_HOT_SPOT``
    a persistent hot spot (hot in at least 90 % of periods, no trend);
``INTENSIFYING_HOT_SPOT``
    an intensifying hot spot (hot in at least 90 % of periods and getting hotter);
``NEW_HOT_SPOT``
    a new or consecutive hot spot (recently became hot and stayed hot);
``RECURRING_HOT_SPOT``
    a sporadic or oscillating hot spot (hot now, and on and off before).

Its own incidents (the retailer's log; counts per month over the window):

``OWN_INCIDENTS_HIGH``
    in the top ``high_share`` (10 %) of stores by harm of its own incidents in
    the last ``recent_months`` (6), with at least ``min_incidents`` of them;
``OWN_INCIDENTS_RISING``
    a significant increasing Mann-Kendall trend of its monthly incident
    counts over the window (``p < trend_alpha``), with at least
    ``min_incidents`` recent incidents;
``OWN_INCIDENTS_PERSISTENT``
    incidents in at least ``persistent_share`` (90 %) of the last
    ``persistent_months`` (12) months, as the 90 % rule of persistent hot spots.

Ranking.  Tier 1: a surroundings code and an own-incidents code (localised
*and* in a hot area); tier 2: own-incidents codes only (a problem store in a
quiet area); tier 3: surroundings codes only (a store in a hot area without a
high own count: maybe under-reporting, maybe well protected).  Within a tier:
harm of own recent incidents, then their count, then the cell's forecast harm,
all descending.  Stores without any code are not listed.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from harmmap.errors import ConfigError, SchemaError
from harmmap.scoring.trend import MIN_PERIODS, mann_kendall, sens_slope

#: emerging class of the store's cell -> reason code.
SURROUNDINGS_CODES: dict[str, str] = {
    "persistent_hot_spot": "PERSISTENT_HOT_SPOT",
    "intensifying_hot_spot": "INTENSIFYING_HOT_SPOT",
    "new_hot_spot": "NEW_HOT_SPOT",
    "consecutive_hot_spot": "NEW_HOT_SPOT",
    "sporadic_hot_spot": "RECURRING_HOT_SPOT",
    "oscillating_hot_spot": "RECURRING_HOT_SPOT",
}
OWN_CODES = ("OWN_INCIDENTS_HIGH", "OWN_INCIDENTS_RISING", "OWN_INCIDENTS_PERSISTENT")
REASON_CODES = (*dict.fromkeys(SURROUNDINGS_CODES.values()), *OWN_CODES)


@dataclass(frozen=True, slots=True)
class StoreListSettings:
    """Thresholds of the reason codes (see the module docstring)."""

    recent_months: int = 6
    high_share: float = 0.10
    min_incidents: int = 3
    persistent_months: int = 12
    persistent_share: float = 0.9
    trend_alpha: float = 0.05


@dataclass(frozen=True, slots=True)
class StoreList:
    """Every store with its measures and codes; ``listed`` is the ranked list.

    Attributes
    ----------
    stores : pandas.DataFrame
        The input store columns plus ``rank`` (0 = not listed), ``tier``,
        ``reasons`` ("; "-joined codes), ``cell_class``, ``cell_forecast_harm``,
        ``own_incidents_recent``, ``own_incidents_previous``,
        ``own_harm_recent``, ``own_active_months``, ``own_trend_z``,
        ``own_trend_p``, ``own_slope`` (incidents per month), in rank order.
    months : tuple of str
        The months of the incident window, oldest first.
    settings : StoreListSettings
    """

    stores: pd.DataFrame
    months: tuple[str, ...]
    settings: StoreListSettings

    @property
    def listed(self) -> pd.DataFrame:
        """Stores with at least one reason code, by rank."""
        return self.stores[self.stores["rank"] > 0].reset_index(drop=True)


def _check(stores: pd.DataFrame, cells: pd.DataFrame, incidents: pd.DataFrame, s: StoreListSettings) -> None:
    for frame, name, needed in ((stores, "stores", {"store_id", "cell"}), (cells, "cells", {"cell", "emerging_class"}),
                                (incidents, "incidents", {"store_id", "month"})):
        missing = needed - set(frame.columns)
        if missing:
            raise SchemaError(f"{name} lacks columns", given=sorted(missing), fix=f"give {sorted(needed)}")
    if not (s.recent_months >= 1 and 0 < s.high_share <= 1 and s.min_incidents >= 1 and s.persistent_months >= 1
            and 0 < s.persistent_share <= 1 and 0 < s.trend_alpha < 1):
        raise ConfigError("store list settings out of range", given=s, fix="see StoreListSettings")


def _month_axis(incidents: pd.DataFrame, months) -> tuple[str, ...]:
    labels = pd.to_datetime(incidents["month"]).dt.strftime("%Y-%m")
    if months is not None:
        return tuple(str(m)[:7] for m in months)
    if labels.empty:
        return ()
    span = pd.period_range(labels.min(), labels.max(), freq="M")
    return tuple(str(p) for p in span)


def _own_series(stores: pd.DataFrame, incidents: pd.DataFrame, months: tuple[str, ...]):
    """(stores x months) incident counts and harm."""
    store_index = pd.Index(stores["store_id"].astype(str)).get_indexer(incidents["store_id"].astype(str))
    month_index = pd.Index(months).get_indexer(pd.to_datetime(incidents["month"]).dt.strftime("%Y-%m"))
    keep = (store_index >= 0) & (month_index >= 0)
    flat = store_index[keep] * len(months) + month_index[keep]
    harm = incidents["harm"].to_numpy(np.float64)[keep] if "harm" in incidents else np.ones(keep.sum())
    size = len(stores) * len(months)
    counts = np.bincount(flat, minlength=size).reshape(len(stores), len(months)).astype(np.float64)
    return counts, np.bincount(flat, weights=harm, minlength=size).reshape(len(stores), len(months))


def _measures(counts: np.ndarray, harm: np.ndarray, s: StoreListSettings) -> dict[str, np.ndarray]:
    n, periods = counts.shape
    recent = counts[:, -s.recent_months:].sum(axis=1) if periods else np.zeros(n)
    previous = counts[:, -2 * s.recent_months:-s.recent_months].sum(axis=1) if periods > s.recent_months \
        else np.zeros(n)
    if periods >= MIN_PERIODS and n:
        trend, slope = mann_kendall(counts, alpha=s.trend_alpha), sens_slope(counts).slope
        z, p, rising = trend.z, trend.p, trend.trend > 0
    else:
        z, p, slope, rising = np.zeros(n), np.ones(n), np.zeros(n), np.zeros(n, dtype=bool)
    return {"own_incidents_recent": recent.astype(np.int64), "own_incidents_previous": previous.astype(np.int64),
            "own_harm_recent": harm[:, -s.recent_months:].sum(axis=1) if periods else np.zeros(n),
            "own_active_months": (counts[:, -s.persistent_months:] > 0).sum(axis=1).astype(np.int64),
            "own_trend_z": z, "own_trend_p": p, "own_slope": slope, "_rising": rising}


def _own_codes(m: dict[str, np.ndarray], s: StoreListSettings, periods: int) -> dict[str, np.ndarray]:
    enough = m["own_incidents_recent"] >= s.min_incidents
    harm = m["own_harm_recent"]
    top = max(1, int(np.ceil(s.high_share * harm.size))) if harm.size else 0
    threshold = np.sort(harm)[::-1][top - 1] if top else np.inf
    window = min(s.persistent_months, periods)
    needed = max(1, int(np.ceil(s.persistent_share * window - 1e-9)))
    return {"OWN_INCIDENTS_HIGH": enough & (harm >= threshold) & (harm > 0),
            "OWN_INCIDENTS_RISING": enough & m.pop("_rising"),
            "OWN_INCIDENTS_PERSISTENT": (m["own_active_months"] >= needed) & (window > 0)}


def list_persistent_stores(stores: pd.DataFrame, cells: pd.DataFrame, incidents: pd.DataFrame, *,
                           months=None, settings: StoreListSettings = StoreListSettings()) -> StoreList:
    """Rank stores with localised and persistent or intensifying crime, with reason codes.

    Parameters
    ----------
    stores : pandas.DataFrame
        One row per store: ``store_id``, ``cell`` (uint64, the resolution of
        ``cells``); other columns (name, coordinates) are passed through.
    cells : pandas.DataFrame
        A trends run's cells: ``cell``, ``emerging_class``, optionally ``forecast_harm``.
    incidents : pandas.DataFrame
        The stores' own incidents: ``store_id``, ``month`` (date or "YYYY-MM"),
        optionally ``harm`` (else each incident counts 1).
    months : sequence of str, optional
        The window's months, oldest first (default: first to last month of ``incidents``).
    settings : StoreListSettings

    Returns
    -------
    StoreList
    """
    _check(stores, cells, incidents, settings)
    axis = _month_axis(incidents, months)
    counts, harm = _own_series(stores, incidents, axis)
    measures = _measures(counts, harm, settings)
    codes = _own_codes(measures, settings, len(axis))
    position = pd.Index(cells["cell"].to_numpy(np.uint64)).get_indexer(stores["cell"].to_numpy(np.uint64))
    found = position >= 0
    cell_class = np.where(found, cells["emerging_class"].to_numpy(dtype=object)[position], "no_data")
    forecast = cells["forecast_harm"].to_numpy(np.float64)[position] if "forecast_harm" in cells \
        else np.full(len(stores), np.nan)
    surroundings = pd.Series(cell_class).map(SURROUNDINGS_CODES).fillna("").to_numpy(dtype=object)
    own = np.array(["; ".join(c for c in OWN_CODES if codes[c][i]) for i in range(len(stores))], dtype=object)
    reasons = ["; ".join(part for part in (a, b) if part) for a, b in zip(surroundings, own)]
    has_own, has_area = own != "", surroundings != ""
    tier = np.where(has_own & has_area, 1, np.where(has_own, 2, np.where(has_area, 3, 0)))
    table = stores.reset_index(drop=True).assign(
        tier=tier, reasons=reasons, cell_class=cell_class, cell_forecast_harm=np.where(found, forecast, np.nan),
        **measures)
    listed = tier > 0
    order = np.lexsort((table["store_id"].astype(str).to_numpy(), -np.nan_to_num(table["cell_forecast_harm"]),
                        -table["own_incidents_recent"], -table["own_harm_recent"], np.where(listed, tier, 9)))
    table = table.iloc[order].reset_index(drop=True)
    table.insert(0, "rank", np.where(table["tier"] > 0, np.arange(1, len(table) + 1), 0))
    return StoreList(table, axis, settings)
