"""``harmmap trends``, ``harmmap backtest`` and ``harmmap report assessment`` on a simulated workspace."""

from __future__ import annotations

import json

import pandas as pd
from click.testing import CliRunner

from harmmap.cli import main


def invoke(ws, *args):
    return CliRunner().invoke(main, ["--workspace", str(ws.root), *args])


def test_trends_prints_classes_and_json_lists_them(simulated_workspace):
    text = invoke(simulated_workspace, "trends", "--weights", "count", "--top", "5")
    assert text.exit_code == 0, text.output
    assert "cells by emerging class:" in text.output and "places, by forecast harm" in text.output
    outcome = invoke(simulated_workspace, "trends", "--window", "2022-07..2023-12", "--json")
    summary = json.loads(outcome.output)
    assert summary["periods"] == ["2022-07", "2023-12", 18]
    assert sum(summary["cell_classes"].values()) > 1000 and summary["forecast"]["model"] == "self_exciting"


def test_trends_explains_bad_settings(simulated_workspace):
    outcome = invoke(simulated_workspace, "trends", "--window", "2023-11..2023-12")
    assert outcome.exit_code == 2 and "at least three periods" in outcome.output
    outcome = invoke(simulated_workspace, "trends", "--forecaster", "tea_leaves")
    assert outcome.exit_code == 2 and "tea_leaves" in outcome.output


def test_backtest_prints_the_scorecard_and_writes_the_windows(simulated_workspace, tmp_path):
    out = tmp_path / "windows.csv"
    outcome = invoke(simulated_workspace, "backtest", "--methods", "previous,self_exciting", "--out", str(out))
    assert outcome.exit_code == 0, outcome.output
    assert "7 windows, origins 2023-01 to 2023-07" in outcome.output
    assert "self_exciting" in outcome.output and "previous on PAI at 5 %" in outcome.output
    windows = pd.read_csv(out)
    assert set(windows["method"]) == {"previous", "self_exciting"} and windows["origin_period"].iloc[0] == "2023-01"
    data = json.loads(invoke(simulated_workspace, "backtest", "--methods", "previous,moving_average", "--coverage",
                             "5", "--json").output)
    assert data["windows"] == 7 and {row["coverage"] for row in data["summary"]} == {0.05}
    assert data["comparisons"] == []  # the default model was not asked for


def test_report_assessment_writes_html(simulated_workspace, tmp_path):
    out = tmp_path / "report.html"
    outcome = invoke(simulated_workspace, "report", "assessment", "--period", "2023H1", "--out", str(out),
                     "--area-name", "Test area", "--json")
    assert outcome.exit_code == 0, outcome.output
    data = json.loads(outcome.output)
    assert data["written"] == {"html": str(out)} and data["period"] == "January to June 2023"
    html = out.read_text(encoding="utf-8")
    assert "Test area" in html and "Predicted hot spots" in html
    assert not list(tmp_path.glob(".*.tmp"))
    bad = invoke(simulated_workspace, "report", "assessment", "--period", "2023Q1", "--out", str(out))
    assert bad.exit_code == 2 and "half-year" in bad.output
