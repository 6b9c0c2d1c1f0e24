"""Classify coordinates as usable or give the reason they are not.

One place decides whether a location is acceptable, for every reader.  The
checks run on whole arrays and return a reason code per row (``""`` for a good
row); codes are those of :data:`harmmap.schema.REJECT_REASONS`.
"""

from __future__ import annotations

import numpy as np

from harmmap.schema import BNG_BOUNDS, UK_BOUNDS


def _in_uk(lat: np.ndarray, lng: np.ndarray) -> np.ndarray:
    b = UK_BOUNDS
    return (lat >= b["lat_min"]) & (lat <= b["lat_max"]) & (lng >= b["lng_min"]) & (lng <= b["lng_max"])


def _in_bng(e: np.ndarray, n: np.ndarray) -> np.ndarray:
    b = BNG_BOUNDS
    return (e > b["e_min"]) & (e <= b["e_max"]) & (n > b["n_min"]) & (n <= b["n_max"])


def classify_latlng(lat: np.ndarray, lng: np.ndarray) -> np.ndarray:
    """Return a reason code per WGS84 point, ``""`` where the point is usable.

    Parameters
    ----------
    lat, lng : array-like of float
        Degrees; NaN means the value was blank.

    Returns
    -------
    numpy.ndarray of str (object)
        ``no_location`` (blank), ``zero_coordinates``, ``grid_as_degrees``,
        ``lat_lng_swapped``, ``bad_coordinates`` (out of range) or
        ``outside_uk``; ``""`` when inside the UK.
    """
    lat = np.asarray(lat, dtype="float64")
    lng = np.asarray(lng, dtype="float64")
    reason = np.full(len(lat), "outside_uk", dtype=object)
    out_of_range = (np.abs(lat) > 90) | (np.abs(lng) > 180)
    reason[out_of_range] = "bad_coordinates"
    reason[out_of_range & (_in_bng(lng, lat) | _in_bng(lat, lng))] = "grid_as_degrees"
    reason[~out_of_range & _in_uk(lng, lat)] = "lat_lng_swapped"
    reason[_in_uk(lat, lng)] = ""
    reason[(lat == 0) & (lng == 0)] = "zero_coordinates"
    reason[np.isnan(lat) | np.isnan(lng)] = "no_location"
    reason[np.isinf(lat) | np.isinf(lng)] = "bad_coordinates"
    return reason


def classify_grid(easting: np.ndarray, northing: np.ndarray) -> np.ndarray:
    """Return a reason code per British National Grid point, ``""`` where usable.

    Values that look like degrees (both within +-180) are ``bad_coordinates``
    with the hint that degrees were given as grid metres; a pair that only fits
    the grid the other way round is ``lat_lng_swapped`` (easting/northing swapped).
    The caller still checks the converted WGS84 point with :func:`classify_latlng`.
    """
    e = np.asarray(easting, dtype="float64")
    n = np.asarray(northing, dtype="float64")
    reason = np.full(len(e), "bad_coordinates", dtype=object)
    reason[~_in_bng(e, n) & _in_bng(n, e)] = "lat_lng_swapped"
    reason[_in_bng(e, n)] = ""
    reason[(e == 0) & (n == 0)] = "zero_coordinates"
    reason[np.isnan(e) | np.isnan(n)] = "no_location"
    return reason
