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


_NAMES = np.array(["", "outside_uk", "bad_coordinates", "grid_as_degrees", "lat_lng_swapped",
                   "zero_coordinates", "no_location"], dtype=object)


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
        ``outside_uk``; ``""`` when inside the UK.  Later rules win, in the
        order listed in ``_NAMES``.
    """
    lat = np.asarray(lat, dtype="float64")
    lng = np.asarray(lng, dtype="float64")
    code = np.ones(len(lat), dtype="int8")  # outside_uk unless a later rule says otherwise
    out_of_range = (np.abs(lat) > 90) | (np.abs(lng) > 180)
    code[out_of_range] = 2
    metres = (np.abs(lat) >= 1000) & (np.abs(lng) >= 1000)  # UK land is at least 1 km from the grid origin
    code[out_of_range & metres & (_in_bng(lng, lat) | _in_bng(lat, lng))] = 3
    code[~out_of_range & _in_uk(lng, lat)] = 4
    code[_in_uk(lat, lng)] = 0
    code[(lat == 0) & (lng == 0)] = 5
    code[np.isnan(lat) | np.isnan(lng)] = 6
    code[np.isinf(lat) | np.isinf(lng)] = 2
    return _NAMES[code]


def classify_grid(easting: np.ndarray, northing: np.ndarray) -> np.ndarray:
    """Return a reason code per British National Grid point, ``""`` where usable.

    A pair that only fits the grid the other way round is ``lat_lng_swapped``
    (easting and northing swapped); values outside the grid, including
    degrees given where metres were expected, are ``bad_coordinates``.  The
    caller still checks the converted WGS84 point with :func:`classify_latlng`.
    """
    e = np.asarray(easting, dtype="float64")
    n = np.asarray(northing, dtype="float64")
    code = np.full(len(e), 2, dtype="int8")
    code[~_in_bng(e, n) & _in_bng(n, e)] = 4
    code[_in_bng(e, n)] = 0
    code[(e == 0) & (n == 0)] = 5
    code[np.isnan(e) | np.isnan(n)] = 6
    return _NAMES[code]
