"""Vectorised generation of simulated police.uk crimes, month by month.

A :class:`Scenario` fixes everything that does not change between months: the
towns and their map points, each point's share of background crime, the
planted hotspots with their monthly profiles, the stores and the retailer's
incident log.  :func:`generate_month` then draws one month of police.uk rows
as integer codes (map point, crime type, outcome) plus Crime ID bytes; nothing
loops over rows.

Each month holds exactly ``incidents_per_month`` rows (unless the planted and
store-linked rows alone exceed it): background rows around the towns (denser
in the centres, 2.5 % ``No Location``), planted rows at map points inside the
planted cells, and the police rows the retailer's ``Police Ref`` values point to.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import shapely
from h3ronpy.vector import cells_to_coordinates

from harmmap.schema import CRIME_TYPES
from harmmap.simulate.boundaries import towns_to_polygons
from harmmap.simulate.patterns import PATTERNS, PLANTED_TYPES, build_profile
from harmmap.simulate.points import SnapPoints, build_snap_points
from harmmap.simulate.retailer import (
    CATEGORIES, LINKED_CRIME_TYPES, RetailerIncidents, Stores, build_retailer_incidents, build_stores,
)
from harmmap.simulate.towns import Town

ASB = CRIME_TYPES.index("Anti-social behaviour")
NO_LOCATION_SHARE = 0.025
PLANT_MULTIPLIER = 3.0  # planted rate >= 3x the cell's own expected background ...
PLANT_CENTRE_MULTIPLIER = 2.0  # ... and >= 2x the mean background of its town's centre cells
PLANT_MIN_RATE = 6.0
ASB_REPEAT_SHARE = 0.1

#: Background crime-type mix (percent, in CRIME_TYPES order) away from and in town centres.
_TYPE_MIX = np.array([
    [12, 1.2, 7, 9, 2.5, 2, 7.5, 0.8, 7.5, 0.8, 6, 0.7, 8, 35],
    [12, 2, 1, 4, 3.5, 1, 8, 1, 9, 1.5, 24, 4, 1, 28],
], dtype=float)

OUTCOMES: tuple[str, ...] = (
    "Investigation complete; no suspect identified", "Unable to prosecute suspect", "Under investigation",
    "Awaiting court outcome", "Court result unavailable", "Local resolution", "Offender given a caution",
    "Formal action is not in the public interest", "Further investigation is not in the public interest",
    "Action to be taken by another organisation", "Status update unavailable",
    "Suspect charged as part of another case", "Offender given a drugs possession warning",
    "Offender given penalty notice",
)
UNDER_INVESTIGATION = OUTCOMES.index("Under investigation")
# outcome mixes (OUTCOMES order): 0 default, 1 violence/public order, 2 shoplifting, 3 drugs, 4 weapons
_OUTCOME_MIX = np.array([
    [38, 32, 2, 2, 7, 4, 1, 3, 3, 1.5, 1.5, 0.5, 0, 0.5],
    [20, 48, 3, 3, 9, 5, 1.5, 3, 3, 2, 1.5, 0.5, 0, 0.5],
    [40, 20, 2, 3, 17, 6, 2, 2, 2, 1, 2, 2, 0, 1],
    [5, 10, 3, 4, 20, 18, 12, 5, 3, 1, 2, 1, 15, 1],
    [5, 15, 4, 10, 45, 5, 8, 3, 2, 1, 1, 1, 0, 0],
], dtype=float)
_OUTCOME_GROUP = np.array([0, 0, 0, 0, 3, 0, 0, 4, 1, 1, 2, 0, 0, 1])
_RECENT_UNDER_INVESTIGATION = (0.5, 0.3, 0.15)


@dataclass(frozen=True)
class Planted:
    """Planted hotspot cells: one entry per cell; ``points`` are the map points inside each cell."""

    cell: np.ndarray
    town: np.ndarray
    pattern: np.ndarray
    crime_type: np.ndarray
    base_rate: np.ndarray
    profile: np.ndarray
    point_offsets: np.ndarray
    points: np.ndarray


@dataclass(frozen=True)
class Scenario:
    """Everything fixed across the simulated months."""

    towns: tuple[Town, ...]
    months: tuple[str, ...]
    incidents_per_month: int
    points: SnapPoints
    point_cdf: np.ndarray
    planted: Planted
    stores: Stores
    retailer: RetailerIncidents


@dataclass(frozen=True)
class MonthRows:
    """One month of police.uk rows as codes; ``crime_id`` rows are unused where ``crime_type`` is ASB."""

    point: np.ndarray
    crime_type: np.ndarray
    outcome: np.ndarray
    crime_id: np.ndarray


def build_months(start_month: str, months: int) -> np.ndarray:
    """Return ``months`` consecutive months from ``start_month`` as ``datetime64[M]``."""
    return np.datetime64(start_month, "M") + np.arange(months)


def build_scenario(towns: tuple[Town, ...], month_values: np.ndarray, incidents_per_month: int,
                   rng: np.random.Generator) -> Scenario:
    """Fix the map points, background shares, planted hotspots, stores and retailer log."""
    points = build_snap_points(towns)
    share = _point_shares(towns, points)
    planted = _plant(towns, points, share * incidents_per_month, len(month_values), rng)
    stores = build_stores(towns, points, planted.cell, rng)
    days = ((month_values + 1).astype("datetime64[D]") - month_values.astype("datetime64[D]")).astype("int64")
    retailer = build_retailer_incidents(stores, days, incidents_per_month, rng)
    location = points.location.copy()
    location[stores.point] = np.where(rng.random(len(stores.point)) < 0.5, "On or near Supermarket",
                                      "On or near Shopping Area")
    cdf = np.cumsum(share)
    cdf /= cdf[-1]
    return Scenario(towns, tuple(str(m) for m in month_values), incidents_per_month,
                    dataclasses.replace(points, location=location), cdf, planted, stores, retailer)


def _point_shares(towns: tuple[Town, ...], points: SnapPoints) -> np.ndarray:
    """Each map point's share of all background crime (sums to 1)."""
    town_weight = np.array([t.weight for t in towns])
    within = np.bincount(points.town, weights=points.weight, minlength=len(towns))
    share = (1 - NO_LOCATION_SHARE) * points.weight / within[points.town]
    share[points.no_location] = NO_LOCATION_SHARE
    return share * (town_weight / town_weight.sum())[points.town]


