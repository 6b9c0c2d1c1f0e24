"""Coordinate classification, one reason per point."""

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from harmmap.geo.validate import classify_grid, classify_latlng


def test_each_reason_on_a_hand_made_example():
    lat = np.array([52.6345, np.nan, 0.0, -1.1316, 303000.0, 48.85, 95.0, np.inf])
    lng = np.array([-1.1316, -1.1, 0.0, 52.6345, 452000.0, 2.35, 10.0, 1.0])
    assert classify_latlng(lat, lng).tolist() == [
        "", "no_location", "zero_coordinates", "lat_lng_swapped", "grid_as_degrees", "outside_uk",
        "bad_coordinates", "bad_coordinates",
    ]


def test_grid_reasons():
    e = np.array([458000.0, np.nan, 0.0, 52.6, 1_000_000.0])
    n = np.array([304000.0, 304000.0, 0.0, -1.1, 458000.0])
    assert classify_grid(e, n).tolist() == ["", "no_location", "zero_coordinates", "bad_coordinates",
                                            "lat_lng_swapped"]


@given(st.floats(allow_nan=True, allow_infinity=True), st.floats(allow_nan=True, allow_infinity=True))
def test_accepted_points_are_inside_the_uk_box(lat, lng):
    code = classify_latlng(np.array([lat]), np.array([lng]))[0]
    if code == "":
        assert 49.8 <= lat <= 60.95 and -8.7 <= lng <= 1.8
