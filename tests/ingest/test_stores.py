"""Tests for harmmap.ingest.stores: store lists (CSV, gz, XLSX, GeoJSON)."""

from __future__ import annotations

import gzip
import json

import numpy as np
import openpyxl
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harmmap.errors import HarmmapError, MappingError, SchemaError
from harmmap.geo.crs import wgs84_to_bng
from harmmap.ingest.postcodes import read_postcode_lookup
from harmmap.ingest.stores import STORE_COLUMNS, read_stores
from harmmap.schema import REJECT_REASONS

CSV = (
    "Store No,Store Name,Latitude,Longitude,Postcode\n"
    "S1,Leicester High St,52.6350,-1.1300,LE1 5WW\n"
    "S2,City,51.5150,-0.0930,\n"
    ",No id,52.0,-1.0,\n"
    "S1,Duplicate,52.0,-1.0,\n"
    "S3,Paris,48.8566,2.3522,\n"
    "S4,Swapped,-1.13,52.635,\n"
    "S5,Nowhere,,,\n"
    "S6,By postcode,,,LE1 5WW\n"
    "S7,Unknown postcode,,,ZZ9 9ZZ\n"
    "S8,St Helier Jersey,49.1858,-2.1050,JE2 4WE\n"
)


def write(tmp_path, name, data):
    path = tmp_path / name
    path.write_bytes(data.encode() if isinstance(data, str) else data)
    return path


@pytest.fixture
def lookup(tmp_path):
    return read_postcode_lookup(write(tmp_path, "onspd.csv", "pcds,lat,long\nLE1 5WW,52.634,-1.129\n"))


def test_csv_with_every_reason(tmp_path, lookup):
    read = read_stores(write(tmp_path, "stores.csv", CSV), org_id="acme", postcodes=lookup)
    assert tuple(read.stores.columns) == STORE_COLUMNS
    assert read.stores["store_id"].tolist() == ["S1", "S2", "S6", "S8"]
    assert read.rows_read == 10 == len(read.stores) + len(read.rejects)
    assert read.rejects["reason"].tolist() == ["missing_value", "bad_value", "outside_uk", "lat_lng_swapped",
                                               "no_location", "postcode_not_found"]
    assert "duplicate store id 'S1'" in read.rejects["detail"][1]
    s1 = read.stores.iloc[0]
    assert (s1["org_id"], s1["name"], s1["postcode"], s1["lat"], s1["lng"]) == ("acme", "Leicester High St",
                                                                               "LE1 5WW", 52.635, -1.13)
    e, n = wgs84_to_bng(np.array([52.635]), np.array([-1.13]))
    assert (s1["easting"], s1["northing"]) == pytest.approx((e[0], n[0]))
    assert read.stores.iloc[2][["lat", "lng"]].tolist() == [52.634, -1.129]
    assert read.stores[["lat", "lng", "easting", "northing"]].notna().all().all()


def test_columns_override_and_errors(tmp_path):
    path = write(tmp_path, "s.csv", "Code,Label,Y,X\nA,One,52.6,-1.1\n")
    with pytest.raises(SchemaError, match="no store id column") as caught:
        read_stores(path, org_id="acme")
    assert "Code" in str(caught.value.given)
    read = read_stores(path, org_id="acme", columns={"store_id": "Code", "name": "Label", "lat": "Y", "lng": "X"})
    assert read.stores[["store_id", "name", "lat"]].values.tolist() == [["A", "One", 52.6]]
    with pytest.raises(SchemaError, match="no usable location"):
        read_stores(path, org_id="acme", columns={"store_id": "Code"})
    with pytest.raises(SchemaError, match="Nope"):
        read_stores(path, org_id="acme", columns={"store_id": "Nope"})
    with pytest.raises(MappingError, match="unknown store field"):
        read_stores(path, org_id="acme", columns={"shop": "Code"})


def test_grid_only_gzip(tmp_path):
    data = gzip.compress(b"branch,bng_e,bng_n\nB1,458800,304200\nB2,52.6,-1.1\n")
    read = read_stores(write(tmp_path, "s.csv.gz", data), org_id="acme")
    assert read.stores[["store_id", "easting", "northing"]].values.tolist() == [["B1", 458800.0, 304200.0]]
    assert read.stores["lat"][0] == pytest.approx(52.632, abs=1e-3)
    assert read.rejects["reason"].tolist() == ["bad_coordinates"]


