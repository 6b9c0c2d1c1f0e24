"""Simulated stores and the retailer's own incident log.

Stores sit on map points inside the town-centre polygons.  Incidents are drawn
per month in shop hours, with human-readable categories; about 15 % of them
carry a ``Police Ref`` equal to the ``Crime ID`` of a police.uk row the
simulator also writes (same month, the store's map point, the matching crime
type), and a few more carry a force crime number that links to nothing.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from harmmap.simulate.points import SnapPoints
from harmmap.simulate.towns import Town

CATEGORIES: tuple[str, ...] = (
    "Theft", "Violence against staff", "Abuse against staff", "Criminal damage", "Robbery", "Burglary", "Fraud",
    "Anti-social behaviour",
)
_CATEGORY_P = np.array([0.52, 0.06, 0.13, 0.06, 0.02, 0.015, 0.075, 0.12])
#: police.uk crime type of the categories a police Crime ID can be linked to.
LINKED_CRIME_TYPES: dict[str, str] = {
    "Theft": "Shoplifting",
    "Violence against staff": "Violence and sexual offences",
    "Abuse against staff": "Public order",
    "Criminal damage": "Criminal damage and arson",
    "Robbery": "Robbery",
    "Burglary": "Burglary",
}
LINK_SHARE = 0.15
RETAILER_SHARE = 0.03
# log-normal (mu, sigma) of the value in pounds per category; NaN = no value recorded
_VALUE_LOGNORMAL = np.array(
    [[3.3, 0.9], [np.nan, 0], [np.nan, 0], [4.5, 0.8], [5.0, 1.0], [6.3, 1.0], [4.8, 1.0], [np.nan, 0]]
)
_INJURY_P = np.array([0.003, 0.35, 0.02, 0.0, 0.15, 0.0, 0.0, 0.01])
_WEAPON_P = np.array([0.01, 0.12, 0.03, 0.02, 0.35, 0.05, 0.0, 0.01])
_HOUR_P = np.array([0, 0, 0, 0, 0, 0, 0, 0.2, 0.5, 0.8, 1, 1.1, 1.3, 1.3, 1.3, 1.4, 1.5, 1.5, 1.2, 0.9, 0.6, 0.3, 0.1, 0])
_STORE_SUFFIXES = ("High Street", "Market Place", "Shopping Centre", "Central", "Town Centre", "Station Road")
_POSTCODE_LETTERS = np.array(list("ABDEFGHJLNPQRSTUWXYZ"), dtype=object)


@dataclass(frozen=True)
class Stores:
    """The retailer's stores: id, name, map point, coordinates, postcode, town and busyness."""

    store_id: np.ndarray
    name: np.ndarray
    point: np.ndarray
    lat: np.ndarray
    lng: np.ndarray
    postcode: np.ndarray
    town: np.ndarray
    weight: np.ndarray


@dataclass(frozen=True)
class RetailerIncidents:
    """The retailer's incident log, in date order.

    ``day`` is 0-based within the month, ``minute`` counts from midnight,
    ``value_pence`` is -1 when no value is recorded, ``link_id`` holds the 32
    random bytes of the linked police Crime ID (rows where ``linked``), and
    ``force_ref`` marks rows with an unlinkable force crime number.
    """

    store: np.ndarray
    month: np.ndarray
    day: np.ndarray
    minute: np.ndarray
    category: np.ndarray
    value_pence: np.ndarray
    injury: np.ndarray
    weapon: np.ndarray
    linked: np.ndarray
    link_id: np.ndarray
    force_ref: np.ndarray


def build_stores(towns: tuple[Town, ...], points: SnapPoints, avoid_cells: np.ndarray,
                 rng: np.random.Generator) -> Stores:
    """Place 2-4 stores per town on distinct centre map points, away from ``avoid_cells`` when possible."""
    chosen, town_of = [], []
    for t, town in enumerate(towns):
        count = 2 + (town.weight >= 150) + (town.weight >= 400)
        candidates = np.flatnonzero((points.town == t) & points.in_centre)
        avoided = np.isin(points.cell[candidates], avoid_cells)
        order = np.lexsort((rng.random(len(candidates)), avoided))
        chosen.append(candidates[order[:count]])
        town_of.append(np.full(min(count, len(candidates)), t))
    point = np.concatenate(chosen)
    town = np.concatenate(town_of)
    suffix = np.empty(len(point), dtype=object)
    for t in range(len(towns)):
        mask = town == t
        suffix[mask] = np.asarray(_STORE_SUFFIXES, dtype=object)[rng.permutation(len(_STORE_SUFFIXES))[: mask.sum()]]
    names = np.array([towns[t].name for t in town], dtype=object) + " " + suffix
    area = np.array([towns[t].postcode_area for t in town], dtype=object)
    digit = rng.integers(1, 10, len(point)).astype(str).astype(object)
    letters = _POSTCODE_LETTERS[rng.integers(0, 20, len(point))] + _POSTCODE_LETTERS[rng.integers(0, 20, len(point))]
    weight = rng.lognormal(0.0, 0.4, len(point)) * np.sqrt([towns[t].weight for t in town])
    return Stores(
        store_id=np.array([str(1001 + i) for i in range(len(point))], dtype=object), name=names, point=point,
        lat=points.lat[point], lng=points.lng[point], postcode=area + " " + digit + letters, town=town, weight=weight,
    )


def build_retailer_incidents(stores: Stores, days_in_month: np.ndarray, per_month: int,
                             rng: np.random.Generator) -> RetailerIncidents:
    """Draw the retailer's incidents: ``3 %`` of the police.uk volume per month, at least one per store."""
    months = len(days_in_month)
    per = max(len(stores.store_id), round(RETAILER_SHARE * per_month))
    n = per * months
    month = np.repeat(np.arange(months), per)
    cum = np.cumsum(stores.weight) / stores.weight.sum()
    store = np.minimum(np.searchsorted(cum, rng.random(n), side="right"), len(cum) - 1)
    day = np.floor(rng.random(n) * days_in_month[month]).astype("int64")
    minute = rng.choice(24, n, p=_HOUR_P / _HOUR_P.sum()) * 60 + rng.integers(0, 60, n)
    category = rng.choice(len(CATEGORIES), n, p=_CATEGORY_P)
    order = np.lexsort((store, minute, day, month))
    store, month, day, minute, category = store[order], month[order], day[order], minute[order], category[order]
    mu, sigma = _VALUE_LOGNORMAL[category, 0], _VALUE_LOGNORMAL[category, 1]
    value = rng.lognormal(np.nan_to_num(mu), sigma)
    value_pence = np.where(np.isnan(mu), -1, np.maximum(np.round(value * 100), 1)).astype("int64")
    linkable = category < len(LINKED_CRIME_TYPES)
    link_p = LINK_SHARE / _CATEGORY_P[: len(LINKED_CRIME_TYPES)].sum()
    draw = rng.random(n)
    linked = linkable & (draw < link_p)
    return RetailerIncidents(
        store=store, month=month, day=day, minute=minute, category=category, value_pence=value_pence,
        injury=rng.random(n) < _INJURY_P[category], weapon=rng.random(n) < _WEAPON_P[category],
        linked=linked, link_id=rng.integers(0, 256, (int(linked.sum()), 32), dtype="uint8"),
        force_ref=~linked & (draw > 0.94),
    )
