"""read_places: formats, CRS handling, repairs, field guessing, place ids, real boundary files."""

from __future__ import annotations

import json

import geopandas as gpd
import numpy as np
import pyogrio
import pytest
import shapely
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harmmap.errors import ConfigError, GeometryError, HarmmapError, InputFileError, SchemaError
from harmmap.geo.join import points_to_places
from harmmap.geo.places import read_places

E0, N0 = 530_000.0, 180_000.0  # central London, metres
SQUARE_KM = shapely.box(E0, N0, E0 + 1000, N0 + 1000)


def write(path, geoms, crs="EPSG:27700", **columns):
    """Write a layer with geopandas and return its path."""
    frame = gpd.GeoDataFrame(columns, geometry=list(geoms), crs=crs)
    frame.to_file(path, layer=path.stem if path.suffix == ".gpkg" else None)
    return path


def geojson(path, features, crs_member: str | None = None):
    """Write GeoJSON by hand (to control the legacy ``crs`` member and 3-D coordinates)."""
    doc = {"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": props, "geometry": shapely.geometry.mapping(geom) if geom else None}
        for geom, props in features]}
    if crs_member:
        doc["crs"] = {"type": "name", "properties": {"name": crs_member}}
    path.write_text(json.dumps(doc))
    return path


def check_places(read, kind):
    places = read.places
    assert list(places.columns) == ["place_id", "kind", "name", "code", "area_km2", "geometry"]
    assert places.crs.to_epsg() == 27700
    assert places["place_id"].is_unique and (places["kind"] == kind).all()
    assert places.geometry.is_valid.all() and not places.geometry.has_z.any()
    assert set(places.geom_type) <= {"Polygon", "MultiPolygon"}
    assert places["place_id"].str.startswith(f"{kind}:").all()
    return places


# --- small hand-made layers -----------------------------------------------------------------------

def test_reads_a_geopackage_in_wgs84_into_british_national_grid(tmp_path):
    lng_lat = shapely.box(-0.13, 51.50, -0.12, 51.51)
    read = read_places(write(tmp_path / "a.gpkg", [lng_lat], crs="EPSG:4326", NAME=["Covent Garden"],
                             CODE=["TC1"]), kind="town_centre")
    places = check_places(read, "town_centre")
    assert places.iloc[0][["place_id", "name", "code"]].tolist() == ["town_centre:TC1", "Covent Garden", "TC1"]
    e_min, n_min, e_max, n_max = places.total_bounds
    assert 529_000 < e_min < e_max < 531_500 and 179_000 < n_min < n_max < 181_500
    assert places["area_km2"].iloc[0] == pytest.approx(lng_lat.area * 111.3 * 69.4, rel=0.02)


def test_area_is_measured_in_square_kilometres_and_multipart_features_are_kept(tmp_path):
    two = shapely.MultiPolygon([SQUARE_KM, shapely.affinity.translate(SQUARE_KM, 3000)])
    read = read_places(write(tmp_path / "a.shp", [SQUARE_KM, two], name=["one", "two"]), kind="custom")
    assert read.places["area_km2"].tolist() == pytest.approx([1.0, 2.0])
    assert read.places.geom_type.tolist() == ["Polygon", "MultiPolygon"]
    assert read.places["code"].isna().all() and read.places["place_id"].tolist() == ["custom:one", "custom:two"]


def test_legacy_geojson_crs_member_is_honoured_and_3d_is_flattened(tmp_path):
    cube = shapely.force_3d(SQUARE_KM, 12.0)
    read = read_places(geojson(tmp_path / "a.geojson", [(cube, {"name": "x"})], "urn:ogc:def:crs:EPSG::27700"),
                       kind="custom")
    places = check_places(read, "custom")
    assert places.total_bounds.tolist() == pytest.approx([E0, N0, E0 + 1000, N0 + 1000])
    assert any("3-D" in note for note in read.notes)


def test_geojson_in_metres_without_a_crs_member_asks_for_epsg_27700(tmp_path):
    path = geojson(tmp_path / "a.geojson", [(SQUARE_KM, {"name": "x"})])
    with pytest.raises(GeometryError, match="--crs EPSG:27700"):
        read_places(path, kind="custom")
    read = read_places(path, kind="custom", crs="EPSG:27700")
    assert read.places.total_bounds[0] == pytest.approx(E0)
    assert any("replaced by EPSG:27700" in note for note in read.notes)


@pytest.mark.filterwarnings("ignore:'crs' was not provided")
@pytest.mark.parametrize(("geom", "suggestion"), [(SQUARE_KM, "EPSG:27700"),
                                                  (shapely.box(-1.2, 52.6, -1.1, 52.7), "EPSG:4326")])
