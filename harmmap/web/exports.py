"""Export writers for priority lists: CSV, XLSX, GeoJSON, KML and GeoPackage.

* **Formula injection**: in CSV and XLSX every text cell that starts with
  ``=``, ``+``, ``-``, ``@``, a tab or a carriage return gets a leading
  apostrophe, so a spreadsheet shows it as text instead of running it (OWASP
  "CSV injection"); numbers are written as numbers (XLSX number cells; xlsxwriter
  with ``strings_to_formulas`` and ``strings_to_urls`` off, so no string ever
  becomes a formula or a link).
* **Coordinates**: rows carry WGS84 ``lat``/``lng`` and British National Grid
  ``easting``/``northing`` (pyproj, no OSTN15 grid: within 1-2 m).
* **GeoJSON** is RFC 7946 (WGS84 longitude/latitude, no ``crs`` member,
  polygons' exterior rings counter-clockwise); **KML** 2.2 is built with
  ElementTree (every text escaped, characters XML 1.0 forbids removed);
  **GeoPackage** is written by pyogrio to a temporary file that is streamed back
  and deleted.  Places and cells are polygons, stores points.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
from collections.abc import Callable, Iterator
from datetime import datetime, timezone
from io import BytesIO
from xml.etree import ElementTree as ET

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
import xlsxwriter
from flask import Response

#: format -> (MIME type, file extension)
FORMATS: dict[str, tuple[str, str]] = {
    "csv": ("text/csv; charset=utf-8", "csv"),
    "xlsx": ("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", "xlsx"),
    "geojson": ("application/geo+json", "geojson"),
    "kml": ("application/vnd.google-earth.kml+xml", "kml"),
    "gpkg": ("application/geopackage+sqlite3", "gpkg"),
}
KML_NS = "http://www.opengis.net/kml/2.2"
_DANGEROUS = re.compile(r"^[=+\-@\t\r]")
_XML_FORBIDDEN = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
_CHUNK = 64 * 1024


def escape_formula(value: object) -> object:
    """Prefix an apostrophe to text a spreadsheet would run as a formula; other values unchanged."""
    if isinstance(value, str) and _DANGEROUS.match(value):
        return "'" + value
    return value


def _text_columns(frame: pd.DataFrame) -> list[str]:
    return [c for c in frame.columns if not (pd.api.types.is_numeric_dtype(frame[c])
                                             or pd.api.types.is_bool_dtype(frame[c]))]


def safe_for_spreadsheets(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy with every text cell passed through :func:`escape_formula` (numbers untouched)."""
    safe = frame.copy()
    for column in _text_columns(safe):
        values = safe[column].astype(object)
        text = values.map(lambda v: isinstance(v, str))
        dangerous = text & values.where(text, "").astype(str).str.match(_DANGEROUS.pattern)
        safe[column] = values.where(~dangerous, "'" + values.where(dangerous, "").astype(str))
    return safe


def to_csv(rows: pd.DataFrame) -> bytes:
    """UTF-8 CSV with a byte-order mark (Excel reads the accents), CRLF line ends, escaped text."""
    return safe_for_spreadsheets(rows).to_csv(index=False, lineterminator="\r\n").encode("utf-8-sig")


def to_xlsx(rows: pd.DataFrame, sheet: str = "priority") -> bytes:
    """One worksheet: a bold header row, number cells for numbers, escaped strings for text."""
    buffer = BytesIO()
    options = {"in_memory": True, "strings_to_formulas": False, "strings_to_urls": False,
               "strings_to_numbers": False}
    with xlsxwriter.Workbook(buffer, options) as book:
        page = book.add_worksheet(sheet[:31])
        bold = book.add_format({"bold": True})
        text_columns = set(_text_columns(rows))
        safe = safe_for_spreadsheets(rows)
        for j, column in enumerate(rows.columns):
            page.write_string(0, j, str(column), bold)
            values = safe[column].tolist()
            if column in text_columns:
                for i, value in enumerate(values, start=1):
                    if isinstance(value, str):
                        page.write_string(i, j, value)
                    elif value is not None and not (isinstance(value, float) and np.isnan(value)):
                        page.write_string(i, j, str(escape_formula(str(value))))
            else:
                for i, value in enumerate(values, start=1):
                    if value is not None and np.isfinite(value):
                        page.write_number(i, j, float(value))
            page.set_column(j, j, min(40, max(10, len(str(column)) + 2)))
        page.freeze_panes(1, 0)
        if len(rows):
            page.autofilter(0, 0, len(rows), len(rows.columns) - 1)
    return buffer.getvalue()


def json_records(rows: pd.DataFrame) -> list[dict]:
    """Rows as JSON-ready dicts (NaN -> null, numpy scalars -> Python)."""
    return json.loads(rows.to_json(orient="records", double_precision=10)) if len(rows) else []


