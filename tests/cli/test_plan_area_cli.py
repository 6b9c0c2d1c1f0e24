"""``harmmap plan ... --area NAME_OR_ID``: plans limited to an operation area from the command line."""

from __future__ import annotations

import json
import shutil

import pytest
from click.testing import CliRunner

from harmmap.cli import main
from harmmap.store.areas import create_area
from harmmap.store.places import load_places
from harmmap.store.workspace import open_workspace


@pytest.fixture(scope="module")
def area_ws(simulated_workspace, tmp_path_factory):
    from harmmap.analysis.trends import trend_workspace
    from harmmap.scoring.trend_run import TrendSettings

    root = tmp_path_factory.mktemp("plan-area-cli") / "ws"
    shutil.copytree(simulated_workspace.root, root, ignore=shutil.ignore_patterns("simulated"))
    ws = open_workspace(root)
    trend_workspace(ws, TrendSettings())
    place = load_places(ws).iloc[0]
    return ws, int(create_area(ws, "Town centre op", [place["place_id"]], created_by="test")), place["place_id"]


def run(ws, *args):
    return CliRunner().invoke(main, ["--workspace", str(ws.root), "plan", *args])


def test_area_by_name_or_id_limits_the_plans(area_ws):
    ws, area_id, place_id = area_ws
    outcome = run(ws, "patrol", "--unit", "places", "--area", "town centre OP", "--json")
    assert outcome.exit_code == 0, outcome.output
    data = json.loads(outcome.output)
    assert data["area"] == {"area_id": area_id, "name": "Town centre op", "places": 1}
    assert {s["target_id"] for s in data["stops"]} == {place_id}
    whole = json.loads(run(ws, "deploy", "--teams", "1", "--radius", "1000", "--json").output)
    local = json.loads(run(ws, "deploy", "--teams", "1", "--radius", "1000", "--area", str(area_id), "--json").output)
    assert local["area"]["area_id"] == area_id and local["total"] < whole["total"]
    text = run(ws, "stores", "--all", "--area", str(area_id)).output
    assert f"limited to operation area {area_id} (Town centre op, 1 place(s))" in text
    stores = json.loads(run(ws, "stores", "--all", "--area", str(area_id), "--json").output)
    assert 0 < stores["stores"] < json.loads(run(ws, "stores", "--all", "--json").output)["stores"]


def test_unknown_area_is_explained(area_ws):
    ws, _, _ = area_ws
    outcome = run(ws, "patrol", "--area", "Nowhere")
    assert outcome.exit_code == 2 and "no such operation area" in outcome.output
