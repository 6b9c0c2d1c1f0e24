"""``harmmap plan patrol|deploy|stores`` on the simulated workspace, and the plan exports."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from click.testing import CliRunner

from harmmap.cli import main
from harmmap.cli.plan import export_rows, plan_group


@pytest.fixture(scope="module")
def run_id(simulated_workspace):
    from harmmap.analysis.trends import trend_workspace
    from harmmap.scoring.trend_run import TrendSettings

    if "plan" not in main.commands:  # until harmmap.cli.main registers harmmap.cli.plan
        main.add_command(plan_group)
    return trend_workspace(simulated_workspace, TrendSettings()).run_id


def invoke(ws, run_id, *args):
    outcome = CliRunner().invoke(main, ["--workspace", str(ws.root), "plan", *args, "--run", run_id])
    assert outcome.exit_code == 0, outcome.output
    return outcome


def test_patrol_prints_the_plan_and_exports_the_schedule(simulated_workspace, run_id, tmp_path):
    text = invoke(simulated_workspace, run_id, "patrol", "--unit", "cells", "--teams", "3", "--out",
                  str(tmp_path / "patrol.csv")).output
    assert "expected share of forecast covered" in text and "visit_times" in text
    schedule = pd.read_csv(tmp_path / "patrol.csv", encoding="utf-8-sig")
    assert {"lat", "lng", "easting", "northing", "arrive", "team", "round"} <= set(schedule.columns)
    assert schedule["round"].max() == 4 and schedule["arrive"].iloc[0] == "08:00"
    data = json.loads(invoke(simulated_workspace, run_id, "patrol", "--randomise", "--seed", "3", "--shifts", "2",
                             "--mode", "foot", "--json").output)
    assert data["rounds"] == 4 and 0 < data["share"] < 1 and {row["shift"] for row in data["schedule"]} == {1, 2}
    again = json.loads(invoke(simulated_workspace, run_id, "patrol", "--randomise", "--seed", "3", "--shifts", "2",
                              "--mode", "foot", "--json").output)
    assert again["schedule"] == data["schedule"]


def test_patrol_exports_kml_and_geojson_stops(simulated_workspace, run_id, tmp_path):
    invoke(simulated_workspace, run_id, "patrol", "--out", str(tmp_path / "stops.kml"))
    kml = (tmp_path / "stops.kml").read_text(encoding="utf-8")
    assert kml.count("<Placemark>") >= 2 and "visits 08:00" in kml
    invoke(simulated_workspace, run_id, "patrol", "--out", str(tmp_path / "stops.geojson"))
    features = json.loads((tmp_path / "stops.geojson").read_text())["features"]
    assert features[0]["geometry"]["type"] == "Point" and -3 < features[0]["geometry"]["coordinates"][0] < 1


def test_deploy_reports_solver_gap_and_exports(simulated_workspace, run_id, tmp_path):
    text = invoke(simulated_workspace, run_id, "deploy", "--teams", "5", "--radius", "3000",
                  "--out", str(tmp_path / "deploy.xlsx")).output
    assert "solver scip, optimal, gap 0.00%" in text and "written:" in text
    from openpyxl import load_workbook

    sheet = load_workbook(tmp_path / "deploy.xlsx").active
    header = [c.value for c in sheet[1]]
    assert {"team", "lat", "lng", "easting", "northing", "demand_covered"} <= set(header) and sheet.max_row == 6
    data = json.loads(invoke(simulated_workspace, run_id, "deploy", "--teams", "5", "--minutes", "10",
                             "--solver", "greedy", "--json").output)
    assert data["solver"] == "greedy" and data["status"] == "heuristic" and 0 <= data["gap"] < 0.5
    assert data["upper_bound"] >= data["covered"] and len(data["chosen"]) == 5


def test_stores_lists_reasons_and_exports(simulated_workspace, run_id, tmp_path):
    text = invoke(simulated_workspace, run_id, "stores", "--top", "5", "--out", str(tmp_path / "stores.csv")).output
    assert "stores listed" in text and "OWN_INCIDENTS" in text
    listed = pd.read_csv(tmp_path / "stores.csv", encoding="utf-8-sig", dtype={"store_id": str})
    assert listed["rank"].tolist() == list(range(1, len(listed) + 1)) and listed["reasons"].notna().all()
    data = json.loads(invoke(simulated_workspace, run_id, "stores", "--all", "--json").output)
    assert data["stores"] == len(data["rows"]) > data["listed"]


def test_bad_export_name_and_bad_start_are_explained(simulated_workspace, run_id, tmp_path):
    outcome = CliRunner().invoke(main, ["--workspace", str(simulated_workspace.root), "plan", "deploy", "--run",
                                        run_id, "--out", str(tmp_path / "plan.pdf")])
    assert outcome.exit_code == 2 and ".kml" in outcome.output
    outcome = CliRunner().invoke(main, ["--workspace", str(simulated_workspace.root), "plan", "patrol", "--run",
                                        run_id, "--start", "25:00"])
    assert outcome.exit_code == 2 and "HH:MM" in outcome.output


def test_exports_escape_formulas_and_keep_coordinates(tmp_path):
    rows = pd.DataFrame({"name": ["=HYPERLINK(\"http://x\")", "+1", "-2", "@SUM(A1)", "Plain"],
                         "team": [1, 2, 3, 4, 5], "lat": [52.6] * 5, "lng": [-1.1] * 5,
                         "easting": [459000.0] * 5, "northing": [304000.0] * 5})
    for ext in ("csv", "xlsx", "kml", "geojson"):
        export_rows(str(tmp_path / f"plan.{ext}"), rows, title="test plan", names=rows["name"],
                    descriptions=rows["name"])
    text = (tmp_path / "plan.csv").read_text(encoding="utf-8-sig")
    assert "'=HYPERLINK" in text and "\n'+1," in text.replace("\r", "") and "'@SUM" in text and "'-2" in text
    assert ",-1.1," in text  # numbers stay numbers
    from openpyxl import load_workbook

    cells = [c.value for c in load_workbook(tmp_path / "plan.xlsx").active["A"]][1:]
    assert cells[:4] == ["'=HYPERLINK(\"http://x\")", "'+1", "'-2", "'@SUM(A1)"]
    kml = (tmp_path / "plan.kml").read_text(encoding="utf-8")
    assert kml.count("<Placemark>") == 5 and "<coordinates>-1.1000000,52.6000000</coordinates>" in kml
    assert json.loads((tmp_path / "plan.geojson").read_text())["features"][0]["properties"]["team"] == 1
