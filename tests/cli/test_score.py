"""``harmmap score``, ``harmmap rank`` and ``harmmap runs`` through the command line."""

from __future__ import annotations

import io
import json
import shutil

import h3
import pandas as pd
import pytest
from click.testing import CliRunner

from harmmap.cli import main
from harmmap.cli.demo import build_demo
from harmmap.store.results import load_result
from harmmap.store.workspace import open_workspace

PLACE_FIELDS = {"place_id", "name", "harm", "incidents", "gi_z", "gi_p", "gi_bin", "rank"}
CELL_FIELDS = {"cell", "name", "harm", "incidents", "gi_z", "gi_p", "gi_bin", "rank"}


def invoke(workspace, *args):
    return CliRunner().invoke(main, ["--workspace", str(workspace), *args])


def ok(workspace, *args) -> str:
    outcome = invoke(workspace, *args)
    assert outcome.exit_code == 0, outcome.output
    return outcome.stdout


@pytest.fixture(scope="module")
def scored(tmp_path_factory):
    """A small demo workspace scored once with `harmmap score --json`; returns (root, summary)."""
    root = tmp_path_factory.mktemp("cli_score") / "ws"
    build_demo(str(root), seed=1, months=6, per_month=500, echo=lambda *a: None, show=lambda *a: None)
    summary = json.loads(ok(root, "score", "--permutations", "99", "--json"))
    return root, summary


@pytest.fixture
def copy(scored, tmp_path):
    return shutil.copytree(scored[0], tmp_path / "ws")


def _one_line_error(outcome, *needles: str) -> None:
    assert outcome.exit_code == 2, outcome.output
    assert "Traceback" not in outcome.output
    lines = outcome.stderr.strip().splitlines()  # progress lines may come first
    errors = [line for line in lines if line.startswith("harmmap: error:")]
    assert len(errors) == 1 and lines[-1] == errors[0], outcome.stderr
    assert outcome.stdout == ""
    for needle in needles:
        assert needle in errors[0]


# --- score ---------------------------------------------------------------------------------------------------------


def test_score_json_summary(scored):
    root, summary = scored
    for key in ("run_id", "totals", "grid", "k", "k_choice", "resolution", "window", "weights", "timings_s"):
        assert key in summary
    assert summary["k"] == 1 and summary["k_choice"] is None and summary["resolution"] == 9
    assert summary["totals"]["incidents"] > 0 and summary["totals"]["harm"] > 0
    assert summary["grid"]["cells"] >= summary["grid"]["cells_with_harm"] > 0
    assert summary["window"]["first"] == "2022-Q1" and summary["window"]["last"] == "2022-Q2"
    run, _ = load_result(open_workspace(root), summary["run_id"], tables=())
    assert run.incidents == summary["totals"]["incidents"]


def test_score_for_people_prints_a_summary_and_the_top_places(copy):
    outcome = invoke(copy, "score", "--permutations", "0")
    assert outcome.exit_code == 0, outcome.output
    assert outcome.stdout.startswith("run ") and "top places:" in outcome.stdout and "top cells:" in outcome.stdout
    assert "reading incidents" in outcome.stderr  # progress goes to stderr


def test_score_k_auto_records_the_choice(copy):
    summary = json.loads(ok(copy, "score", "--k", "auto", "--permutations", "0", "--json"))
    choice = summary["k_choice"]
    assert choice and choice["reason"] and choice["rule"]
    assert summary["k"] in [c["k"] for c in choice["candidates"]]
    run, _ = load_result(open_workspace(copy), summary["run_id"], tables=())
    assert run.metadata["k_choice"] == choice and run.settings["k"] is None


def test_score_options_are_recorded(copy):
    summary = json.loads(ok(copy, "score", "--resolution", "8", "--window", "last-3", "--weights", "count",
                            "--seed", "7", "--permutations", "19", "--json"))
    assert summary["resolution"] == 8
    run, tables = load_result(open_workspace(copy), summary["run_id"], tables=("cells",))
    assert run.settings["window"] == ["2022-04", "2022-06"] and run.settings["weights"] == "count"
    assert run.settings["seed"] == 7 and run.settings["permutations"] == 19
    assert tables["cells"]["harm"].sum() == summary["totals"]["harm"] == summary["totals"]["incidents"]
    assert all(h3.get_resolution(h3.int_to_str(int(c))) == 8 for c in tables["cells"]["cell"])


# --- rank ----------------------------------------------------------------------------------------------------------


def test_rank_places_json_top_3(scored):
    records = json.loads(ok(scored[0], "rank", "places", "--format", "json", "--top", "3"))
    assert len(records) == 3
    for record in records:
        assert PLACE_FIELDS <= set(record)
        assert -3 <= record["gi_bin"] <= 3 and 0 <= record["gi_p"] <= 1
    assert [r["rank"] for r in records] == [1, 2, 3]
    assert records[0]["harm"] >= records[1]["harm"] >= records[2]["harm"]


