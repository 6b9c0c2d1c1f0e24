"""Vectorised conversion between WGS84 (EPSG:4326) and British National Grid (EPSG:27700).

pyproj has no OSTN15 grid offline, so the Helmert-based transformation it uses is
good to 1-2 m: ample for H3 resolution 10 and coarser.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from pyproj import Transformer

WGS84 = "EPSG:4326"
BNG = "EPSG:27700"


@lru_cache(maxsize=None)
def _transformer(src: str, dst: str) -> Transformer:
    return Transformer.from_crs(src, dst, always_xy=True)


def wgs84_to_bng(lat: np.ndarray, lng: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return (easting, northing) in metres for WGS84 latitude/longitude arrays."""
    easting, northing = _transformer(WGS84, BNG).transform(
        np.asarray(lng, dtype="float64"), np.asarray(lat, dtype="float64")
    )
    return np.asarray(easting), np.asarray(northing)


def bng_to_wgs84(easting: np.ndarray, northing: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return (lat, lng) in degrees for British National Grid easting/northing arrays."""
    lng, lat = _transformer(BNG, WGS84).transform(
        np.asarray(easting, dtype="float64"), np.asarray(northing, dtype="float64")
    )
    return np.asarray(lat), np.asarray(lng)
