"""Static SVG maps for the report: no JavaScript, no network, no external files.

Maps are drawn in British National Grid (EPSG:27700), so distances and shapes are
true in Great Britain.  Cell outlines come from h3ronpy (H3's C core, all cells in
one call), are projected with pyproj, snapped to a grid of quarter pixels (so
neighbouring cells share exact vertices), merged per class with GEOS's coverage
union and written as ONE ``<path>`` per class in relative integer moves: a
20 000-cell map of clustered classes is about 240 kB.  Every piece of text is XML-escaped
here; the caller may insert the result into HTML unescaped.  The ``<svg>``
elements are written for inline use in HTML5 (no ``xmlns``, no links).
"""

from __future__ import annotations

import html
import math
from collections.abc import Sequence

import h3
import numpy as np
import pyarrow as pa
import shapely
from h3ronpy.vector import cells_to_wkb_polygons

from harmmap.geo.crs import wgs84_to_bng
from harmmap.report.model import Boundary, MapLayer

UNITS = 4  # map path coordinates are integers in 1/UNITS of a pixel
LEGEND_WIDTH = 230
MAX_BOUNDARY_LABELS = 25
FONT = "font-family=\"'Segoe UI','Helvetica Neue',Arial,'Liberation Sans','DejaVu Sans',sans-serif\""


def escape_text(text: object) -> str:
    """Return text safe inside SVG/HTML text and attribute values."""
    return html.escape(str(text), quote=True)


def _to_bng(geometries: np.ndarray) -> np.ndarray:
    """Return WGS84 (lng, lat) geometries re-projected to British National Grid metres."""
    geometries = np.asarray(geometries, dtype=object)
    if geometries.size == 0:
        return geometries
    coords = shapely.get_coordinates(geometries)
    easting, northing = wgs84_to_bng(coords[:, 1], coords[:, 0])
    return shapely.set_coordinates(geometries.copy(), np.column_stack([easting, northing]))


def _cell_polygons(cells: np.ndarray) -> np.ndarray:
    """Return one WGS84 hexagon (or pentagon) per cell, in the order given."""
    if cells.size == 0:
        return np.empty(0, dtype=object)
    wkb = pa.array(cells_to_wkb_polygons(cells))
    return shapely.from_wkb(wkb.to_numpy(zero_copy_only=False))


def _map_bounds(cell_shapes: np.ndarray, boundary_shapes: np.ndarray) -> tuple[np.ndarray, int]:
    """Return the map extent and how many cells fall outside it.

    Stray cells (a few mis-geocoded incidents far from the rest) would shrink the
    map to nothing, so when the full extent is more than four times the area of the
    2-98 percentile extent of the cells, the map keeps the latter (plus 10 %
    and any boundaries) and the strays are clipped and counted.
    """
    parts = [shapely.total_bounds(boundary_shapes)] if boundary_shapes.size else []
    if cell_shapes.size:
        centres = shapely.get_coordinates(shapely.centroid(cell_shapes))
        low, high = np.percentile(centres, [2, 98], axis=0)
        full = shapely.total_bounds(cell_shapes)
        robust = np.r_[low - 0.1 * (high - low), high + 0.1 * (high - low)]
        area = lambda b: max(b[2] - b[0], 1.0) * max(b[3] - b[1], 1.0)  # noqa: E731
        parts.append(robust if area(full) > 4 * area(robust) else full)
    if not parts:
        return np.array([0.0, 0.0, 1000.0, 1000.0]), 0
    stacked = np.array(parts)
    bounds = np.r_[stacked[:, :2].min(axis=0), stacked[:, 2:].max(axis=0)]
    if not cell_shapes.size:
        return bounds, 0
    centres = shapely.get_coordinates(shapely.centroid(cell_shapes))
    outside = ((centres < bounds[:2]) | (centres > bounds[2:])).any(axis=1)
    return bounds, int(outside.sum())


class _Frame:
    """The affine from BNG metres to SVG pixels for a map of given bounds."""

    def __init__(self, bounds: np.ndarray, map_width: float, max_height: float, pad: float = 12.0):
        minx, miny, maxx, maxy = bounds
        span_x, span_y = max(maxx - minx, 1.0), max(maxy - miny, 1.0)
        self.scale = min((map_width - 2 * pad) / span_x, (max_height - 2 * pad) / span_y)
        self.width = map_width
        self.height = max(span_y * self.scale + 2 * pad, 200.0)
        self.left = (map_width - span_x * self.scale) / 2 - minx * self.scale
        self.top = (self.height - span_y * self.scale) / 2 + maxy * self.scale

    def to_px(self, xy: np.ndarray) -> np.ndarray:
        return np.column_stack([self.left + xy[:, 0] * self.scale, self.top - xy[:, 1] * self.scale])

    def to_units(self, geometries: np.ndarray) -> np.ndarray:
        """Return geometries in integer path units (1/UNITS pixel)."""
        if geometries.size == 0:
            return geometries
        coords = np.rint(self.to_px(shapely.get_coordinates(geometries)) * UNITS)
        return shapely.set_coordinates(geometries.copy(), coords)


