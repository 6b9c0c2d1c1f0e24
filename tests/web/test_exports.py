"""Exports of priority lists: every format parses back, formula injection is defused, BNG is right, audited."""

from __future__ import annotations

import csv
import io
import json
import re
import uuid
from xml.etree import ElementTree as ET

import numpy as np
import openpyxl
import pandas as pd
import pyogrio
import pytest
from pyproj import Transformer

from harmmap.store.accounts import read_audit
from harmmap.store.areas import create_area, delete_area
from harmmap.web.exports import escape_formula, safe_for_spreadsheets, to_csv, to_xlsx

FORMULA = '=HYPERLINK("http://x")'
KML = "{http://www.opengis.net/kml/2.2}"
MIME = {"csv": "text/csv", "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        "geojson": "application/geo+json", "kml": "application/vnd.google-earth.kml+xml",
        "gpkg": "application/geopackage+sqlite3"}


def _download(client, fmt: str, query: str, api: bool = False) -> bytes:
    response = client.get(f"{'/api/priority' if api else '/deployment'}/export.{fmt}?{query}")
    assert response.status_code == 200, response.get_data(as_text=True)[:400]
    assert response.mimetype == MIME[fmt]
    assert re.fullmatch(rf'attachment; filename="harmmap-priority-[a-z]+-\d{{8}}-\d{{4}}\.{fmt}"',
                        response.headers["Content-Disposition"])
    return response.get_data()


def _csv_rows(data: bytes) -> list[dict]:
    return list(csv.DictReader(io.StringIO(data.decode("utf-8-sig"), newline="")))


def _xlsx_sheet(data: bytes):
    return openpyxl.load_workbook(io.BytesIO(data)).active


def _gpkg(data: bytes, tmp_path):
    path = tmp_path / f"{uuid.uuid4().hex}.gpkg"
    path.write_bytes(data)
    return pyogrio.read_dataframe(path)


def test_each_format_parses_back_with_the_same_rows(bearer, tmp_path):
    client = bearer("deploy")
    for kind, key, geometry in (("places", "place_id", "Polygon"), ("cells", "cell", "Polygon"),
                                ("stores", "store_id", "Point")):
        expected = [r[key] for r in client.get(f"/api/priority?kind={kind}&top=25").get_json()["rows"]]
        query = f"kind={kind}&top=25"
        assert [r[key] for r in _csv_rows(_download(client, "csv", query))] == expected
        sheet = _xlsx_sheet(_download(client, "xlsx", query))
        header = [c.value for c in sheet[1]]
        assert [row[header.index(key)] for row in sheet.iter_rows(min_row=2, values_only=True)] == expected
        collection = json.loads(_download(client, "geojson", query))
        assert collection["type"] == "FeatureCollection" and "crs" not in collection
        assert [f["properties"][key] for f in collection["features"]] == expected
        assert {f["geometry"]["type"] for f in collection["features"]} <= {geometry, "Multi" + geometry}
        root = ET.fromstring(_download(client, "kml", query))
        marks = root.findall(f"{KML}Document/{KML}Placemark")
        values = [m.find(f"{KML}ExtendedData/{KML}Data[@name='{key}']/{KML}value").text for m in marks]
        assert values == [str(v) for v in expected] and all(m.find(f"{KML}name").text for m in marks)
        assert len(root.findall(f".//{KML}{geometry}")) >= len(expected)
        frame = _gpkg(_download(client, "gpkg", query, api=True), tmp_path)
        assert list(frame[key].astype(str)) == [str(v) for v in expected] and frame.crs.to_epsg() == 4326
        assert set(frame.geometry.geom_type) <= {geometry, "Multi" + geometry}


def test_geojson_polygons_are_counter_clockwise_wgs84(bearer):
    collection = json.loads(_download(bearer("planner"), "geojson", "kind=places&top=5"))
    for feature in collection["features"]:
        ring = np.asarray(feature["geometry"]["coordinates"][0] if feature["geometry"]["type"] == "Polygon"
                          else feature["geometry"]["coordinates"][0][0])
        x, y = ring[:, 0], ring[:, 1]
        assert np.sum(x[:-1] * y[1:] - x[1:] * y[:-1]) > 0  # positive signed area: counter-clockwise
        assert (-8 < x).all() and (x < 2).all() and (49 < y).all() and (y < 61).all()  # lng, lat in Britain