def _plant(towns: tuple[Town, ...], points: SnapPoints, expected: np.ndarray, months: int,
           rng: np.random.Generator) -> Planted:
    """Choose 2-3 planted cells per town inside its centre polygon and draw their monthly profiles.

    A cell's base rate (extra incidents per elevated month) is at least ``PLANT_MIN_RATE``, three times
    the cell's own expected background and twice the mean background of its town's centre cells, so it
    stands out from its neighbours as well as from itself.
    """
    real = ~points.no_location
    cells, inverse = np.unique(points.cell[real], return_inverse=True)
    background = np.bincount(inverse.ravel(), weights=expected[real])
    centre = pa.record_batch(cells_to_coordinates(cells))
    polygons = towns_to_polygons(towns)
    town_of_cell = np.zeros(len(cells), dtype=int)
    town_of_cell[inverse.ravel()] = points.town[real]
    inside = shapely.contains_xy(polygons[town_of_cell], centre.column("lng").to_numpy(), centre.column("lat").to_numpy())
    chosen = []
    for t, town in enumerate(towns):
        candidates = np.flatnonzero(inside & (town_of_cell == t))
        chosen.append(rng.permutation(candidates)[: 3 if town.weight >= 100 else 2])
    chosen = np.concatenate(chosen)
    pattern = np.asarray(PATTERNS, dtype=object)[rng.permutation(len(PATTERNS))][np.arange(len(chosen)) % len(PATTERNS)]
    kinds = list(PLANTED_TYPES)
    probs = np.array(list(PLANTED_TYPES.values()))
    crime_type = np.array([CRIME_TYPES.index(kinds[k]) for k in rng.choice(len(kinds), len(chosen), p=probs / probs.sum())])
    centre_cells = np.bincount(town_of_cell[inside], minlength=len(towns))
    centre_mean = np.bincount(town_of_cell[inside], weights=background[inside], minlength=len(towns))
    centre_mean = centre_mean / np.maximum(centre_cells, 1)
    base_rate = np.round(np.maximum.reduce([np.full(len(chosen), PLANT_MIN_RATE), PLANT_MULTIPLIER * background[chosen],
                                            PLANT_CENTRE_MULTIPLIER * centre_mean[town_of_cell[chosen]]]), 1)
    profile = np.array([build_profile(p, r, months, rng) for p, r in zip(pattern, base_rate)]).reshape(len(chosen), months)
    members = [np.flatnonzero(real & (points.cell == cells[c])) for c in chosen]
    offsets = np.concatenate([[0], np.cumsum([len(m) for m in members])])
    return Planted(cells[chosen], town_of_cell[chosen], pattern, crime_type, base_rate, profile,
                   offsets, np.concatenate(members) if members else np.zeros(0, int))


