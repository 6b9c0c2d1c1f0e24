"""Scoring a workspace: windows, resolutions, study areas, timings, data vintage, reproducibility.

(Named test_score_workspace.py, not test_score.py: the test folders have no __init__.py, so
pytest needs unique basenames and tests/cli/test_score.py exists.)
"""

from __future__ import annotations

import shutil
import string

import h3
import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from harmmap.analysis.score import ScoredRun, load_inputs, resolve_window, score_workspace
from harmmap.cli import main
from harmmap.cli.demo import build_demo
from harmmap.errors import ConfigError
from harmmap.geo.study_area import places_to_cells
from harmmap.scoring.pipeline import ScoringSettings
from harmmap.store.places import load_places
from harmmap.store.results import find_run, load_result
from harmmap.store.workspace import init_workspace, open_workspace
from tests.ingest.test_police_uk import csv_bytes, row

FAST = ScoringSettings(permutations=99, replicates=20)


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    """A small demo workspace (6 months from 2022-01, resolution 9) and one buffer run on it."""
    root = tmp_path_factory.mktemp("analysis") / "ws"
    build_demo(str(root), seed=1, months=6, per_month=500, echo=lambda *a: None, show=lambda *a: None)
    ws = open_workspace(root)
    return ws, score_workspace(ws, FAST)


@pytest.fixture
def copy(demo, tmp_path):
    """A private copy of the demo workspace, for tests that add runs or data."""
    return open_workspace(shutil.copytree(demo[0].root, tmp_path / "ws"))


# --- windows ---------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "window"), [
    ("2024-01..2024-03", ("2024-01", "2024-03")),
    ("2024-06", ("2024-06", "2024-06")),
    ("last-3", ("2022-04", "2022-06")),
    ("last-1", ("2022-06", "2022-06")),
    ("last-12", ("2021-07", "2022-06")),
    ("all", None),
    (None, None),
])
def test_resolve_window(demo, text, window):
    assert resolve_window(demo[0], text) == window


BAD_MONTHS = ["nonsense", "2024-13", "2024-1", "", "..2022-01", "2022-03..2022-01", "2022-01..2022-02..2022-03",
              "2022-02xyz"]


@pytest.mark.parametrize("text", ["last-0", "last-x", "last--3", "last-"])
def test_resolve_window_rejects_bad_last_n(demo, text):
    with pytest.raises(ConfigError, match="last-N"):
        resolve_window(demo[0], text)


def test_resolve_window_rejects_bad_months_when_parsing(demo):
    """Bad windows are refused when parsed, before any incident is read."""
    accepted = {}
    for text in BAD_MONTHS:
        try:
            accepted[text] = resolve_window(demo[0], text)
        except ConfigError:
            pass
    assert accepted == {}


@pytest.mark.parametrize("text", BAD_MONTHS)
def test_bad_windows_are_config_errors_by_the_time_of_scoring(demo, text):
    with pytest.raises(ConfigError):
        window = resolve_window(demo[0], text)
        score_workspace(demo[0], ScoringSettings(window=window, permutations=0, replicates=20))


def test_last_months_of_an_empty_workspace_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="ingest data first"):
        resolve_window(init_workspace(tmp_path / "empty"), "last-3")


def test_window_restricts_the_incidents_scored(demo, copy):
    part = score_workspace(copy, ScoringSettings(permutations=0, replicates=20, window=("2022-02", "2022-03")))
    whole = demo[1].result.metadata["totals"]
    months = load_inputs(copy, FAST, compare=("cchi",)).incidents["month"].dt.strftime("%Y-%m")
    totals = part.result.metadata["totals"]
    assert totals["incidents"] == int(months.isin(["2022-02", "2022-03"]).sum()) < whole["incidents"]
    assert part.result.metadata["window"]["periods"] == ["2022-02..2022-03"]  # a cut quarter keeps its months


# --- resolution ----------------------------------------------------------------------------------------------------


def test_coarser_resolution_scores_parent_cells_and_conserves_harm(demo, copy):
    run = score_workspace(copy, ScoringSettings(resolution=8, permutations=99, replicates=20))
    cells = run.result.cells["cell"].to_numpy(np.uint64)
    assert len(cells) > 0
    assert {h3.get_resolution(h3.int_to_str(int(c))) for c in cells} == {8}
    assert run.result.metadata["resolution"] == 8
    fine = demo[1].result
    parents = {h3.cell_to_parent(h3.int_to_str(int(c)), 8) for c in fine.cells.loc[fine.cells["harm"] > 0, "cell"]}
    coarse = {h3.int_to_str(int(c)) for c in run.result.cells.loc[run.result.cells["harm"] > 0, "cell"]}
    assert coarse == parents
    assert run.result.cells["harm"].sum() == pytest.approx(fine.cells["harm"].sum())
    assert run.result.metadata["totals"]["incidents"] == fine.metadata["totals"]["incidents"]
    assert load_result(copy, run.run_id)[0].metadata["resolution"] == 8


