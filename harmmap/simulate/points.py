"""Anonymous map points that simulated crimes are snapped to, as police.uk does.

police.uk moves every crime to the nearest of a fixed set of anonymous map
points (the centre of a street or a landmark such as a supermarket), so
coordinates repeat heavily.  Each town gets a few hundred points, denser towards
its centre (a 2-D exponential fall-off), each with a ``Location`` text, an H3
res-9 cell and a fake but well-formed LSOA code and name.  Like the centre
polygons, the points depend only on the town, never on the simulation seed.

Every town also has one pseudo point standing for police.uk's ``No Location``
rows (blank coordinates and LSOA); the pseudo points come after all the real
points.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import shapely

from harmmap.geo.cells import points_to_cells
from harmmap.simulate.boundaries import GEOGRAPHY_SEED, metres_to_degrees, towns_to_polygons, town_to_index
from harmmap.simulate.towns import Town

STREETS = (
    "Station Road", "London Road", "Church Street", "Victoria Road", "Park Road", "Mill Lane", "Chapel Street",
    "New Street", "North Street", "South Street", "West Street", "Bridge Street", "Castle Street", "George Street",
    "York Road", "Albert Street", "Main Street", "The Crescent", "Church Lane", "School Lane", "Green Lane",
    "Manor Road", "Oak Avenue", "Elm Grove", "Springfield Road", "Orchard Close", "Windsor Road", "Grange Road",
    "Highfield Road", "Cavendish Road", "Derby Road", "Ashby Road", "Leicester Road", "Nottingham Road",
    "Wellington Street", "Princess Road", "Brook Street", "Canal Street", "Meadow Lane", "Forest Road",
    "Clarence Street", "Abbey Road", "Kings Road", "Queens Road", "St Peter's Road", "Beech Drive", "Willow Way",
    "Hawthorn Close", "Cedar Road", "Birch Avenue", "Lime Grove", "Rosemary Close", "Shakespeare Street",
    "Tennyson Road", "Milton Crescent", "Wordsworth Avenue", "Dale Street", "Hill Rise", "Lower Street", "Coronation Road",
)
CENTRE_STREETS = (
    "High Street", "Market Place", "Market Street", "Queen Street", "King Street", "Regent Street", "Granby Street",
    "Gravel Street", "Belvoir Street", "Sheep Street", "Silver Street", "Cross Street", "Southgate", "Northgate",
    "Westgate", "Eastgate", "Charles Street", "Church Gate", "Mount Pleasant", "Bath Street",
)
LANDMARKS = (
    "Supermarket", "Petrol Station", "Parking Area", "Shopping Area", "Sports/Recreation Area", "Park/Open Space",
    "Hospital", "Further/Higher Educational Building", "Pedestrian Subway", "Police Station",
)
CENTRE_LANDMARKS = (
    "Shopping Area", "Supermarket", "Nightclub", "Parking Area", "Bus/Coach Station", "Theatre/Concert Hall",
    "Conference/Exhibition Centre",
)
NO_LOCATION = "No Location"
_LSOA_GRID_M = 650.0


@dataclass(frozen=True)
class SnapPoints:
    """Map points of the selected towns; real points first, then one ``No Location`` point per town.

    Attributes
    ----------
    town : ndarray of int
        Index of the point's town in the selected towns.
    lat, lng : ndarray of float
        Rounded to 6 decimals; NaN for the pseudo points.
    cell : ndarray of uint64
        H3 res-9 cell (0 for the pseudo points).
    in_centre : ndarray of bool
        Inside the town's centre polygon.
    weight : ndarray of float
        Relative busyness of the point within its town.
    location, lsoa_code, lsoa_name : ndarray of object
        police.uk ``Location``, ``LSOA code`` and ``LSOA name`` ("" for the pseudo points).
    """

    town: np.ndarray
    lat: np.ndarray
    lng: np.ndarray
    cell: np.ndarray
    in_centre: np.ndarray
    weight: np.ndarray
    location: np.ndarray
    lsoa_code: np.ndarray
    lsoa_name: np.ndarray

    @property
    def no_location(self) -> np.ndarray:
        """True for the ``No Location`` pseudo points."""
        return np.isnan(self.lat)


def build_snap_points(towns: tuple[Town, ...]) -> SnapPoints:
    """Return the map points of ``towns`` (the same for every seed)."""
    polygons = towns_to_polygons(towns)
    parts = [_town_points(town, position, polygon) for position, (town, polygon) in enumerate(zip(towns, polygons))]
    fields = {name: np.concatenate([p[name] for p in parts]) for name in parts[0]}
    k = len(towns)
    blank = np.full(k, "", dtype=object)
    pseudo = {
        "town": np.arange(k), "lat": np.full(k, np.nan), "lng": np.full(k, np.nan), "cell": np.zeros(k, "uint64"),
        "in_centre": np.zeros(k, bool), "weight": np.zeros(k), "location": np.full(k, NO_LOCATION, dtype=object),
        "lsoa_code": blank, "lsoa_name": blank,
    }
    return SnapPoints(**{name: np.concatenate([fields[name], pseudo[name]]) for name in fields})


def _town_points(town: Town, position: int, polygon) -> dict[str, np.ndarray]:
    rng = np.random.default_rng([GEOGRAPHY_SEED, town_to_index(town), 1])
    n_spread = int(min(650, 150 + 60 * np.sqrt(town.weight / 10)))
    n_core = 14 + n_spread // 20
    scale = 400.0 + 60.0 * np.sqrt(town.weight)
    radius = scale * rng.gamma(2.0, 1.0, n_spread)
    radius = np.where(radius > 5 * scale, rng.uniform(0, 5 * scale, n_spread), radius)
    radius = np.concatenate([radius, 520.0 * np.sqrt(rng.random(n_core))])
    angle = rng.uniform(0, 2 * np.pi, n_spread + n_core)
    east, north = radius * np.cos(angle), radius * np.sin(angle)
    lat, lng = metres_to_degrees(town, east, north)
    lat, lng = np.round(lat, 6), np.round(lng, 6)
    in_centre = shapely.contains_xy(polygon, lng, lat)
    code, name = _lsoas(town, east, north)
    n = len(lat)
    return {
        "town": np.full(n, position), "lat": lat, "lng": lng, "cell": points_to_cells(lat, lng, 9),
        "in_centre": in_centre, "weight": rng.lognormal(0.0, 0.7, n),
        "location": _locations(rng, in_centre), "lsoa_code": code, "lsoa_name": name,
    }


def _locations(rng: np.random.Generator, in_centre: np.ndarray) -> np.ndarray:
    n = len(in_centre)
    landmark = rng.random(n) < np.where(in_centre, 0.4, 0.22)
    pools = [
        (~in_centre & ~landmark, STREETS), (in_centre & ~landmark, CENTRE_STREETS),
        (~in_centre & landmark, LANDMARKS), (in_centre & landmark, CENTRE_LANDMARKS),
    ]
    text = np.empty(n, dtype=object)
    for mask, pool in pools:
        text[mask] = np.asarray(["On or near " + p for p in pool], dtype=object)[rng.integers(0, len(pool), mask.sum())]
    return text


def _lsoas(town: Town, east: np.ndarray, north: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Fake LSOAs: one per occupied 650 m square, numbered from the centre outwards."""
    ix = np.floor(east / _LSOA_GRID_M).astype(int)
    iy = np.floor(north / _LSOA_GRID_M).astype(int)
    squares, inverse = np.unique(np.column_stack([ix, iy]), axis=0, return_inverse=True)
    centre_distance = np.hypot(squares[:, 0] + 0.5, squares[:, 1] + 0.5)
    rank = np.empty(len(squares), dtype=int)
    rank[np.lexsort((squares[:, 1], squares[:, 0], centre_distance))] = np.arange(len(squares))
    base = 90_000 + 1_000 * town_to_index(town)
    codes = np.array([f"E01{base + r:06d}" for r in range(len(squares))], dtype=object)
    names = np.array([f"{town.name} {r // 4 + 1:03d}{'ABCD'[r % 4]}" for r in range(len(squares))], dtype=object)
    rank = rank[inverse.ravel()]
    return codes[rank], names[rank]