def test_formula_store_is_escaped_in_csv_and_xlsx(bearer):
    client = bearer("deploy")
    rows = _csv_rows(_download(client, "csv", "kind=stores&org=other"))
    named = {r["store_id"]: r["name"] for r in rows}
    assert named["O2"] == "'" + FORMULA and named["O1"] == "Other Leicester"
    sheet = _xlsx_sheet(_download(client, "xlsx", "kind=stores&org=other"))
    header = [c.value for c in sheet[1]]
    for row in sheet.iter_rows(min_row=2):
        cells = dict(zip(header, row))
        if cells["store_id"].value == "O2":
            assert cells["name"].value == "'" + FORMULA and cells["name"].data_type == "s"
        for column in ("priority", "harm", "incidents", "lat", "lng", "easting", "northing", "gi_bin"):
            assert cells[column].data_type == "n" and isinstance(cells[column].value, (int, float)), column
    assert not any(c.data_type == "f" for row in sheet.iter_rows() for c in row)


def test_csv_has_wgs84_and_bng_within_two_metres(bearer):
    to_bng = Transformer.from_crs("EPSG:4326", "EPSG:27700", always_xy=True)
    for kind in ("places", "cells", "stores"):
        rows = _csv_rows(_download(bearer("planner"), "csv", f"kind={kind}&top=50"))
        lat, lng = (np.array([float(r[c]) for r in rows]) for c in ("lat", "lng"))
        easting, northing = (np.array([float(r[c]) for r in rows]) for c in ("easting", "northing"))
        x, y = to_bng.transform(lng, lat)
        assert np.hypot(x - easting, y - northing).max() < 2.0


def test_area_filter_applies_to_exports_and_exports_are_audited(bearer, web_workspace, tmp_path):
    places = ["town_centre:TC001", "town_centre:TC010"]
    area_id = create_area(web_workspace, f"Export area {uuid.uuid4().hex[:6]}", places, "tests")
    try:
        client = bearer("deploy")
        rows = _csv_rows(_download(client, "csv", f"kind=places&area={area_id}"))
        assert sorted(r["place_id"] for r in rows) == places
        stores = _csv_rows(_download(client, "csv", f"kind=stores&area={area_id}"))
        assert stores and all(r["places"] in ("Leicester", "Derby") for r in stores)
        assert {"O1"} <= {r["store_id"] for r in stores}  # the other organisation's Leicester store is listed
        frame = _gpkg(_download(client, "gpkg", f"kind=cells&area={area_id}"), tmp_path)
        assert len(frame) and set(frame["places"]) <= {"Leicester", "Derby"}
        entry = next(e for e in read_audit(web_workspace, 10) if e["action"] == "export")
        detail = json.loads(entry["detail"])
        assert entry["username"] == "deploy" and entry["target"] == "export:priority-cells.gpkg"
        assert detail["filters"]["area"] == area_id and detail["rows"] == len(frame) and detail["format"] == "gpkg"
    finally:
        delete_area(web_workspace, area_id)


def test_unknown_format_is_404(bearer):
    assert bearer("planner").get("/deployment/export.pdf").status_code == 404
    assert bearer("planner").get("/api/priority/export.exe").get_json()["status"] == 404


@pytest.mark.parametrize("text", ["=1+1", "+1", "-2", "@SUM(A1)", "\tx", "\rx", FORMULA])
def test_escape_formula(text):
    assert escape_formula(text) == "'" + text
    assert escape_formula("plain =1") == "plain =1" and escape_formula(-2.5) == -2.5 and escape_formula(None) is None


def test_writers_keep_numbers_numeric_and_blank_missing_values():
    frame = pd.DataFrame({"name": ["-minus", None, "ok"], "value": [-1.5, np.nan, 3.0], "count": [1, 2, 3]})
    safe = safe_for_spreadsheets(frame)["name"]
    assert safe[0] == "'-minus" and pd.isna(safe[1]) and safe[2] == "ok"
    rows = list(csv.reader(io.StringIO(to_csv(frame).decode("utf-8-sig"))))
    assert rows == [["name", "value", "count"], ["'-minus", "-1.5", "1"], ["", "", "2"], ["ok", "3.0", "3"]]
    sheet = openpyxl.load_workbook(io.BytesIO(to_xlsx(frame))).active
    assert [c.value for c in sheet["B"]] == ["value", -1.5, None, 3] and sheet["B2"].data_type == "n"
    assert sheet["A2"].value == "'-minus" and sheet["A3"].value is None


@pytest.mark.parametrize("fmt", list(MIME))
def test_empty_lists_export_cleanly(bearer, fmt, tmp_path):
    data = _download(bearer("planner"), fmt, "kind=stores&place_kind=ward")
    if fmt == "csv":
        assert _csv_rows(data) == [] and data.decode("utf-8-sig").startswith("priority,org_id,store_id")
    elif fmt == "geojson":
        assert json.loads(data) == {"type": "FeatureCollection", "features": []}
    elif fmt == "gpkg":
        assert len(_gpkg(data, tmp_path)) == 0
    elif fmt == "kml":
        assert ET.fromstring(data).find(f"{KML}Document/{KML}Placemark") is None
    else:
        assert _xlsx_sheet(data).max_row == 1
