"""Operation areas in the workspace: create, rename, replace places, delete, and the checks."""

from __future__ import annotations

import geopandas as gpd
import pytest
from shapely.geometry import box

from harmmap.errors import ConfigError, WorkspaceError
from harmmap.store.areas import MAX_NAME, create_area, delete_area, rename_area, update_area
from harmmap.store.places import save_places
from harmmap.store.workspace import init_workspace
from harmmap.web.data import area_places, operation_areas


@pytest.fixture()
def ws(tmp_path):
    ws = init_workspace(tmp_path / "ws")
    places = gpd.GeoDataFrame({"place_id": ["town_centre:A", "town_centre:B", "ward:C"],
                               "kind": ["town_centre", "town_centre", "ward"], "name": ["A", "B", "C"],
                               "code": ["A", "B", "C"], "area_km2": [1.0, 1.0, 1.0]},
                              geometry=[box(0, 0, 1000, 1000), box(2000, 0, 3000, 1000), box(0, 2000, 1000, 3000)],
                              crs="EPSG:27700")
    save_places(ws, places, "test")
    return ws


def test_create_update_rename_delete(ws):
    area_id = create_area(ws, "  Summer   operation ", ["town_centre:B", "town_centre:A", "town_centre:A"], "alice")
    areas = operation_areas(ws)
    assert list(areas["name"]) == ["Summer operation"] and areas["created_by"].iloc[0] == "alice"
    assert area_places(ws, area_id) == ["town_centre:A", "town_centre:B"]
    update_area(ws, area_id, place_ids=["ward:C"])
    assert area_places(ws, area_id) == ["ward:C"]
    rename_area(ws, area_id, "Winter")
    assert operation_areas(ws)["name"].tolist() == ["Winter"] and area_places(ws, area_id) == ["ward:C"]
    delete_area(ws, area_id)
    assert operation_areas(ws).empty
    with pytest.raises(WorkspaceError):
        area_places(ws, area_id)
    with pytest.raises(WorkspaceError):
        delete_area(ws, area_id)
    with pytest.raises(WorkspaceError):
        update_area(ws, area_id, name="x")


@pytest.mark.parametrize("name, places, match", [
    ("", ["town_centre:A"], "name"), ("x" * (MAX_NAME + 1), ["town_centre:A"], "name"),
    ("ok", [], "1 to 5,000 places"), ("ok", ["town_centre:A", "nowhere:Z"], "unknown place"),
])
def test_bad_areas_are_refused_and_nothing_is_written(ws, name, places, match):
    with pytest.raises(ConfigError, match=match):
        create_area(ws, name, places, "alice")
    assert operation_areas(ws).empty


def test_names_are_unique_and_a_failed_update_changes_nothing(ws):
    first = create_area(ws, "One", ["town_centre:A"], "alice")
    second = create_area(ws, "Two", ["town_centre:B"], "alice")
    with pytest.raises(ConfigError, match="exists"):
        create_area(ws, "One", ["ward:C"], "bob")
    with pytest.raises(ConfigError, match="exists"):
        rename_area(ws, second, "One")
    with pytest.raises(ConfigError, match="unknown place"):
        update_area(ws, first, name="Renamed", place_ids=["nowhere:Z"])
    assert sorted(operation_areas(ws)["name"]) == ["One", "Two"] and area_places(ws, first) == ["town_centre:A"]
    rename_area(ws, first, "One")  # its own name is fine