def test_no_crs_at_all_is_an_error_suggesting_one_unless_given(tmp_path, geom, suggestion):
    path = write(tmp_path / "a.shp", [geom], crs=None, name=["x"])
    assert not path.with_suffix(".prj").exists()
    with pytest.raises(GeometryError, match=f"--crs {suggestion}"):
        read_places(path, kind="custom")
    assert check_places(read_places(path, kind="custom", crs=suggestion), "custom")["area_km2"].iloc[0] > 0


@pytest.mark.filterwarnings("ignore:'crs' was not provided")
def test_degrees_declared_as_grid_metres_are_caught(tmp_path):
    path = write(tmp_path / "a.shp", [shapely.box(-1.2, 52.6, -1.1, 52.7)], crs=None, name=["x"])
    with pytest.raises(GeometryError, match="Great Britain"):
        read_places(path, kind="custom", crs="EPSG:27700")
    with pytest.raises(ConfigError, match="CRS"):
        read_places(path, kind="custom", crs="EPSG:nonsense")


def test_a_crs_that_is_not_a_map_crs_is_refused(tmp_path):
    path = write(tmp_path / "a.shp", [SQUARE_KM], name=["x"])
    path.with_suffix(".prj").write_text('LOCAL_CS["site grid",LOCAL_DATUM["x",0],UNIT["metre",1],'
                                        'AXIS["X",EAST],AXIS["Y",NORTH]]')
    with pytest.raises(GeometryError, match="--crs EPSG:27700"):
        read_places(path, kind="custom")
    with pytest.raises(ConfigError, match="not a map"):
        read_places(path, kind="custom", crs="EPSG:5701")  # a vertical (height) CRS
    assert read_places(path, kind="custom", crs="EPSG:27700").places["area_km2"].iloc[0] == pytest.approx(1.0)


def test_invalid_geometry_is_repaired_and_unusable_features_dropped_with_reasons(tmp_path):
    bowtie = shapely.Polygon([(E0, N0), (E0 + 100, N0 + 100), (E0 + 100, N0), (E0, N0 + 100)])
    mixed = shapely.GeometryCollection([SQUARE_KM, shapely.LineString([(E0, N0), (E0 + 5, N0 + 5)])])
    features = [(bowtie, {"name": "Bow"}), (None, {"name": "Ghost"}), (shapely.Point(E0, N0), {"name": "Dot"}),
                (mixed, {"name": "Mixed"}), (shapely.Polygon(), {"name": "Hollow"})]
    read = read_places(geojson(tmp_path / "a.geojson", features, "urn:ogc:def:crs:EPSG::27700"), kind="custom")
    places = check_places(read, "custom")
    assert places["name"].tolist() == ["Bow", "Mixed"]
    assert read.repaired == ("Bow",)
    assert places["area_km2"].tolist() == pytest.approx([0.005, 1.0])
    assert read.dropped[:2] == ("Ghost: no geometry", "Dot: not a polygon (Point)")
    assert read.dropped[2] in {"Hollow: no geometry", "Hollow: empty geometry"}  # GDAL reads it as null
    empty = write(tmp_path / "e.gpkg", [shapely.Polygon(), SQUARE_KM], name=["Hollow", "Full"])
    assert read_places(empty, kind="custom").dropped == ("Hollow: empty geometry",)


def test_a_layer_with_nothing_usable_or_nothing_at_all_is_a_geometry_error(tmp_path):
    with pytest.raises(GeometryError, match="Ghost: no geometry"):
        read_places(geojson(tmp_path / "n.geojson", [(None, {"name": "Ghost"})]), kind="custom")
    with pytest.raises(GeometryError, match="no usable polygon"):
        read_places(geojson(tmp_path / "a.geojson", [(shapely.Point(E0, N0), {"name": "Dot"})],
                            "urn:ogc:def:crs:EPSG::27700"), kind="custom")
    with pytest.raises(GeometryError, match="empty"):
        read_places(geojson(tmp_path / "b.geojson", []), kind="custom")


def test_missing_unreadable_and_bad_kind(tmp_path):
    with pytest.raises(InputFileError, match="not found"):
        read_places(tmp_path / "nope.geojson", kind="custom")
    (tmp_path / "junk.geojson").write_text("this is not json")
    with pytest.raises(InputFileError, match="cannot read"):
        read_places(tmp_path / "junk.geojson", kind="custom")
    with pytest.raises(ConfigError, match="town_centre, lsoa, ward, custom"):
        read_places(tmp_path / "junk.geojson", kind="district")