def _path_data(geometries: np.ndarray) -> str:
    """Return compact SVG path data (relative moves) for polygons already in integer path units."""
    rings = shapely.get_rings(shapely.get_parts(np.atleast_1d(np.asarray(geometries, dtype=object))))
    coords, ring = shapely.get_coordinates(rings, return_index=True)
    if len(coords) == 0:
        return ""
    points = coords.astype(np.int64)
    closing = np.r_[ring[1:] != ring[:-1], True]
    points, ring = points[~closing], ring[~closing]
    start = np.r_[True, ring[1:] != ring[:-1]]
    delta = np.diff(points, axis=0, prepend=points[:1])
    keep = start | (delta != 0).any(axis=1)
    points, ring, start = points[keep], ring[keep], start[keep]
    delta = np.diff(points, axis=0, prepend=points[:1])
    numbers = np.where(start[:, None], points, delta).ravel().tolist()
    bounds = np.r_[np.flatnonzero(start), len(points)]
    pieces = []
    for first, end in zip(bounds[:-1].tolist(), bounds[1:].tolist()):
        if end - first >= 3:
            moves = " ".join(map(str, numbers[2 * first + 2:2 * end]))
            pieces.append(f"M{numbers[2 * first]} {numbers[2 * first + 1]}l{moves}z")
    return "".join(pieces).replace(" -", "-")


def nice_step(span: float, target: int) -> float:
    """Return a round step (1, 2, 2.5 or 5 x 10^k) giving about ``target`` steps over ``span``."""
    raw = span / max(target, 1)
    power = 10 ** math.floor(math.log10(raw)) if raw > 0 else 1.0
    return next(m * power for m in (1, 2, 2.5, 5, 10) if m * power >= raw)


def _scale_bar(frame: _Frame) -> str:
    metres = nice_step(frame.width * 0.22 / frame.scale, 1)
    length = metres * frame.scale
    x0, y0 = 14.0, frame.height - 16.0
    label = f"{metres / 1000:g} km" if metres >= 1000 else f"{metres:g} m"
    half = length / 2
    return (
        f'<g class="scale-bar" {FONT} font-size="10" fill="#222">'
        f'<rect x="{x0:.1f}" y="{y0:.1f}" width="{half:.1f}" height="4" fill="#222"/>'
        f'<rect x="{x0 + half:.1f}" y="{y0:.1f}" width="{half:.1f}" height="4" fill="#fff" stroke="#222"'
        f' stroke-width="0.8"/>'
        f'<text x="{x0:.1f}" y="{y0 - 4:.1f}">0</text>'
        f'<text x="{x0 + length:.1f}" y="{y0 - 4:.1f}" text-anchor="middle">{escape_text(label)}</text></g>'
    )


def _north_arrow(frame: _Frame) -> str:
    x, y = frame.width - 24.0, 14.0
    return (
        f'<g class="north-arrow" {FONT} font-size="11" font-weight="600" fill="#222">'
        f'<path d="M{x:.1f} {y + 8:.1f}l7 22-7-6-7 6z" fill="#222"/>'
        f'<text x="{x:.1f}" y="{y + 6:.1f}" text-anchor="middle">N</text></g>'
    )


def _legend(layer: MapLayer, x0: float) -> tuple[str, float]:
    names, counts = np.unique(layer.category, return_counts=True)
    per_class = dict(zip(names.tolist(), counts.tolist()))
    rows = [f'<text x="{x0:.1f}" y="18" font-size="12.5" font-weight="600">Cells by class</text>']
    y = 36.0
    for name in layer.legend_order:
        rows.append(
            f'<rect x="{x0:.1f}" y="{y - 11:.1f}" width="15" height="13" fill="{layer.palette[name]}"'
            f' stroke="#888" stroke-width="0.5"/>'
            f'<text x="{x0 + 21:.1f}" y="{y:.1f}">{escape_text(name)}'
            f'<tspan fill="#666"> ({per_class.get(name, 0):,})</tspan></text>'
        )
        y += 18.0
    return f'<g class="legend" {FONT} font-size="12" fill="#222">{"".join(rows)}</g>', y


