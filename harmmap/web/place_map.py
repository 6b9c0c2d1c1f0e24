"""A place's small map: folium (Leaflet) with the app's own Leaflet files and the CSP nonce.

folium writes a whole HTML document that loads Leaflet, jQuery, Bootstrap and
Font Awesome from CDNs and inlines its scripts and styles.  Here the map asks
only for Leaflet, from ``/static/vendor/leaflet/`` (``default_js``/``default_css``);
the document is cut into the pieces a page needs (asset links, the map's own
style, the map ``<div>``, the script) and every inline ``<script>``/``<style>``
gets the request's nonce, so the strict Content-Security-Policy holds and the
map works offline.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import folium
import h3ronpy.vector as h3v
import numpy as np
import pandas as pd
import shapely
from markupsafe import Markup

from harmmap.errors import HarmmapError
from harmmap.geo.cells import strings_to_cells
from harmmap.report.palettes import GI_BIN_LABELS, GI_PALETTE

_HEAD = re.compile(r"<head>(.*?)</head>", re.S)
_BODY = re.compile(r"<body>(.*?)</body>", re.S)
_SCRIPT_AFTER_BODY = re.compile(r"</body>\s*(<script>.*</script>)\s*</html>", re.S)
_STYLE = re.compile(r"<style>(.*?)</style>", re.S)
_INLINE_SCRIPT = re.compile(r"<script>")
_ASSET = re.compile(r'<(?:script src|link rel="stylesheet" href)="[^"]*"\s*/?>(?:</script>)?')
_EXTERNAL = re.compile(r"""(?:src|href)\s*=\s*["']?(?:https?:)?//""", re.I)


@dataclass(frozen=True)
class MapParts:
    """The pieces of a folium map to place in a page: ``head`` (links and style), ``body`` (the div), ``script``."""

    head: Markup
    body: Markup
    script: Markup


def _with_nonce(html: str, nonce: str) -> str:
    html = _INLINE_SCRIPT.sub(f'<script nonce="{nonce}">', html)
    return html.replace("<style>", f'<style nonce="{nonce}">')


def split_folium(document: str, nonce: str) -> MapParts:
    """Cut a rendered folium document into page pieces, nonce its inline code, and refuse any external URL.

    Parameters
    ----------
    document : str
        ``folium.Map.get_root().render()``.
    nonce : str
        The request's CSP nonce (``g.nonce``).

    Returns
    -------
    MapParts
    """
    head, body = _HEAD.search(document).group(1), _BODY.search(document).group(1)
    script = _SCRIPT_AFTER_BODY.search(document).group(1)
    assets = "\n".join(_ASSET.findall(head))
    styles = [s for s in _STYLE.findall(head) if "html, body" not in s and "#map {" not in s]
    switches = re.findall(r"<script>\s*L_NO_TOUCH.*?</script>", head, re.S)
    head_html = assets + "".join(f"<style>{s}</style>" for s in styles) + "".join(switches)
    parts = [_with_nonce(text, nonce) for text in (head_html, body, script)]
    for text in parts:
        if _EXTERNAL.search(text):
            raise HarmmapError("the map refers to another host", given=_EXTERNAL.search(text).group(0),
                               fix="serve every map asset from /static")
    return MapParts(*(Markup(p) for p in parts))


def _cells_geojson(cells: pd.DataFrame) -> dict:
    ids = strings_to_cells(cells["cell"])
    shapes = shapely.from_wkb(np.asarray(h3v.cells_to_wkb_polygons(ids).to_pylist(), dtype=object))
    features = []
    for shape, (_, row) in zip(shapes, cells.iterrows()):  # a handful of cells per place
        features.append({"type": "Feature", "geometry": shapely.geometry.mapping(shape), "properties": {
            "cell": row["cell"], "harm": round(float(row["harm"]), 1), "incidents": int(row["incidents"]),
            "gi_class": GI_BIN_LABELS.get(int(row["gi_bin"]), GI_BIN_LABELS[0])}})
    return {"type": "FeatureCollection", "features": features}


def place_map(geometry, cells: pd.DataFrame, *, leaflet_js: str, leaflet_css: str, nonce: str,
              tiles_url: str = "", attribution: str = "", height: int = 420) -> MapParts:
    """A folium map of one place: its boundary and its hot (and cold) cells coloured by Gi* class.

    Parameters
    ----------
    geometry : shapely geometry
        The place polygon in WGS84.
    cells : pandas.DataFrame
        Columns ``cell`` (hex), ``harm``, ``incidents``, ``gi_bin``; cells with
        ``gi_bin == 0`` are not drawn.
    leaflet_js, leaflet_css : str
        URLs of the app's own Leaflet files.
    nonce : str
    tiles_url, attribution : str
        Basemap tiles (empty: boundaries only, works offline).
    height : int
        Pixels.

    Returns
    -------
    MapParts
    """
    west, south, east, north = shapely.bounds(geometry)
    fmap = folium.Map(location=[(south + north) / 2, (west + east) / 2], zoom_start=14, tiles=None,
                      width="100%", height=f"{height}px", control_scale=True, prefer_canvas=False)
    fmap.default_js = [("leaflet", leaflet_js)]
    fmap.default_css = [("leaflet_css", leaflet_css)]
    if tiles_url:
        folium.TileLayer(tiles=tiles_url, attr=attribution or " ", name="Basemap").add_to(fmap)
    # No tooltip with the name: folium puts tooltip text into HTML unescaped (the name is in the page title).
    folium.GeoJson(shapely.geometry.mapping(geometry), name="Boundary",
                   style_function=lambda _: {"color": "#222222", "weight": 2, "fillOpacity": 0.05}).add_to(fmap)
    shown = cells[cells["gi_bin"] != 0]
    if len(shown):
        folium.GeoJson(
            _cells_geojson(shown), name="Gi* hot and cold cells",
            style_function=lambda f: {"color": "#555555", "weight": 1, "fillOpacity": 0.7,
                                      "fillColor": GI_PALETTE[f["properties"]["gi_class"]]},
            tooltip=folium.GeoJsonTooltip(fields=["cell", "gi_class", "harm", "incidents"],
                                          aliases=["Cell", "Gi* class", "Harm", "Incidents"]),
        ).add_to(fmap)
    fmap.fit_bounds([[south, west], [north, east]])
    return split_folium(fmap.get_root().render(), nonce)
