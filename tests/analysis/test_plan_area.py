"""Plans limited to an operation area: targets, patrols, deployments and the store list stay inside its places."""

from __future__ import annotations

import shutil

import geopandas as gpd
import numpy as np
import pytest

from harmmap.analysis.plan import (deploy_workspace, list_workspace_stores, load_targets, plan_workspace_patrol,
                                   resolve_area)
from harmmap.errors import ConfigError, WorkspaceError
from harmmap.geo.cells import cells_to_strings
from harmmap.geo.study_area import places_to_cells
from harmmap.plan.patrol import PatrolSettings
from harmmap.store.areas import create_area
from harmmap.store.places import load_places, load_stores
from harmmap.store.workspace import open_workspace, workspace_resolution


@pytest.fixture(scope="module")
def area_ws(simulated_workspace, tmp_path_factory):
    """A copy of the simulated workspace (areas are written) with a trends run and an area of two town centres."""
    from harmmap.analysis.trends import trend_workspace
    from harmmap.scoring.trend_run import TrendSettings

    root = tmp_path_factory.mktemp("plan-area") / "ws"
    shutil.copytree(simulated_workspace.root, root, ignore=shutil.ignore_patterns("simulated"))
    ws = open_workspace(root)
    run_id = trend_workspace(ws, TrendSettings()).run_id
    places = load_places(ws).head(2)
    area_id = create_area(ws, "Summer operation", places["place_id"], created_by="test")
    return {"ws": ws, "run": run_id, "id": int(area_id), "places": tuple(sorted(places["place_id"])),
            "shapes": places}


def _inside(shapes: gpd.GeoDataFrame, easting, northing) -> np.ndarray:
    points = gpd.GeoSeries(gpd.points_from_xy(easting, northing), crs=shapes.crs)
    return points.apply(lambda p: bool(shapes.contains(p).any())).to_numpy()


def _area_cells(a) -> set[str]:
    _, cells = places_to_cells(a["shapes"], workspace_resolution(a["ws"]))
    return set(cells_to_strings(cells))


def test_resolve_area_by_id_or_name(area_ws):
    ws, area_id = area_ws["ws"], area_ws["id"]
    found = resolve_area(ws, area_id)
    assert found.name == "Summer operation" and found.place_ids == area_ws["places"]
    assert resolve_area(ws, str(area_id)) == found == resolve_area(ws, "  summer OPERATION ")
    for bad in ("Winter operation", "999999", "9" * 40):
        with pytest.raises(WorkspaceError, match="no such operation area"):
            resolve_area(ws, bad)


def test_targets_are_limited_to_the_area(area_ws):
    ws, run, places = area_ws["ws"], area_ws["run"], area_ws["places"]
    _, chosen = load_targets(ws, "places", run_id=run, place_ids=places)
    assert set(chosen["target_id"]) == set(places)
    _, cells = load_targets(ws, "cells", run_id=run, place_ids=places)
    _, every_cell = load_targets(ws, "cells", run_id=run)
    assert 0 < len(cells) < len(every_cell) and set(cells["target_id"]) == _area_cells(area_ws) & set(
        every_cell["target_id"])
    _, stores = load_targets(ws, "stores", run_id=run, place_ids=places)
    every_store = load_stores(ws)
    expected = _inside(area_ws["shapes"], every_store["easting"], every_store["northing"])
    assert 0 < len(stores) == expected.sum() < len(every_store)
    assert _inside(area_ws["shapes"], stores["easting"], stores["northing"]).all()


def test_patrol_and_deployment_stay_in_the_area(area_ws):
    ws, run, places = area_ws["ws"], area_ws["run"], area_ws["places"]
    cells = _area_cells(area_ws)
    patrol = plan_workspace_patrol(ws, PatrolSettings(teams=2), unit="cells", run_id=run, place_ids=places)
    assert len(patrol.stops) and set(patrol.stops["target_id"]) <= cells
    assert set(patrol.schedule["target_id"]) <= cells and 0 < patrol.plan.share <= 1
    _, local = load_targets(ws, "cells", run_id=run, place_ids=places)
    assert patrol.plan.harm_total == pytest.approx(local["forecast_harm"].clip(lower=0).sum())
    deploy = deploy_workspace(ws, 2, demand="cells", sites="stores", radius_m=1000, run_id=run, place_ids=places)
    assert set(deploy.demand["target_id"]) <= cells and len(deploy.sites) == 2
    assert _inside(area_ws["shapes"], deploy.sites["easting"], deploy.sites["northing"]).all()


def test_store_list_in_the_area_keeps_the_estate_codes_and_ranks_again(area_ws):
    ws, run, places = area_ws["ws"], area_ws["run"], area_ws["places"]
    whole = list_workspace_stores(ws, run_id=run).stores.set_index(["org_id", "store_id"])
    local = list_workspace_stores(ws, run_id=run, place_ids=places).stores
    assert 0 < len(local) < len(whole)
    assert _inside(area_ws["shapes"], local["easting"], local["northing"]).all()
    listed = local.loc[local["rank"] > 0, "rank"].tolist()
    assert listed == list(range(1, len(listed) + 1)) and (local.loc[local["rank"] == 0, "tier"] == 0).all()
    same = whole.loc[list(zip(local["org_id"], local["store_id"]))]
    assert same["reasons"].tolist() == local["reasons"].tolist() and same["tier"].tolist() == local["tier"].tolist()


def test_area_without_targets_and_oversized_deployments_are_refused(area_ws):
    ws, run = area_ws["ws"], area_ws["run"]
    with pytest.raises(WorkspaceError, match="no places in this operation area"):
        load_targets(ws, "places", kinds=["ward"], run_id=run, place_ids=area_ws["places"])
    with pytest.raises(ConfigError, match="too many demand-site pairs"):
        deploy_workspace(ws, 3, demand="cells", sites="cells", radius_m=20_000, run_id=run, max_pairs=10_000)
    capped = deploy_workspace(ws, 3, demand="places", sites="cells", radius_m=2_000, run_id=run, max_sites=50)
    assert "only the 50 candidate cells of most forecast" in capped.solution.notes[0]