def test_rank_cells_json_has_h3_strings(scored):
    records = json.loads(ok(scored[0], "rank", "cells", "--format", "json", "--top", "25"))
    assert len(records) == 25
    for record in records:
        assert CELL_FIELDS <= set(record)
        assert isinstance(record["cell"], str) and h3.is_valid_cell(record["cell"])
        assert h3.get_resolution(record["cell"]) == 9
    ranks = [r["rank"] for r in records]
    assert ranks == sorted(ranks) and ranks[0] == 1


def test_rank_csv_and_table(scored):
    frame = pd.read_csv(io.StringIO(ok(scored[0], "rank", "places", "--format", "csv", "--top", "5")))
    assert len(frame) == 5 and PLACE_FIELDS <= set(frame.columns)
    assert frame["rank"].tolist() == [1, 2, 3, 4, 5]
    cells = pd.read_csv(io.StringIO(ok(scored[0], "rank", "cells", "--format", "csv", "--top", "4")))
    assert len(cells) == 4 and all(h3.is_valid_cell(c) for c in cells["cell"])
    table = ok(scored[0], "rank", "places", "--top", "4").rstrip("\n").splitlines()
    assert len(table) == 5 and table[0].split()[:2] == ["rank", "place_id"]
    json_names = [r["name"] for r in json.loads(ok(scored[0], "rank", "places", "--format", "json", "--top", "4"))]
    assert all(name in line for name, line in zip(json_names, table[1:]))


def test_rank_hot_only(scored):
    root, summary = scored
    cells = json.loads(ok(root, "rank", "cells", "--hot-only", "--top", "100000", "--format", "json"))
    assert cells and all(c["gi_bin"] >= 2 for c in cells)
    assert len(cells) == summary["grid"]["hot_cells_95"]
    _, tables = load_result(open_workspace(root), summary["run_id"])
    assert len(cells) == int((tables["cells"]["gi_bin"] >= 2).sum())
    places = json.loads(ok(root, "rank", "places", "--hot-only", "--top", "1000", "--format", "json"))
    assert all(p["gi_bin"] >= 2 for p in places)
    assert len(places) == int((tables["places"]["gi_bin"] >= 2).sum())


def test_rank_by_kind_and_run(scored):
    root, summary = scored
    places = json.loads(ok(root, "rank", "places", "--kind", "town_centre", "--top", "1000", "--format", "json"))
    assert len(places) == 33
    assert json.loads(ok(root, "rank", "places", "--kind", "ward", "--format", "json")) == []
    by_id = json.loads(ok(root, "rank", "places", "--run", summary["run_id"], "--top", "3", "--format", "json"))
    assert by_id == json.loads(ok(root, "rank", "places", "--top", "3", "--format", "json"))
    _one_line_error(invoke(root, "rank", "cells", "--run", "nope"), "nope", summary["run_id"])


# --- runs ----------------------------------------------------------------------------------------------------------


def test_runs_json_and_table(scored):
    root, summary = scored
    runs = json.loads(ok(root, "runs", "--json"))
    assert len(runs) == 1
    run = runs[0]
    assert run["run_id"] == summary["run_id"] and run["incidents"] == summary["totals"]["incidents"]
    for key in ("created_at", "cells", "places", "weights", "k", "window"):
        assert key in run
    assert run["weights"] == "cchi" and run["k"] == 1 and run["window"] == "2022-Q1..2022-Q2"
    assert summary["run_id"] in ok(root, "runs")


# --- errors --------------------------------------------------------------------------------------------------------


def test_rank_before_any_score_is_a_one_line_error(tmp_path):
    ok(tmp_path / "ws", "init")
    _one_line_error(invoke(tmp_path / "ws", "rank", "places"), "harmmap score")
    _one_line_error(invoke(tmp_path / "ws", "rank", "cells", "--format", "json"), "harmmap score")
    assert "no runs yet" in ok(tmp_path / "ws", "runs")
    assert json.loads(ok(tmp_path / "ws", "runs", "--json")) == []


BAD_OPTIONS = [
    (["--k", "x"], "--k"),
    (["--k", "-1"], "--k"),
    (["--k", "0"], "larger k"),
    (["--window", "nonsense"], "nonsense"),
    (["--window", "2022-03..2022-01"], "window"),
    (["--window", "..2022-02"], "window"),
    (["--window", "last-0"], "last-0"),
    (["--weights", "nosuch"], "nosuch"),
    (["--resolution", "12"], "resolution"),
    (["--study-area", "nowhere"], "nowhere"),
]


@pytest.mark.parametrize(("args", "needle"), BAD_OPTIONS, ids=[" ".join(args) for args, _ in BAD_OPTIONS])
def test_bad_score_options_are_one_line_errors(scored, args, needle):
    root = scored[0]
    _one_line_error(invoke(root, "score", "--permutations", "0", *args), needle)
    assert len(json.loads(ok(root, "runs", "--json"))) == 1  # nothing was saved


def test_score_on_an_empty_workspace_is_a_one_line_error(tmp_path):
    assert invoke(tmp_path / "ws", "init").exit_code == 0
    _one_line_error(invoke(tmp_path / "ws", "score"), "no counted incidents", "ingest")
