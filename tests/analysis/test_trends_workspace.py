"""Trends and backtests on a simulated workspace: persisted runs, planted hotspots found, no leakage."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from harmmap.analysis.backtest import backtest_workspace
from harmmap.analysis.trends import trend_workspace
from harmmap.errors import ConfigError, WorkspaceError
from harmmap.geo.cells import strings_to_cells
from harmmap.scoring.emerging import EMERGING_CODES
from harmmap.scoring.trend_run import TrendSettings
from harmmap.store.results import find_run, list_runs, load_result

HOT_CLASSES = {key for code, key in EMERGING_CODES.items() if code > 0}


@pytest.fixture(scope="module")
def trends(simulated_workspace):
    return trend_workspace(simulated_workspace, TrendSettings(weights="count", value="count"))


def test_the_run_is_saved_as_a_trends_run_and_reads_back(simulated_workspace, trends):
    run, tables = load_result(simulated_workspace, trends.run_id, kind="trends")
    assert run.metadata["kind"] == "trends" and run.metadata["periods"][0] == "2022-01"
    pd.testing.assert_frame_equal(tables["cells"], trends.result.cells, check_dtype=False)
    pd.testing.assert_frame_equal(tables["places"], trends.result.places, check_dtype=False)
    assert trends.run_id in {r.run_id for r in list_runs(simulated_workspace, "trends")}
    assert trends.run_id not in {r.run_id for r in list_runs(simulated_workspace, "scoring")}
    with pytest.raises(WorkspaceError, match="no scoring run"):
        find_run(simulated_workspace, trends.run_id)  # a trends run is not a scoring run


def test_planted_hotspots_of_the_street_simulator_are_found_as_hot_patterns(simulated_workspace, trends):
    """The street simulator plants patterns inside town centres whose own background is already dense,
    so a planted "new" cell in a city centre is rightly not a *new* hot spot (its area was hot before):
    the exact class is tested on the planted-class cube (tests/simulate/test_planted_classes.py).  Here
    the planted cells must be found as hot patterns, and the confusion matrix is printed for the record."""
    truth = pd.read_csv(simulated_workspace.root / "simulated" / "truth" / "planted_hotspots.csv")
    cells = trends.result.cells.set_index("cell")["emerging_class"]
    got = cells.reindex(strings_to_cells(truth["cell"].to_numpy())).fillna("no_pattern").to_numpy()
    planted = (truth["pattern"] + "_hot_spot").to_numpy()
    print("\n" + pd.crosstab(pd.Series(planted, name="planted"), pd.Series(got, name="classified")).to_string())
    print(f"exact class {np.mean(got == planted):.0%}, some hot pattern {np.isin(got, list(HOT_CLASSES)).mean():.0%}")
    assert np.isin(got, list(HOT_CLASSES)).mean() >= 0.9


def test_backtest_of_the_workspace_has_the_windows_and_the_verdicts(simulated_workspace):
    settings = TrendSettings(weights="cchi")
    run = backtest_workspace(simulated_workspace, settings, methods=["previous", "moving_average", "self_exciting"])
    assert len(run.result.origins) == 24 - 12 - 6 + 1 and run.origin_labels()[0] == "2023-01"
    assert {c.weighting for c in run.comparisons} == {"harm", "count"}
    summary = run.result.summary
    assert set(summary["method"]) == {"previous", "moving_average", "self_exciting"}
    assert summary["mean"].notna().all()
    with pytest.raises(ConfigError, match="unknown forecaster"):
        backtest_workspace(simulated_workspace, settings, methods=["crystal_ball"])
    with pytest.raises(ConfigError, match="too few periods"):
        backtest_workspace(simulated_workspace, settings, horizon=13)
