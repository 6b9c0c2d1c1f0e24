"""Point layers (GeoJSON, GeoPackage) as incident / store tables."""

from __future__ import annotations

import json

import geopandas as gpd
import pytest
import shapely
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harmmap.errors import HarmmapError
from harmmap.ingest.points import looks_like_point_layer, read_point_layer


def test_geojson_in_british_national_grid_is_reprojected(tmp_path):
    doc = {"type": "FeatureCollection",
           "crs": {"type": "name", "properties": {"name": "urn:ogc:def:crs:EPSG::27700"}},
           "features": [
               {"type": "Feature", "properties": {"ref": "A1", "cat": "Theft"},
                "geometry": {"type": "Point", "coordinates": [458900, 304200]}},
               {"type": "Feature", "properties": {"ref": "A2", "cat": "Robbery"}, "geometry": None},
               {"type": "Feature", "properties": {"ref": "A3", "cat": "Theft"},
                "geometry": {"type": "LineString", "coordinates": [[0, 0], [1, 1]]}},
           ]}
    path = tmp_path / "incidents.geojson"
    path.write_text(json.dumps(doc))
    assert looks_like_point_layer(path.read_bytes()[:64])
    table = read_point_layer(path)
    assert table["ref"].tolist() == ["A1", "A2", "A3"]
    assert 52.6 < float(table.loc[0, "lat"]) < 52.7 and -1.2 < float(table.loc[0, "lng"]) < -1.1
    assert table.loc[1:, "lat"].isna().all()  # no geometry / not a point -> rejected later as no_location


def test_geopackage_points(tmp_path):
    frame = gpd.GeoDataFrame({"store": ["S1", "S2"]}, geometry=[shapely.Point(-1.13, 52.63), shapely.Point(-0.12, 51.5)],
                             crs=4326)
    path = tmp_path / "stores.gpkg"
    frame.to_file(path, layer="stores")
    table = read_point_layer(path)
    assert table["store"].tolist() == ["S1", "S2"] and float(table.loc[1, "lat"]) == pytest.approx(51.5)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.binary(max_size=300))
def test_garbage_only_raises_harmmap_errors(tmp_path, noise):
    path = tmp_path / "x.geojson"
    path.write_bytes(b'{"type": "FeatureCollection", ' + noise)
    try:
        read_point_layer(path)
    except HarmmapError:
        pass


def test_retailer_incidents_from_a_geojson_point_layer(tmp_path):
    from harmmap.ingest.mapping import load_mapping
    from harmmap.ingest.retailer import read_retailer_incidents

    doc = {"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"ref": "A1", "date": "03/04/2024", "category": "Theft"},
         "geometry": {"type": "Point", "coordinates": [-1.1316, 52.6345]}},
        {"type": "Feature", "properties": {"ref": "A2", "date": "04/04/2024", "category": "Robbery"},
         "geometry": None},
    ]}
    path = tmp_path / "incidents.geojson"
    path.write_text(json.dumps(doc))
    mapping = load_mapping(columns={"source_ref": "ref", "date": "date", "category": "category",
                                    "lat": "lat", "lng": "lng"})
    result = read_retailer_incidents(path, org_id="acme", mapping=mapping)
    assert result.rows_read == 2 and len(result.incidents) == 1
    assert result.rejects["reason"].tolist() == ["no_location"]
    assert result.incidents["crime_type"].tolist() == ["Shoplifting"]
    assert str(result.incidents["month"].iloc[0])[:10] == "2024-04-01"  # dd/mm/yyyy
