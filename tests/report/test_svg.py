"""SVG maps and charts: geometry, orientation, escaping, size."""

from __future__ import annotations

import re
import time

import h3
import numpy as np
import pytest
import shapely
from report_sample import HOSTILE, LEICESTER, emerging_layer, monthly_chart, square_boundary

from harmmap.errors import ConfigError, GeometryError
from harmmap.report.model import Boundary, MapLayer, ReportTable, Series
from harmmap.report.palettes import (
    EMERGING_ORDER,
    EMERGING_PALETTE,
    GI_PALETTE,
    sequential_palette,
)
from harmmap.report.charts import render_bar_chart, render_line_chart
from harmmap.report.svg import UNITS, render_hex_map


def paths_by_category(svg: str) -> dict[str, str]:
    return dict(re.findall(r'<path class="cells" data-category="([^"]*)"[^>]*\sd="([^"]*)"', svg))


def path_to_polygons(d: str) -> list[shapely.Polygon]:
    """Parse our compact path data (M x y l dx dy ... z) back to polygons in pixels."""
    rings = []
    for start_x, start_y, moves in re.findall(r"M(-?\d+) (-?\d+)l([^Mz]*)z", d):
        deltas = np.array(re.findall(r"-?\d+", moves), dtype=float).reshape(-1, 2)
        points = np.cumsum(np.vstack([[float(start_x), float(start_y)], deltas]), axis=0) / UNITS
        rings.append(shapely.Polygon(points))
    return rings


def layer_of(cells: list[str], classes: list[str], title: str = "Test") -> MapLayer:
    ids = np.array([h3.str_to_int(c) for c in cells], dtype="uint64")
    return MapLayer(title, ids, np.array(classes, dtype=object), EMERGING_PALETTE, EMERGING_ORDER)


def test_one_path_per_class_with_cells_and_a_full_legend():
    layer = emerging_layer()
    boundary = square_boundary()
    before = boundary.geometry.wkt
    svg = render_hex_map(layer, (boundary,))
    assert boundary.geometry.wkt == before  # projecting for the map leaves the caller's geometry alone
    assert set(paths_by_category(svg)) == set(np.unique(layer.category))
    assert svg.count('<rect x="') >= len(EMERGING_ORDER)  # one swatch per legend entry
    for name in EMERGING_ORDER:
        assert f">{name}<" in svg
    assert svg.count('class="boundary"') == 1 and "km</text>" in svg and ">N</text>" in svg


def test_merged_paths_cover_the_cells_area_and_north_is_up():
    centre = h3.latlng_to_cell(*LEICESTER, 8)
    north = h3.latlng_to_cell(LEICESTER[0] + 0.05, LEICESTER[1], 8)
    cluster = sorted(h3.grid_disk(centre, 1))
    layer = layer_of(cluster + [north], ["New Hot Spot"] * 7 + ["Sporadic Cold Spot"])
    svg = render_hex_map(layer)
    paths = paths_by_category(svg)
    hot = path_to_polygons(paths["New Hot Spot"])
    cold = path_to_polygons(paths["Sporadic Cold Spot"])
    assert len(hot) == 1 and len(cold) == 1  # seven touching cells merged into one outline
    assert 0.97 < hot[0].area / cold[0].area / 7 < 1.03  # same-size cells: the merged area is 7 cells
    assert cold[0].centroid.y < hot[0].centroid.y  # the northern cell is higher on the page


def test_hostile_names_are_escaped():
    cells = [h3.latlng_to_cell(*LEICESTER, 8)]
    palette = {HOSTILE: "#ff0000"}
    layer = MapLayer(HOSTILE, np.array([h3.str_to_int(cells[0])], dtype="uint64"),
                     np.array([HOSTILE], dtype=object), palette, (HOSTILE,))
    svg = render_hex_map(layer, (square_boundary(HOSTILE),))
    assert "<script>" not in svg and "&lt;script&gt;" in svg and "&quot;Co&quot;" in svg
    chart = Series(HOSTILE, ("a", HOSTILE), {HOSTILE: np.array([1.0, 2.0])}, y_label=HOSTILE)
    assert "<script>" not in render_line_chart(chart) + render_bar_chart(chart)


def test_colours_are_checked_before_they_reach_an_attribute():
    cell = np.array([h3.str_to_int(h3.latlng_to_cell(*LEICESTER, 8))], dtype="uint64")
    with pytest.raises(ConfigError, match="colour"):
        MapLayer("x", cell, np.array(["a"], dtype=object), {"a": 'red" onload="x'}, ("a",))
    with pytest.raises(ConfigError, match="legend_order"):
        MapLayer("x", cell, np.array(["b"], dtype=object), {"a": "#fff"}, ("a",))