@pytest.mark.parametrize("resolution", [10, 15, -1])
def test_resolution_outside_zero_to_base_is_a_config_error(demo, resolution):
    with pytest.raises(ConfigError, match="base resolution 9"):
        score_workspace(demo[0], ScoringSettings(resolution=resolution, permutations=0))


# --- study area, timings, metadata ---------------------------------------------------------------------------------


def test_places_study_area_is_the_cells_of_the_places(demo, copy):
    run = score_workspace(copy, FAST, study_area="places")
    place_cells = set(places_to_cells(load_places(copy), 9)[1].tolist())
    assert set(run.result.cells["cell"].tolist()) <= place_cells
    meta = run.result.metadata
    assert meta["grid"]["cells"] == len(place_cells)
    assert meta["context"]["study_area"]["method"] == "places"
    totals = meta["totals"]
    assert totals["incidents_outside_study_area"] > 0
    assert totals["incidents_in_study_area"] + totals["incidents_outside_study_area"] == totals["incidents"]
    same = score_workspace(copy, FAST, study_area="kind:town_centre")
    pd.testing.assert_frame_equal(same.result.cells, run.result.cells)
    with pytest.raises(ConfigError, match="no places"):
        score_workspace(copy, FAST, study_area="kind:ward")


def test_timings_and_the_returned_run(demo):
    ws, run = demo
    assert isinstance(run, ScoredRun)
    assert set(run.timings) == {"read", "places", "study_area", "score", "save"}
    assert all(isinstance(v, float) and v >= 0 for v in run.timings.values())
    assert find_run(ws, run.run_id).settings["study_area"] == "buffer"


def test_metadata_records_the_data_vintage(demo):
    meta = demo[1].result.metadata
    vintage = meta["context"]["vintage"]
    sources = {s["source"]: s for s in vintage["sources"]}
    assert set(sources) == {"police_uk", "retailer:acme"}
    assert (sources["police_uk"]["first_month"], sources["police_uk"]["last_month"]) == ("2022-01", "2022-06")
    assert sources["police_uk"]["files"] > 0 and sources["police_uk"]["rows"] > 0
    assert len(vintage["fingerprint"]) == 16 and set(vintage["fingerprint"]) <= set(string.hexdigits)
    for key in ("resolution", "k", "window", "weights", "settings", "totals"):
        assert key in meta
    assert meta["settings"]["seed"] == 0 and meta["weights"]["cchi"]["version"]


def test_fingerprint_changes_after_a_new_ingest(demo, copy, tmp_path):
    before = demo[1].result.metadata["context"]["vintage"]
    again = score_workspace(copy, FAST).result.metadata["context"]["vintage"]
    assert again["fingerprint"] == before["fingerprint"]  # same data, same fingerprint
    data = tmp_path / "2022-07-leicestershire-street.csv"
    data.write_bytes(csv_bytes(row(month="2022-07"), row(crime_id="b", month="2022-07")))
    outcome = CliRunner().invoke(main, ["--workspace", str(copy.root), "ingest", "police-uk", str(data), "--json"],
                                 catch_exceptions=False)
    assert outcome.exit_code == 0, outcome.output
    after = score_workspace(copy, FAST).result.metadata["context"]["vintage"]
    assert after["fingerprint"] != before["fingerprint"]
    police = {s["source"]: s for s in after["sources"]}["police_uk"]
    assert police["last_month"] == "2022-07"
    assert police["files"] == {s["source"]: s for s in before["sources"]}["police_uk"]["files"] + 1
    assert resolve_window(copy, "last-1") == ("2022-07", "2022-07")


def test_a_run_is_reproducible_from_its_persisted_settings(demo, copy):
    row = find_run(copy, demo[1].run_id)
    saved = dict(row.settings)
    extra = {key: saved.pop(key) for key in ("study_area", "rings", "kinds", "compare")}
    saved["candidate_ks"] = tuple(saved["candidate_ks"])
    saved["window"] = tuple(saved["window"]) if saved["window"] else None
    rerun = score_workspace(copy, ScoringSettings(**saved), study_area=extra["study_area"], rings=extra["rings"],
                            kinds=extra["kinds"], compare=tuple(extra["compare"]))
    _, stored = load_result(copy, row.run_id)
    for name in ("cells", "places", "periods"):
        pd.testing.assert_frame_equal(getattr(rerun.result, name).reset_index(drop=True), stored[name])