def _boundary_layer(boundaries: Sequence[Boundary], shapes: np.ndarray, frame: _Frame, labels: bool) -> str:
    """Outlines (dark line on a white casing, readable on any fill) and names above each outline."""
    data = [_path_data(shape) for shape in frame.to_units(shapes)]
    casing = "".join(f'<path d="{d}"/>' for d in data)
    lines = "".join(f'<path class="boundary" data-name="{escape_text(b.name)}" d="{d}"/>'
                    for b, d in zip(boundaries, data))
    text = ""
    if labels and len(boundaries):
        bounds = shapely.bounds(shapes)
        anchors = frame.to_px(np.column_stack([(bounds[:, 0] + bounds[:, 2]) / 2, bounds[:, 3]]))
        text = "".join(f'<text x="{x:.1f}" y="{max(y - 5, 12):.1f}" text-anchor="middle">{escape_text(b.name)}</text>'
                       for b, (x, y) in zip(boundaries, anchors))
    return (f'<g transform="scale({1 / UNITS})" fill="none" stroke-linejoin="round">'
            f'<g stroke="#ffffff" stroke-width="{3.2 * UNITS:g}" stroke-opacity="0.85">{casing}</g>'
            f'<g stroke="#1a1a1a" stroke-width="{1.4 * UNITS:g}">{lines}</g></g>'
            f'<g class="boundary-labels" {FONT} font-size="11" font-weight="600" fill="#1a1a1a"'
            f' stroke="#fff" stroke-width="3" paint-order="stroke" stroke-linejoin="round">{text}</g>')


def _cell_paths(layer: MapLayer, shapes: np.ndarray, frame: _Frame) -> str:
    units = frame.to_units(shapes)
    edge_px = 0.0
    if layer.cells.size:
        resolution = h3.get_resolution(h3.int_to_str(int(layer.cells[0])))
        edge_px = h3.average_hexagon_edge_length(resolution, "m") * frame.scale
    outline = (f' stroke="#ffffff" stroke-width="{0.6 * UNITS:g}" stroke-opacity="0.8" stroke-linejoin="round"'
               if edge_px >= 5 else "")
    paths = []
    for name in layer.legend_order:
        chosen = layer.category == name
        if chosen.any():
            merged = shapely.coverage_union_all(units[chosen])
            paths.append(f'<path class="cells" data-category="{escape_text(name)}" fill="{layer.palette[name]}"'
                         f' fill-rule="evenodd" d="{_path_data(merged)}"/>')
    return f'<g transform="scale({1 / UNITS})"{outline}>{"".join(paths)}</g>'


def render_hex_map(layer: MapLayer, boundaries: Sequence[Boundary] = (), *, width: int = 720) -> str:
    """Return an SVG map of a layer's H3 cells coloured by class, with boundaries.

    Parameters
    ----------
    layer : MapLayer
    boundaries : sequence of Boundary
        Outlines drawn over the cells (labelled when there are at most 25).
    width : int
        Total width in pixels; the legend takes the right-hand 230.

    Returns
    -------
    str
        An ``<svg>`` element: one ``<path class="cells" data-category=...>``
        per class that has cells, boundaries, legend, scale bar and north arrow.
    """
    cell_shapes = _to_bng(_cell_polygons(layer.cells))
    boundary_shapes = _to_bng(np.array([b.geometry for b in boundaries], dtype=object))
    bounds, outside = _map_bounds(cell_shapes, boundary_shapes)
    map_width = max(width - LEGEND_WIDTH, 200)
    frame = _Frame(bounds, map_width, max_height=1.15 * map_width)
    legend, legend_bottom = _legend(layer, map_width + 14)
    height = max(frame.height, legend_bottom + 8)
    stray = (f'<text x="{map_width - 8}" y="{frame.height - 8:.0f}" text-anchor="end" {FONT} font-size="10"'
             f' fill="#555">{outside:,} outlying cells outside the frame</text>' if outside else "")
    return (
        f'<svg class="hex-map" role="img" viewBox="0 0 {width} {height:.0f}" width="{width}"'
        f' height="{height:.0f}"><title>{escape_text(layer.title)}</title>'
        f'<svg class="map-area" x="0" y="0" width="{map_width}" height="{frame.height:.0f}">'
        f'<rect x="0.5" y="0.5" width="{map_width - 1}" height="{frame.height - 1:.0f}" fill="#fbfbfa"'
        ' stroke="#c8c8c8"/>'
        f'{_cell_paths(layer, cell_shapes, frame)}'
        f'{_boundary_layer(boundaries, boundary_shapes, frame, len(boundaries) <= MAX_BOUNDARY_LABELS)}'
        f'{_scale_bar(frame)}{_north_arrow(frame)}{stray}</svg>{legend}</svg>'
    )
