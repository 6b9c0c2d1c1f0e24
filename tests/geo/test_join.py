"""points_to_places: hand-made squares, a brute-force property test, real boundaries."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harmmap.errors import ConfigError, GeometryError, SchemaError
from harmmap.geo.join import SMALL, points_to_places

E0, N0 = 400_000.0, 300_000.0  # work at real grid magnitudes


def make_places(*geoms, ids=None) -> gpd.GeoDataFrame:
    ids = ids or [f"custom:p{i}" for i in range(len(geoms))]
    return gpd.GeoDataFrame({"place_id": ids}, geometry=list(geoms), crs="EPSG:27700")


def square(x0, y0, x1, y1):
    return shapely.box(E0 + x0, N0 + y0, E0 + x1, N0 + y1)


def pairs(frame: pd.DataFrame) -> list[tuple[int, str]]:
    return list(zip(frame["point_index"].tolist(), frame["place_id"].tolist()))


@pytest.fixture(params=["few", "grid"])
def join(request):
    """points_to_places on points relative to (E0, N0); "grid" repeats them past SMALL to use the grid."""

    def run(points, places, **kwargs) -> pd.DataFrame:
        xy = np.asarray(points, dtype=float).reshape(-1, 2)
        copies = 1 if request.param == "few" else SMALL // max(len(xy), 1) + 1
        tiled = np.tile(xy, (copies, 1))
        result = points_to_places(tiled[:, 0] + E0, tiled[:, 1] + N0, places, **kwargs)
        return result[result["point_index"] < len(xy)].reset_index(drop=True)

    return run


# A = [0,10]^2 and B = [10,20]x[0,10] share the edge x = 10; C = [5,15]x[5,15] overlaps both.
A, B, C = square(0, 0, 10, 10), square(10, 0, 20, 10), square(5, 5, 15, 15)


def test_point_inside_outside_and_in_the_overlap(join):
    result = join([(2, 2), (30, 30), (7, 7), (12, 6)], make_places(A, B, C, ids=["a", "b", "c"]))
    assert pairs(result) == [(0, "a"), (2, "a"), (2, "c"), (3, "b"), (3, "c")]
    assert result["point_index"].dtype == np.int64 and result["place_id"].dtype == "category"
    assert list(result["place_id"].cat.categories) == ["a", "b", "c"]


def test_point_on_a_shared_edge_counts_for_both_places_and_a_corner_for_all(join):
    result = join([(10, 2), (0, 0), (10, 10), (20, 0)], make_places(A, B, ids=["a", "b"]))
    assert pairs(result) == [(0, "a"), (0, "b"), (1, "a"), (2, "a"), (2, "b"), (3, "b")]


def test_point_on_a_hole_edge_is_in_the_place_and_inside_the_hole_is_not(join):
    ring = square(0, 0, 10, 10).difference(square(3, 3, 6, 6))
    result = join([(4, 4), (3, 4), (1, 1)], make_places(ring, ids=["ring"]))
    assert pairs(result) == [(1, "ring"), (2, "ring")]


def test_tolerance_snaps_to_the_only_place_within_reach(join):
    places = make_places(A, square(30, 0, 40, 10), ids=["a", "far"])
    assert pairs(join([(12, 5)], places)) == []
    assert pairs(join([(12, 5)], places, tolerance_m=2.0)) == [(0, "a")]  # exactly 2 m away: included
    assert pairs(join([(12, 5)], places, tolerance_m=1.999)) == []


def test_tolerance_picks_the_nearest_of_two_and_the_first_on_a_tie(join):
    places = make_places(A, square(14, 0, 20, 10), ids=["a", "b"])
    assert pairs(join([(11, 5), (13, 5), (12, 5)], places, tolerance_m=5)) == [(0, "a"), (1, "b"), (2, "a")]


def test_tolerance_never_moves_a_point_already_in_a_place(join):
    places = make_places(A, square(10.5, 0, 20, 10), ids=["a", "b"])
    assert pairs(join([(9.9, 5)], places, tolerance_m=5)) == [(0, "a")]


def test_rows_are_sorted_by_point_and_missing_points_are_in_no_place(join):
    places = make_places(A, C, ids=["a", "c"])
    points = [(7, 7), (np.nan, 1), (1, np.inf), (8, 8), (1, 1)]
    result = join(points, places, tolerance_m=3)
    assert pairs(result) == [(0, "a"), (0, "c"), (3, "a"), (3, "c"), (4, "a")]


def test_empty_points_empty_places_and_null_geometries(join):
    empty = join(np.empty((0, 2)), make_places(A))
    assert len(empty) == 0 and list(empty.columns) == ["point_index", "place_id"]
    assert len(join([(1, 1)], make_places(None, ids=["none"]))) == 0
    assert pairs(join([(1, 1)], make_places(None, A, ids=["none", "a"]))) == [(0, "a")]


def test_bad_inputs_raise_harmmap_errors(join):
    with pytest.raises(ConfigError, match="tolerance"):
        join([(1, 1)], make_places(A), tolerance_m=-1)
    with pytest.raises(SchemaError, match="same length"):
        points_to_places(np.zeros(2), np.zeros(3), make_places(A))
    with pytest.raises(SchemaError, match="place_id"):
        points_to_places(np.zeros(1), np.zeros(1), gpd.GeoDataFrame(geometry=[A], crs="EPSG:27700"))
    with pytest.raises(GeometryError, match="27700"):
        points_to_places(np.zeros(1), np.zeros(1), make_places(A).set_crs("EPSG:4326", allow_override=True))
    with pytest.raises(GeometryError, match="polygons"):
        points_to_places(np.zeros(1), np.zeros(1), make_places(shapely.Point(E0, N0)))


# --- property test against brute force ------------------------------------------------------------

coordinate = st.integers(0, 60)


@st.composite
def polygons(draw):
    """Boxes, triangles and boxes with holes on an integer lattice (so points land on edges)."""
    shape = draw(st.sampled_from(["box", "triangle", "holed", "multi"]))
    x0, y0 = draw(coordinate), draw(coordinate)
    w, h = draw(st.integers(1, 40)), draw(st.integers(1, 40))
    if shape == "triangle":
        apex = (x0 + draw(st.integers(0, w)), y0 + h)
        geom = shapely.Polygon([(x0, y0), (x0 + w, y0 + draw(st.integers(0, 10))), apex])
    else:
        geom = shapely.box(x0, y0, x0 + w, y0 + h)
    if shape == "holed" and w > 2 and h > 2:
        geom = geom.difference(shapely.box(x0 + 1, y0 + 1, x0 + w - 1, y0 + h - 1))
    if shape == "multi":
        geom = shapely.MultiPolygon([geom, shapely.box(x0 + w + 2, y0, x0 + w + 5, y0 + 3)])
    return shapely.affinity.translate(shapely.make_valid(geom), E0, N0) if geom.area > 0 else None


def brute_force(x, y, places, tolerance):
    """sjoin with ``covered_by`` (= covers), then the nearest place within tolerance for the rest."""
    points = gpd.GeoDataFrame(geometry=gpd.points_from_xy(x, y), crs="EPSG:27700")
    hits = gpd.sjoin(points, places, predicate="covered_by", how="inner")
    rows = set(zip(hits.index.to_numpy().tolist(), hits["place_id"].tolist()))
    if tolerance > 0:
        distance = shapely.distance(points.geometry.to_numpy()[:, None], places.geometry.to_numpy()[None, :])
        distance[hits.index.to_numpy()] = np.inf
        nearest = np.argmin(np.where(np.isnan(distance), np.inf, distance), axis=1)
        near = np.flatnonzero(distance[np.arange(len(x)), nearest] <= tolerance)
        rows |= set(zip(near.tolist(), places["place_id"].to_numpy()[nearest[near]].tolist()))
    return rows


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(geoms=st.lists(polygons(), min_size=1, max_size=6), seed=st.integers(0, 2**32 - 1),
       tolerance=st.sampled_from([0.0, 0.0, 1.5, 4.0]))
def test_matches_brute_force_sjoin(geoms, seed, tolerance):
    geoms = [g for g in geoms if g is not None] or [square(0, 0, 1, 1)]
    places = make_places(*geoms)
    rng = np.random.default_rng(seed)
    lattice = rng.integers(-5, 110, size=(3000, 2)).astype(float)  # many points exactly on edges
    halves = rng.integers(-10, 220, size=(1000, 2)) / 2.0
    loose = rng.uniform(-5, 110, size=(3000, 2))
    xy = np.concatenate([lattice, halves, loose]) + [E0, N0]
    xy[:600] += rng.choice([-1e-9, 0.0, 1e-9], size=(600, 2))  # a hair either side of edges
    many = np.tile(xy, (3, 1))  # enough points for a fine grid, so the cell shortcuts are exercised
    result = points_to_places(many[:, 0], many[:, 1], places, tolerance_m=tolerance)  # the grid
    assert result["point_index"].is_monotonic_increasing
    first = result[result["point_index"] < len(xy)]
    expected = brute_force(xy[:, 0], xy[:, 1], places, tolerance)
    assert set(pairs(first)) == expected
    assert len(result) == 3 * len(first)
    few = points_to_places(xy[:SMALL, 0], xy[:SMALL, 1], places, tolerance_m=tolerance)  # the STRtree
    assert pairs(few) == sorted(pairs(first[first["point_index"] < SMALL]))


# --- real boundaries ------------------------------------------------------------------------------

def test_city_of_london_wards_match_sjoin(shared_data):
    wards = gpd.read_file(shared_data / "boundaries" / "london" / "London_Ward_2018.shp")
    places = gpd.GeoDataFrame({"place_id": "ward:" + wards["GSS_CODE"].astype(str)}, geometry=wards.geometry,
                              crs="EPSG:27700")
    rng = np.random.default_rng(7)
    minx, miny, maxx, maxy = places.total_bounds
    x, y = rng.uniform(minx, maxx, 50_000), rng.uniform(miny, maxy, 50_000)
    result = points_to_places(x, y, places)
    assert set(pairs(result)) == brute_force(x, y, places, 0.0)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(geoms=st.lists(polygons(), min_size=1, max_size=8), seed=st.integers(0, 2**32 - 1),
       tolerance=st.sampled_from([0.0, 2.0, 6.0]), window=st.sampled_from([3.0, 20.0, 45.0]))
def test_places_far_from_every_point_are_skipped_without_changing_the_answer(geoms, seed, tolerance, window):
    geoms = [g for g in geoms if g is not None] or [square(0, 0, 1, 1)]
    places = make_places(*geoms)
    rng = np.random.default_rng(seed)
    xy = rng.uniform(0, window, size=(2500, 2)) + [E0 + 30, N0 + 30]  # points in a small window only
    xy[:50] = rng.integers(30, 31 + int(window), size=(50, 2)) + np.array([E0, N0])  # some on edges
    result = points_to_places(np.tile(xy[:, 0], 3), np.tile(xy[:, 1], 3), places, tolerance_m=tolerance)
    first = result[result["point_index"] < len(xy)]
    assert set(pairs(first)) == brute_force(xy[:, 0], xy[:, 1], places, tolerance)