@pytest.mark.parametrize("problem", ["not a cell", "twice", "two resolutions"])
def test_cells_must_be_valid_unique_and_of_one_resolution(problem):
    cell = h3.str_to_int(h3.latlng_to_cell(*LEICESTER, 8))
    other = {"not a cell": 12345, "twice": cell, "two resolutions": h3.str_to_int(h3.latlng_to_cell(*LEICESTER, 9))}
    with pytest.raises(ConfigError, match={"not a cell": "not H3", "twice": "more than once",
                                           "two resolutions": "resolutions"}[problem]):
        MapLayer("x", np.array([cell, other[problem]], dtype="uint64"), np.array(["a", "a"], dtype=object),
                 {"a": "#fff"}, ("a",))


def test_map_without_cells_still_draws_boundaries():
    layer = MapLayer("Empty", np.empty(0, dtype="uint64"), np.empty(0, dtype=object), GI_PALETTE,
                     tuple(GI_PALETTE))
    svg = render_hex_map(layer, (square_boundary("Town"),))
    assert not paths_by_category(svg) and 'data-name="Town"' in svg


def test_stray_cells_are_clipped_and_counted():
    home = sorted(h3.grid_disk(h3.latlng_to_cell(*LEICESTER, 9), 12))
    stray = [h3.latlng_to_cell(55.95, -3.19, 9)]  # Edinburgh: a mis-geocoded incident
    svg = render_hex_map(layer_of(home + stray, ["New Hot Spot"] * len(home) + ["Sporadic Hot Spot"]))
    assert "1 outlying cells outside the frame" in svg


def test_twenty_thousand_cells_stay_small_and_fast():
    centre = h3.latlng_to_cell(*LEICESTER, 9)
    cells = np.array([h3.str_to_int(c) for c in h3.grid_disk(centre, 81)], dtype="uint64")
    lat, lng = np.array([h3.cell_to_latlng(h3.int_to_str(int(c))) for c in cells]).T
    rng = np.random.default_rng(0)
    # clustered classes (as Gi*-based classes are): bands of distance plus a little noise
    band = np.clip(((np.hypot(lat - LEICESTER[0], (lng - LEICESTER[1]) * 0.6) * 60)
                    + rng.normal(0, 0.4, cells.size)).astype(int), 0, 16)
    layer = MapLayer("20k", cells, np.array(EMERGING_ORDER, dtype=object)[band], EMERGING_PALETTE, EMERGING_ORDER)
    start = time.perf_counter()
    svg = render_hex_map(layer)
    seconds = time.perf_counter() - start
    print(f"{cells.size} cells: {len(svg):,} bytes in {seconds:.2f} s")
    assert cells.size > 19_000 and len(svg) < 600_000 and seconds < 5


def test_line_chart_has_axes_legend_and_gaps():
    chart = monthly_chart()
    svg = render_line_chart(chart, lines={**chart.values, "Loughborough": np.array([1, 2, np.nan, 4, 5, 6.0])})
    assert svg.count('class="series"') == 3
    lough = re.search(r'data-series="Loughborough"[^>]*><path d="([^"]*)"', svg).group(1)
    assert lough.count("M") == 2  # the hidden point leaves a gap
    assert ">0</text>" in svg and ">1,250</text>" in svg and ">2022-06</text>" in svg
    assert "Harm (custody days)" in svg


def test_bar_chart_draws_one_bar_per_finite_value():
    chart = Series("Harm by place", ("A", "B", "C"), {"harm": np.array([10.0, np.nan, 30.0])}, kind="bar")
    svg = render_bar_chart(chart, displays=["10", "[c]", "30"])
    assert svg.count("<rect") == 2 and ">[c]</text>" in svg


def test_palettes_are_complete_and_distinct():
    assert len(EMERGING_ORDER) == 17 and len(set(EMERGING_PALETTE.values())) == 17
    assert list(sequential_palette(("low", "mid", "high")).values()) == ["#ffeda0", "#fd8d3c", "#800026"]
    assert len(set(sequential_palette(tuple("abcdefghi")).values())) == 9
    with pytest.raises(ConfigError):
        sequential_palette(("only",))


def test_model_rejects_inconsistent_inputs():
    import pandas as pd

    frame = pd.DataFrame({"Place": ["a"], "Incidents": [3], "Harm": [1.0]})
    with pytest.raises(ConfigError, match="not declared"):
        ReportTable("t", frame, count_columns=("Incidents",))
    with pytest.raises(ConfigError, match="not declared"):
        ReportTable("t", pd.DataFrame({"Place": ["a", "b"], "Incidents": pd.Series([3, "n/a"], dtype=object)}))
    with pytest.raises(ConfigError, match="no count column"):
        ReportTable("t", frame[["Place", "Harm"]], value_columns=("Harm",))
    with pytest.raises(ConfigError, match="does not have"):
        ReportTable("t", frame, count_columns=("Count",), value_columns=("Harm",))
    with pytest.raises(GeometryError):
        Boundary("line", shapely.LineString([(0, 0), (1, 1)]))
    with pytest.raises(ConfigError, match="one value per label"):
        Series("s", ("a", "b"), {"x": np.array([1.0])})