def generate_month(scenario: Scenario, month: int, rng: np.random.Generator) -> MonthRows:
    """Draw month ``month`` (0-based) of police.uk rows."""
    planted_point, planted_type = _planted_rows(scenario.planted, month, rng)
    linked_point, linked_type, linked_id = _linked_rows(scenario, month)
    n_background = max(0, scenario.incidents_per_month - len(planted_point) - len(linked_point))
    cdf = scenario.point_cdf
    point = np.minimum(np.searchsorted(cdf, rng.random(n_background), side="right"), len(cdf) - 1)
    mix = _TYPE_MIX / _TYPE_MIX.sum(axis=1, keepdims=True)
    crime_type = draw_categorical(rng, mix, scenario.points.in_centre[point].astype(int))
    point = _repeat_asb(point, crime_type, rng)
    point = np.concatenate([point, planted_point, linked_point])
    crime_type = np.concatenate([crime_type, planted_type, linked_type])
    outcome = _outcomes(crime_type, len(scenario.months) - 1 - month, rng)
    crime_id = rng.integers(0, 256, (len(point), 32), dtype="uint8")
    crime_id[len(point) - len(linked_point):] = linked_id
    return MonthRows(point, crime_type, outcome, crime_id)


def draw_categorical(rng: np.random.Generator, probabilities: np.ndarray, group: np.ndarray) -> np.ndarray:
    """Draw one category per row from the row's group's probabilities (rows of ``probabilities``)."""
    cum = np.cumsum(probabilities, axis=1)
    cum /= cum[:, -1:]
    u = rng.random(len(group))
    out = np.empty(len(group), dtype="int64")
    for g in range(len(cum)):
        rows = group == g
        out[rows] = np.minimum(np.searchsorted(cum[g], u[rows], side="right"), cum.shape[1] - 1)
    return out


def _planted_rows(planted: Planted, month: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    counts = planted.profile[:, month] if planted.profile.size else np.zeros(0, int)
    cell = np.repeat(np.arange(len(counts)), counts)
    size = np.diff(planted.point_offsets)[cell]
    pick = planted.point_offsets[cell] + np.floor(rng.random(len(cell)) * size).astype(int)
    return planted.points[pick], planted.crime_type[cell]


def _linked_rows(scenario: Scenario, month: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    r = scenario.retailer
    link_index = np.cumsum(r.linked) - 1
    rows = np.flatnonzero(r.linked & (r.month == month))
    police_type = np.array([CRIME_TYPES.index(LINKED_CRIME_TYPES.get(c, "Other crime")) for c in CATEGORIES])
    return scenario.stores.point[r.store[rows]], police_type[r.category[rows]], r.link_id[link_index[rows]]


def _repeat_asb(point: np.ndarray, crime_type: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Give some ASB rows the map point of the ASB row before them: genuinely identical rows, as police.uk has."""
    asb = np.flatnonzero(crime_type == ASB)
    if len(asb) < 2:
        return point
    repeat = np.flatnonzero(rng.random(len(asb) - 1) < ASB_REPEAT_SHARE) + 1
    point = point.copy()
    point[asb[repeat]] = point[asb[repeat - 1]]
    return point


def _outcomes(crime_type: np.ndarray, age: int, rng: np.random.Generator) -> np.ndarray:
    """Last outcome per row (-1 for ASB); recent months are more often still under investigation."""
    outcome = draw_categorical(rng, _OUTCOME_MIX, _OUTCOME_GROUP[crime_type])
    recent = _RECENT_UNDER_INVESTIGATION[age] if age < len(_RECENT_UNDER_INVESTIGATION) else 0.0
    outcome[rng.random(len(outcome)) < recent] = UNDER_INVESTIGATION
    outcome[crime_type == ASB] = -1
    return outcome