def test_geopackage_layers_must_be_chosen_when_several(tmp_path):
    path = tmp_path / "two.gpkg"
    for layer, name in [("centres", "A"), ("wards", "B")]:
        gpd.GeoDataFrame({"name": [name]}, geometry=[SQUARE_KM], crs="EPSG:27700").to_file(path, layer=layer)
    with pytest.raises(GeometryError, match=r"centres.*wards"):
        read_places(path, kind="custom")
    assert read_places(path, kind="ward", layer="wards").places["name"].tolist() == ["B"]
    with pytest.raises(GeometryError, match="layer not found"):
        read_places(path, kind="custom", layer="roads")


def test_name_and_code_fields_given_guessed_or_missing(tmp_path):
    path = write(tmp_path / "a.gpkg", [SQUARE_KM], LAD11NM=["Camden"], LAD11CD=["E09000007"],
                 WD18NM=["Bloomsbury"], WD18CD=["E05000129"], other=[1])
    read = read_places(path, kind="ward")
    assert read.places[["name", "code"]].iloc[0].tolist() == ["Bloomsbury", "E05000129"]
    assert "name field guessed: WD18NM" in read.notes and "code field guessed: WD18CD" in read.notes
    read = read_places(path, kind="custom", name_field="lad11nm", code_field="LAD11CD")
    assert read.places["place_id"].tolist() == ["custom:E09000007"]
    with pytest.raises(SchemaError, match=r"'Borough'.*LAD11NM"):
        read_places(path, kind="custom", name_field="Borough")
    with pytest.raises(SchemaError, match=r"other.*--name-field"):
        read_places(write(tmp_path / "b.gpkg", [SQUARE_KM], other=[1], more=["x"]), kind="custom")


def test_missing_names_fall_back_to_code_then_file_name(tmp_path):
    features = [(SQUARE_KM, {"Name": "", "code": "C1"}), (SQUARE_KM, {"Name": None, "code": None})]
    read = read_places(geojson(tmp_path / "area.geojson", features, "EPSG:27700"), kind="custom")
    assert read.places["name"].tolist() == ["C1", "area 2"]
    assert read.places["place_id"].tolist() == ["custom:C1", "custom:area-2"]


def test_duplicate_place_ids_get_a_suffix_and_a_note(tmp_path):
    names = ["St. John's", "St John’s", "Ynys Môn", "St-John-s-2"]
    read = read_places(write(tmp_path / "a.gpkg", [SQUARE_KM] * 4, name=names), kind="ward")
    assert read.places["place_id"].tolist() == ["ward:st-john-s", "ward:st-john-s-3", "ward:ynys-mon",
                                                 "ward:st-john-s-2"]
    assert any("duplicate" in note for note in read.notes)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=st.lists(st.tuples(st.sampled_from(["a", "A", "a-2", "a 2", "b", "", "é"]),
                               st.sampled_from([None, "X", "x", "X-2"])), min_size=1, max_size=12))
def test_place_ids_are_always_unique(tmp_path, rows):
    features = [(SQUARE_KM, {"name": name, "code": code}) for name, code in rows]
    read = read_places(geojson(tmp_path / "p.geojson", features, "EPSG:27700"), kind="lsoa")
    assert read.places["place_id"].is_unique and len(read.places) == len(rows)


# --- fuzz: whatever the file holds, only HarmmapError subclasses escape ---------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-10**6, 10**6) | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=20)
coordinates = st.lists(st.lists(st.floats(-1e7, 1e7, allow_nan=False), min_size=2, max_size=3), max_size=6)
shaky_geometry = st.none() | json_values | st.fixed_dictionaries({
    "type": st.sampled_from(["Polygon", "MultiPolygon", "Point", "LineString", "GeometryCollection", "Blob"]),
    "coordinates": st.one_of(coordinates, st.lists(coordinates, max_size=3),
                             st.lists(st.lists(coordinates, max_size=2), max_size=2), json_values)})
shaky_geojson = st.fixed_dictionaries(
    {"type": st.sampled_from(["FeatureCollection", "Feature", "Nonsense"]),
     "features": st.lists(st.fixed_dictionaries({"type": st.just("Feature"), "geometry": shaky_geometry,
                                                 "properties": st.none() | json_values}), max_size=4)},
    optional={"crs": st.sampled_from([{"type": "name", "properties": {"name": "urn:ogc:def:crs:EPSG::27700"}},
                                      {"type": "name", "properties": {"name": "EPSG:999999"}}, "junk"])})
fuzz_settings = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def read_or_harmmap_error(path, **kwargs):
    """Call read_places; a HarmmapError is fine, anything else fails the test (pytest reports it)."""
    try:
        return read_places(path, kind="custom", **kwargs)
    except HarmmapError:
        return None


