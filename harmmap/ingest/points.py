"""Read point layers (GeoJSON, GeoPackage) as a table of text attributes plus WGS84 coordinates.

A retailer can export incidents or stores as points from a GIS.  Every
feature becomes one row: its attributes as text (so the same column mapping
and validation as for CSV apply) and the point's ``lat``/``lng`` in WGS84
(reprojected from the layer's CRS).  Features whose geometry is missing,
empty or not a point get NaN coordinates and are then rejected as
``no_location`` / ``bad_coordinates`` by the reader that uses the table.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import shapely

from harmmap.errors import GeometryError, InputFileError

GEOJSON_START = (b"{", b"[")
GPKG_MAGIC = b"SQLite format 3\x00"

LAT_COLUMN = "lat"
LNG_COLUMN = "lng"


def looks_like_point_layer(head: bytes) -> bool:
    """Return True if the first bytes of a file look like GeoJSON or a GeoPackage."""
    stripped = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    return head.startswith(GPKG_MAGIC) or (stripped[:1] in GEOJSON_START and b'"type"' in head)


def _open_layer(path: Path, layer: str | None):
    import geopandas
    import pyogrio

    with path.open("rb") as handle:  # GDAL goes by extension; choose the driver by content
        source = f"{'GPKG' if handle.read(16) == GPKG_MAGIC else 'GeoJSON'}:{path}"
    try:
        layers = [name for name, _ in pyogrio.list_layers(source)]
    except Exception as exc:  # pyogrio raises several GDAL error types
        raise InputFileError("cannot read the point layer", given=f"{path}: {exc}",
                             fix="export it again as GeoJSON or GeoPackage") from None
    if layer is None and len(layers) > 1:
        raise GeometryError("the file has several layers", given=f"{path}: {layers}", fix="choose one with --layer")
    if layer is not None and layer not in layers:
        raise GeometryError("no such layer", given=f"{layer!r} in {path}; layers: {layers}")
    try:
        frame = pyogrio.read_dataframe(source, layer=layer)
    except Exception as exc:
        raise InputFileError("cannot read the point layer", given=f"{path}: {exc}") from None
    if not isinstance(frame, geopandas.GeoDataFrame):
        raise InputFileError("the layer has no geometry", given=str(path),
                             fix="export it again as GeoJSON or GeoPackage points")
    return frame


def read_point_layer(path: str | Path, *, layer: str | None = None) -> pd.DataFrame:
    """Return the layer's attributes as text plus ``lat``/``lng`` (WGS84) of each point.

    Raises
    ------
    InputFileError
        The file cannot be read.
    GeometryError
        Several layers and none chosen, or the layer has no CRS.
    """
    frame = _open_layer(Path(path), layer)
    if frame.crs is None:
        raise GeometryError("the point layer declares no coordinate reference system", given=str(path),
                            fix="re-export it with a CRS (EPSG:4326 or EPSG:27700)")
    geometry = frame.geometry.to_numpy()
    is_point = shapely.get_type_id(geometry) == 0
    usable = is_point & ~shapely.is_empty(geometry) & ~pd.isna(geometry)
    points = frame.geometry.where(usable, None).to_crs("EPSG:4326")
    lat = np.where(usable, shapely.get_y(points.to_numpy()), np.nan)
    lng = np.where(usable, shapely.get_x(points.to_numpy()), np.nan)
    attributes = pd.DataFrame(frame.drop(columns=frame.geometry.name))
    text = attributes.astype("string").where(attributes.notna(), pd.NA)
    if LAT_COLUMN in text or LNG_COLUMN in text:
        text = text.rename(columns={LAT_COLUMN: f"{LAT_COLUMN}_attribute", LNG_COLUMN: f"{LNG_COLUMN}_attribute"})
    text[LAT_COLUMN] = pd.Series(lat).round(7).astype("string").to_numpy()
    text[LNG_COLUMN] = pd.Series(lng).round(7).astype("string").to_numpy()
    return text.reset_index(drop=True)
