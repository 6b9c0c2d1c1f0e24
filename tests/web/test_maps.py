"""The map index and payloads (harmmap.web.maps, map_json, map_details) on small synthetic runs, checked against h3-py."""

from __future__ import annotations

import json

import h3
import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harmmap.geo.cells import cells_to_strings, points_to_cells
from harmmap.store.results import RunRow
from harmmap.web import maps
from harmmap.web.map_details import locate
from harmmap.web.map_json import cells_json, json_fixed, json_hex, json_numbers
from harmmap.web.data import Run

PERIODS = ("2023-Q1", "2023-Q2")


def fake_run(cells: np.ndarray, harm: np.ndarray, gi: np.ndarray | None = None, run_id: str = "r1") -> Run:
    """A scoring run of ``cells`` (res 9) with harm split evenly over two periods."""
    n = len(cells)
    gi = np.zeros(n, np.int8) if gi is None else gi.astype(np.int8)
    table = pd.DataFrame({"cell": cells.astype(np.uint64), "harm": harm, "incidents": np.ceil(harm).astype(np.int64),
                          "gi_z": gi * 2.0, "gi_p": 0.01, "gi_bin": gi, "rank": np.arange(1, n + 1),
                          "rank_low": 1, "rank_high": n, "p_top_n": 0.5, "places": ""})
    hexes = cells_to_strings(cells)
    periods = pd.DataFrame({"unit_kind": "cell", "unit": np.repeat(hexes, 2), "period": np.tile(PERIODS, n),
                            "harm": np.repeat(harm / 2, 2), "incidents": np.repeat(table["incidents"] // 2, 2)})
    row = RunRow(run_id, "2024-01-01", "results/x", {}, {"resolution": 9, "window": {"periods": list(PERIODS)}},
                 n, 0, int(table["incidents"].sum()), float(harm.sum()))
    places = pd.DataFrame(columns=["place_id", "kind", "name", "harm", "incidents", "rank", "gi_z", "gi_bin"])
    return Run(row, table, places, periods)


def random_cells(seed: int, n: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    lat, lng = rng.uniform(52.3, 52.9, n), rng.uniform(-1.6, -0.8, n)
    return np.unique(points_to_cells(lat, lng, 9))


@given(seed=st.integers(0, 10_000), n=st.integers(1, 400), zero_share=st.floats(0, 0.9))
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_zoom_aggregation_conserves_harm(seed, n, zero_share):
    cells = random_cells(seed, n)
    rng = np.random.default_rng(seed + 1)
    harm = np.round(rng.exponential(20, len(cells)) * (rng.random(len(cells)) > zero_share), 1)
    index = maps.build_index(fake_run(cells, harm), None)
    values = maps.filtered_values(index, None, None, None)
    for res, level in index.levels.items():
        lv = maps.level_values(index, res, values, ())
        assert lv.harm.sum() == pytest.approx(harm.sum(), abs=1e-6)
        assert lv.incidents.sum() == index.incidents.sum()
        # each parent's sum equals the sum of its children found with h3-py
        parents = np.array([int(h3.cell_to_parent(h3.int_to_str(int(c)), res), 16) for c in cells], dtype=np.uint64)
        for k in rng.choice(len(level.cells), size=min(5, len(level.cells)), replace=False):
            assert lv.harm[k] == pytest.approx(harm[parents == level.cells[k]].sum())


def test_strongest_class_at_coarse_levels():
    cells = random_cells(3, 300)
    rng = np.random.default_rng(4)
    gi = rng.choice([-3, -2, -1, 0, 0, 0, 1, 2, 3], len(cells))
    index = maps.build_index(fake_run(cells, np.ones(len(cells)), gi), None)
    lv = maps.level_values(index, 7, maps.filtered_values(index, None, None, None), ())
    order = [3, 2, 1, -3, -2, -1, 0]
    parents = maps.cells_to_parents(cells, 7)
    for k, parent in enumerate(index.levels[7].cells):
        inside = set(gi[parents == parent].tolist())
        assert lv.gi[k] == next(b for b in order if b in inside or b == 0)


def test_parent_children_are_one_slice():
    cells = random_cells(5, 500)
    index = maps.build_index(fake_run(cells, np.ones(len(cells))), None)
    for res in (5, 6, 7, 8):
        parent_of = index.levels[res].parent_of
        assert np.all(np.diff(parent_of) >= 0)
        text = cells_to_strings(index.levels[res].cells[:1])[0]
        _, a, b = locate(index, text)
        assert {h3.cell_to_parent(h3.int_to_str(int(c)), res) for c in index.cells[a:b]} == {text}
        assert b - a == int((maps.cells_to_parents(index.cells, res) == index.levels[res].cells[0]).sum())


def test_bbox_matches_brute_force():
    cells = random_cells(7, 2000)
    index = maps.build_index(fake_run(cells, np.ones(len(cells))), None)
    bbox = (-1.3, 52.5, -1.1, 52.6)
    got = set(index.cells[maps.in_box(index.levels[9], bbox)].tolist())
    centres = np.array([h3.cell_to_latlng(h3.int_to_str(int(c))) for c in cells])
    inside = (centres[:, 0] >= bbox[1]) & (centres[:, 0] <= bbox[3]) & (centres[:, 1] >= bbox[0]) & (
        centres[:, 1] <= bbox[2])
    assert set(cells[inside].tolist()) <= got  # every cell centred in the box
    pad = 0.01  # and nothing further than about two edge lengths outside it
    far = (centres[:, 0] < bbox[1] - pad) | (centres[:, 0] > bbox[3] + pad) | (centres[:, 1] < bbox[0] - 2 * pad) | (
        centres[:, 1] > bbox[2] + 2 * pad)
    assert not (set(cells[far].tolist()) & got)


def test_payload_budget_coarsens_then_truncates():
    cells = random_cells(9, 3000)
    index = maps.build_index(fake_run(cells, np.arange(1, len(cells) + 1, dtype=float)), None)
    values = maps.filtered_values(index, None, None, None)
    query = maps.MapQuery((-2.0, 52.0, 0.0, 53.0), 14)
    full = json.loads(cells_json(index, query, values, (), 10_000_000))
    assert full["resolution"] == 9 and full["count"] == len(cells) and not full["coarsened"]
    small = cells_json(index, query, values, (), 40_000)
    body = json.loads(small)
    assert len(small) <= 40_000 and body["coarsened"] and body["resolution"] < 9
    assert sum(body["harm"]) == pytest.approx(sum(full["harm"]))
    tiny = cells_json(index, query, values, (), 1_700)
    assert len(tiny) <= 1_700 and json.loads(tiny)["truncated"]


def test_period_filter_sums_to_all_periods():
    cells = random_cells(11, 200)
    harm = np.random.default_rng(2).integers(0, 50, len(cells)).astype(float)
    index = maps.build_index(fake_run(cells, harm), None)
    total = sum(maps.filtered_values(index, p, None, None).harm for p in PERIODS)
    np.testing.assert_allclose(total, index.harm)


def test_zoom_resolution_is_monotone_and_capped():
    res = [maps.resolution_for_zoom(z, 9) for z in range(21)]
    assert res == sorted(res) and res[0] == 5 and res[-1] == 9
    assert max(maps.resolution_for_zoom(z, 7) for z in range(21)) == 7


@given(st.lists(st.integers(-10**12, 10**12), max_size=60))
def test_json_integers_match_json_dumps(values):
    assert json.loads(json_fixed(np.array(values, dtype=np.int64))) == values


@given(st.lists(st.floats(-1e9, 1e9, allow_nan=False), max_size=60))
def test_json_numbers_round_to_two_decimals(values):
    got = json.loads(json_numbers(np.array(values, dtype=float)))
    assert got == pytest.approx(values, abs=0.0051)  # within half a hundredth of each value


def test_json_hex_matches_h3():
    cells = random_cells(13, 50)
    assert json.loads(json_hex(cells)) == [h3.int_to_str(int(c)) for c in cells]
    assert json_hex(cells[:0]) == b"[]"