@fuzz_settings
@given(data=st.binary(max_size=300))
def test_fuzz_random_bytes_raise_only_harmmap_errors(tmp_path, data):
    path = tmp_path / "fuzz.geojson"
    path.write_bytes(data)
    read_or_harmmap_error(path)


@fuzz_settings
@given(doc=json_values | shaky_geojson, crs=st.sampled_from([None, "EPSG:27700", "EPSG:4326"]))
def test_fuzz_random_json_raises_only_harmmap_errors(tmp_path, doc, crs):
    path = tmp_path / "fuzz.geojson"
    path.write_text(json.dumps(doc))
    read = read_or_harmmap_error(path, crs=crs)
    if read is not None:
        check_places(read, "custom")


# --- real boundary files --------------------------------------------------------------------------

@pytest.fixture(scope="module")
def boundaries(shared_data):
    return shared_data / "boundaries"


@pytest.fixture(scope="module")
def lsoa_2011(boundaries):
    return read_places(boundaries / "london" / "LSOA_2011_London_gen_MHW.shp", kind="lsoa")


def test_manchester_city_centre_legacy_crs_member(boundaries):
    read = read_places(boundaries / "manchester_city_centre" / "mcr_city_centre.geojson", kind="town_centre")
    places = check_places(read, "town_centre")
    centre = places.geometry.iloc[0].centroid
    assert abs(centre.x - 384_000) < 2_000 and abs(centre.y - 398_000) < 2_000
    assert places["area_km2"].iloc[0] == pytest.approx(4.0, abs=0.1)


def test_gmp_force_area_3d_is_flattened(boundaries):
    read = read_places(boundaries / "manchester_city_centre" / "gmp_force_area.geojson", kind="custom")
    places = check_places(read, "custom")
    assert any("3-D" in note for note in read.notes) and len(places) == 1
    assert places.geometry.iloc[0].covers(shapely.Point(384_000, 398_000))  # Manchester city centre
    assert 1_200 < places["area_km2"].iloc[0] < 1_350


def test_london_wards_include_the_25_city_of_london_wards(boundaries):
    path = boundaries / "london" / "London_Ward_2018.shp"
    places = check_places(read_places(path, kind="ward"), "ward")
    assert len(places) == 657
    raw = pyogrio.read_dataframe(path, read_geometry=False)
    city = "ward:" + raw.loc[raw["LAGSSCODE"] == "E09000001", "GSS_CODE"]
    assert len(city) == 25 and city.isin(places["place_id"]).all()
    guildhall = points_to_places(np.array([532_500.0]), np.array([181_400.0]), places)  # Guildhall, Bassishaw
    assert places.set_index("place_id").loc[guildhall["place_id"], "name"].tolist() == ["Bassishaw"]


def test_major_towns_reports_salford_repaired(boundaries):
    path = boundaries / "major_towns_cities_2015" / "Major_Towns_and_Cities__December_2015__Boundaries.shp"
    read = read_places(path, kind="town_centre")
    places = check_places(read, "town_centre")
    assert len(places) == 112 and read.repaired == ("Salford",)
    assert "Leicester" in set(places["name"])
    leicester = places[places["name"] == "Leicester"].geometry.iloc[0]
    assert leicester.covers(shapely.Point(458_700, 304_500))  # Leicester clock tower, in grid metres


def test_police_force_areas(boundaries):
    places = check_places(read_places(boundaries / "police_force_areas" / "PFA_DEC_2023_EW_BSC.shp",
                                      kind="custom"), "custom")
    assert len(places) == 43 and "Leicestershire" in set(places["name"])
    assert places.set_index("name").loc["Leicestershire", "place_id"] == "custom:E23000021"  # PFA23CD


def test_london_lsoa_2011_esri_prj_and_eight_repairs(lsoa_2011):
    places = check_places(lsoa_2011, "lsoa")
    assert len(places) == 4835 and len(lsoa_2011.repaired) == 8 and lsoa_2011.dropped == ()
    assert any("no EPSG code" in note for note in lsoa_2011.notes)
    assert places["place_id"].iloc[0] == "lsoa:E01000001"


def test_london_lsoa_2021_geopackage_lines_up_with_2011(boundaries, lsoa_2011):
    places = check_places(read_places(boundaries / "london" / "London-LSOA-2021.gpkg", kind="lsoa"), "lsoa")
    assert len(places) == 4994
    assert places.total_bounds == pytest.approx(lsoa_2011.places.total_bounds, abs=5)
    same = places.set_index("place_id").loc["lsoa:E01000001", "area_km2"]
    assert same == pytest.approx(lsoa_2011.places.set_index("place_id").loc["lsoa:E01000001", "area_km2"], rel=0.02)