def test_xlsx(tmp_path):
    book = openpyxl.Workbook()
    for row in (["Store_ID", "Name", "Lat", "Lon"], [1001, "A", 52.6, -1.1], [1002.0, "B", 51.5, -0.1]):
        book.active.append(row)
    path = tmp_path / "stores.xlsx"
    book.save(path)
    assert read_stores(path, org_id="acme").stores["store_id"].tolist() == ["1001", "1002"]


def test_geojson(tmp_path):
    def point(props, coords, kind="Point"):
        return {"type": "Feature", "properties": props, "geometry": {"type": kind, "coordinates": coords}}

    doc = {"type": "FeatureCollection", "features": [
        point({"id": "G1", "name": "One"}, [-1.13, 52.635]),
        point({"id": "G2", "name": "Area"}, [[[0, 0], [1, 1], [1, 0], [0, 0]]], "Polygon"),
        {"type": "Feature", "id": "G3", "properties": {"name": "Three"}, "geometry": {"type": "Point",
                                                                                    "coordinates": [-0.093, 51.515]}},
    ]}
    read = read_stores(write(tmp_path, "stores.json", json.dumps(doc)), org_id="acme")
    assert read.stores[["store_id", "name", "lat", "lng"]].values.tolist() == [["G1", "One", 52.635, -1.13],
                                                                             ["G3", "Three", 51.515, -0.093]]
    assert read.rejects["reason"].tolist() == ["bad_value"] and "Polygon" in read.rejects["detail"][0]
    grid = {"type": "FeatureCollection", "crs": {"type": "name", "properties": {"name": "EPSG:27700"}},
            "features": [point({"id": "B1"}, [458800, 304200])]}
    assert read_stores(write(tmp_path, "g.geojson", json.dumps(grid)), org_id="acme").stores["easting"][0] == 458800


def test_geolytix_retail_points(shared_data):
    path = shared_data / "stores" / "geolytix_retailpoints_v34_202412_clean.csv.gz"
    read = read_stores(path, org_id="geolytix")
    assert read.rows_read == len(read.stores) == 14_176 and read.rejects.empty
    assert read.stores["store_id"].is_unique and read.stores["name"].notna().all()
    raw = pd.read_csv(path, usecols=["id", "lat_wgs", "long_wgs", "bng_e"])
    assert read.stores["lat"].tolist() == raw["lat_wgs"].tolist()
    close = (read.stores["easting"] - raw["bng_e"]).abs() < 5  # 12 source rows disagree with themselves
    assert close.mean() > 0.998


CELLS = st.sampled_from(["", "S1", "S1", "x", "52.6", "-1.1", "0", "458800", "304200", "LE1 5WW", '"', "a,b",
                         "\u00e9", "nan", "inf", "x" * 3000])


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(header=st.lists(st.sampled_from(["id", "name", "lat", "lng", "easting", "northing", "postcode", "other"]),
                       min_size=1, max_size=6, unique=True),
       rows=st.lists(st.lists(CELLS, max_size=7), max_size=8), junk=st.binary(max_size=30),
       geojson=st.booleans())
def test_fuzz_only_harmmap_errors_and_rows_add_up(tmp_path, lookup, header, rows, junk, geojson):
    if geojson:
        features = [{"type": "Feature", "properties": dict(zip(header, r)),
                     "geometry": {"type": "Point", "coordinates": r[:2]} if len(r) > 1 else None} for r in rows]
        data = json.dumps({"type": "FeatureCollection", "features": features}).encode() + junk[:1]
    else:
        data = ("\n".join([",".join(header)] + [",".join(r) for r in rows]) + "\n").encode() + junk
    try:
        read = read_stores(write(tmp_path, "fuzz.csv", data), org_id="acme", postcodes=lookup)
    except HarmmapError:
        return
    assert read.rows_read == len(read.stores) + len(read.rejects)
    assert set(read.rejects["reason"]) <= set(REJECT_REASONS)
    assert read.stores["store_id"].is_unique
    assert read.stores[["lat", "lng", "easting", "northing"]].notna().all().all()