def to_geojson(rows: pd.DataFrame, geometries: gpd.GeoSeries) -> bytes:
    """An RFC 7946 FeatureCollection (WGS84, counter-clockwise exterior rings)."""
    shapes = shapely.orient_polygons(geometries.to_numpy(), exterior_cw=False)
    texts = shapely.to_geojson(shapes)
    features = [f'{{"type":"Feature","properties":{json.dumps(props, ensure_ascii=False)},'
                f'"geometry":{text if text is not None else "null"}}}'
                for props, text in zip(json_records(rows), texts)]
    return ('{"type":"FeatureCollection","features":[' + ",".join(features) + "]}").encode("utf-8")


def _xml_text(value: object) -> str:
    return _XML_FORBIDDEN.sub("", "" if value is None else str(value))


def _kml_coordinates(ring) -> str:
    return " ".join(f"{x:.7f},{y:.7f}" for x, y in np.asarray(ring.coords)[:, :2])


def _kml_geometry(parent: ET.Element, geometry) -> None:
    if geometry is None or geometry.is_empty:
        return
    if geometry.geom_type == "Point":
        ET.SubElement(ET.SubElement(parent, "Point"), "coordinates").text = f"{geometry.x:.7f},{geometry.y:.7f}"
        return
    polygons = list(geometry.geoms) if geometry.geom_type == "MultiPolygon" else [geometry]
    holder = ET.SubElement(parent, "MultiGeometry") if len(polygons) > 1 else parent
    for polygon in polygons:
        element = ET.SubElement(holder, "Polygon")
        outer = ET.SubElement(ET.SubElement(element, "outerBoundaryIs"), "LinearRing")
        ET.SubElement(outer, "coordinates").text = _kml_coordinates(polygon.exterior)
        for hole in polygon.interiors:
            inner = ET.SubElement(ET.SubElement(element, "innerBoundaryIs"), "LinearRing")
            ET.SubElement(inner, "coordinates").text = _kml_coordinates(hole)


def to_kml(rows: pd.DataFrame, geometries: gpd.GeoSeries, *, title: str, names: pd.Series,
           descriptions: pd.Series) -> bytes:
    """KML 2.2: one Placemark per row with name, description, every column as ExtendedData and its geometry."""
    root = ET.Element("kml", xmlns=KML_NS)
    document = ET.SubElement(root, "Document")
    ET.SubElement(document, "name").text = _xml_text(title)
    for record, geometry, name, description in zip(json_records(rows), geometries, names, descriptions):
        mark = ET.SubElement(document, "Placemark")
        ET.SubElement(mark, "name").text = _xml_text(name)
        ET.SubElement(mark, "description").text = _xml_text(description)
        extended = ET.SubElement(mark, "ExtendedData")
        for key, value in record.items():
            data = ET.SubElement(extended, "Data", name=_xml_text(key))
            ET.SubElement(data, "value").text = _xml_text("" if value is None else value)
        _kml_geometry(mark, geometry)
    return ET.tostring(root, encoding="utf-8", xml_declaration=True)


def to_gpkg(rows: pd.DataFrame, geometries: gpd.GeoSeries, *, layer: str) -> Iterator[bytes]:
    """Write a GeoPackage (one layer, EPSG:4326) to a temporary file; yield its bytes, then delete it."""
    folder = tempfile.mkdtemp(prefix="harmmap-export-")
    try:
        path = os.path.join(folder, f"{layer}.gpkg")
        frame = gpd.GeoDataFrame(rows.reset_index(drop=True), geometry=geometries.reset_index(drop=True),
                                 crs="EPSG:4326")
        frame.to_file(path, driver="GPKG", layer=layer, engine="pyogrio")
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise

    def stream() -> Iterator[bytes]:
        try:
            with open(path, "rb") as handle:
                while chunk := handle.read(_CHUNK):
                    yield chunk
        finally:
            shutil.rmtree(folder, ignore_errors=True)

    return stream()


def attachment(body: bytes | Iterator[bytes], fmt: str, stem: str) -> Response:
    """A download response: the format's MIME type and ``Content-Disposition: attachment``."""
    mime, extension = FORMATS[fmt]
    stamp = datetime.now(timezone.utc).strftime("%Y%m%d-%H%M")
    safe_stem = re.sub(r"[^A-Za-z0-9_-]+", "-", stem).strip("-") or "export"
    response = Response(body, mimetype=mime.split(";")[0], content_type=mime)
    response.headers["Content-Disposition"] = f'attachment; filename="{safe_stem}-{stamp}.{extension}"'
    if isinstance(body, bytes):
        response.headers["Content-Length"] = str(len(body))
    return response


def write_export(fmt: str, rows: pd.DataFrame, geometries: gpd.GeoSeries, *, title: str, layer: str,
                 names: pd.Series, descriptions: pd.Series) -> bytes | Iterator[bytes]:
    """Dispatch to the writer of ``fmt`` (one of :data:`FORMATS`)."""
    writers: dict[str, Callable[[], bytes | Iterator[bytes]]] = {
        "csv": lambda: to_csv(rows),
        "xlsx": lambda: to_xlsx(rows, layer),
        "geojson": lambda: to_geojson(rows, geometries),
        "kml": lambda: to_kml(rows, geometries, title=title, names=names, descriptions=descriptions),
        "gpkg": lambda: to_gpkg(rows, geometries, layer=layer),
    }
    return writers[fmt]()
