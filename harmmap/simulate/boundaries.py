"""Generated town-centre polygons, the same for every simulation seed.

Each town centre is an irregular star-shaped polygon of radius 400-900 m around
the town's centre coordinate, drawn from a fixed generator per town so the
polygons never change between runs, seeds or ``towns=N`` choices.

``python -m harmmap.simulate.boundaries [PATH]`` rewrites the committed copy
``data/boundaries/simulated_town_centres.geojson``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import shapely

from harmmap.simulate.towns import TOWNS, Town

GEOGRAPHY_SEED = 5_247_119
METRES_PER_DEGREE = 111_320.0
MIN_RADIUS_M, MAX_RADIUS_M = 400.0, 900.0
_VERTICES = 24
COMMITTED_PATH = Path(__file__).resolve().parents[2] / "data" / "boundaries" / "simulated_town_centres.geojson"


def metres_to_degrees(town: Town, east_m: np.ndarray, north_m: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Convert local offsets in metres from ``town``'s centre to (lat, lng) degrees."""
    lat = town.lat + np.asarray(north_m) / METRES_PER_DEGREE
    lng = town.lng + np.asarray(east_m) / (METRES_PER_DEGREE * np.cos(np.radians(town.lat)))
    return lat, lng


def town_to_index(town: Town) -> int:
    """Return the position of ``town`` in :data:`TOWNS` (its stable id)."""
    return TOWNS.index(town)


def town_to_code(town: Town) -> str:
    """Return the place code of a town centre (``TC001`` for the first town)."""
    return f"TC{town_to_index(town) + 1:03d}"


def town_to_ring(town: Town) -> np.ndarray:
    """Return the closed ring of ``town``'s centre polygon as an (n, 2) array of (lng, lat).

    The ring depends only on the town (a generator seeded by its index), and
    every vertex lies 400-900 m from the centre coordinate.
    """
    rng = np.random.default_rng([GEOGRAPHY_SEED, town_to_index(town)])
    base = rng.uniform(520.0, 720.0)
    angle = np.sort(2 * np.pi * (np.arange(_VERTICES) + rng.uniform(-0.3, 0.3, _VERTICES)) / _VERTICES)
    harmonics = np.arange(2, 5)
    amplitude = rng.uniform(0.03, 0.14, len(harmonics))
    phase = rng.uniform(0.0, 2 * np.pi, len(harmonics))
    wobble = (amplitude[:, None] * np.cos(harmonics[:, None] * angle[None, :] + phase[:, None])).sum(axis=0)
    radius = np.clip(base * (1 + wobble) * rng.uniform(0.94, 1.06, _VERTICES), MIN_RADIUS_M, MAX_RADIUS_M)
    lat, lng = metres_to_degrees(town, radius * np.sin(angle), radius * np.cos(angle))
    ring = np.round(np.column_stack([lng, lat]), 6)
    return np.vstack([ring, ring[:1]])


def towns_to_polygons(towns: tuple[Town, ...]) -> np.ndarray:
    """Return the shapely polygons of the towns' centres (EPSG:4326), one per town."""
    return np.array([shapely.Polygon(town_to_ring(t)) for t in towns], dtype=object)


def towns_to_geojson(towns: tuple[Town, ...]) -> str:
    """Return the GeoJSON FeatureCollection text of the towns' centre polygons.

    Properties are ``name`` (the town) and ``code`` (``TC001``...); one feature
    per line, so the file diffs well.
    """
    features = []
    for town in towns:
        ring = [[float(x), float(y)] for x, y in town_to_ring(town)]
        feature = {
            "type": "Feature",
            "properties": {"name": town.name, "code": town_to_code(town)},
            "geometry": {"type": "Polygon", "coordinates": [ring]},
        }
        features.append(json.dumps(feature, separators=(",", ":")))
    head = '{"type":"FeatureCollection","crs":{"type":"name","properties":{"name":"urn:ogc:def:crs:OGC:1.3:CRS84"}},'
    return head + '"features":[\n' + ",\n".join(features) + "\n]}\n"


def write_town_centres(path: Path, towns: tuple[Town, ...] = TOWNS) -> Path:
    """Write the towns' centre polygons as GeoJSON to ``path`` and return it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(towns_to_geojson(towns).encode("utf-8"))
    return path


def main(argv: list[str] | None = None) -> None:
    """Regenerate the committed town-centre file (or write it to the path given)."""
    argv = sys.argv[1:] if argv is None else argv
    path = write_town_centres(Path(argv[0]) if argv else COMMITTED_PATH)
    print(f"wrote {len(TOWNS)} town centres to {path}")


if __name__ == "__main__":
    main()
