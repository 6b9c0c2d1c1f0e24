"""The scoring pipeline (harmmap.scoring.pipeline.score) on hand-built inputs: contract, conservation, invariants."""

from __future__ import annotations

import dataclasses
import json

import h3
import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harmmap.errors import ConfigError
from harmmap.geo.grid import buffer_cells
from harmmap.scoring.harm import HarmWeights, incidents_to_harm
from harmmap.scoring.pipeline import ScoringInputs, ScoringSettings, score
from harmmap.scoring.result import CELL_COLUMNS, PERIOD_COLUMNS, PLACE_COLUMNS, ScoringResult
from harmmap.scoring.scale import choose_neighbourhood
from harmmap.weights import load_harm_weights

LEICESTER = h3.str_to_int(h3.latlng_to_cell(52.6344, -1.1318, 9))
LOUGHBOROUGH = h3.str_to_int(h3.latlng_to_cell(52.7721, -1.2062, 9))  # outside the study grid
STUDY = buffer_cells(np.array([LEICESTER], dtype=np.uint64), 4)  # 61 cells, sorted
MONTHS = pd.date_range("2024-01-01", periods=6, freq="MS")
WEIGHTS = {name: load_harm_weights(name) for name in ("cchi", "count")}
# Fast settings for tiny grids: few permutations and bootstrap replicates.
FAST = ScoringSettings(permutations=99, replicates=40, seed=3, period="month")

#: (crime_type, offence, injury, weapon, value_gbp): police.uk rows and retailer rows with modifiers.
TEMPLATES = (
    ("Shoplifting", "shoplifting", None, None, None),
    ("Robbery", "robbery", None, None, None),
    ("Violence and sexual offences", "violence_and_sexual_offences", None, None, None),
    ("Anti-social behaviour", "anti_social_behaviour", None, None, None),
    ("Burglary", "burglary", None, None, None),
    ("Shoplifting", "theft_from_shop", False, True, 25.0),  # weapon: at least robbery under cchi
    ("Violence and sexual offences", "assault_with_injury", True, False, None),
    ("Criminal damage and arson", "criminal_damage", False, False, 6000.0),  # value band
    ("Public order", "public_order", None, None, None),
)


def disk(cell: int, k: int) -> set[int]:
    return {h3.str_to_int(c) for c in h3.grid_disk(h3.int_to_str(int(cell)), k)}


# Two non-overlapping places: A = the centre cell and its ring; B = a cell three rings out and its ring
# (clipped to the grid).
EDGE = next(c for c in sorted(disk(LEICESTER, 3) - disk(LEICESTER, 2)))
PLACE_CELLS = (sorted(disk(LEICESTER, 1)), sorted(disk(EDGE, 1) & set(STUDY.tolist())))
PLACES = pd.DataFrame({
    "place_id": ["town_centre:a", "town_centre:b"], "kind": ["town_centre", "town_centre"],
    "name": ["Clock Tower", "Edge"], "code": ["A1", None], "area_km2": [0.7, 0.5], "stores": [2, 0],
})


def incidents_frame(rows) -> pd.DataFrame:
    """Incidents from (study-cell index or a uint64 cell, template index, month index) triples."""
    cells = [int(STUDY[c]) if c < STUDY.size else int(c) for c, _, _ in rows]
    templates = [TEMPLATES[t] for _, t, _ in rows]
    return pd.DataFrame({
        "cell": np.array(cells, dtype=np.uint64),
        "month": pd.DatetimeIndex([MONTHS[m] for _, _, m in rows]),
        "crime_type": [t[0] for t in templates], "offence": [t[1] for t in templates],
        "injury": pd.array([t[2] for t in templates], dtype="boolean"),
        "weapon": pd.array([t[3] for t in templates], dtype="boolean"),
        "value_gbp": pd.array([t[4] for t in templates], dtype="Float64"),
    })


def place_pairs(incidents: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """(incident row, place index) of the incidents inside each place (by cell, as a stand-in for the polygon)."""
    cells = incidents["cell"].to_numpy(np.uint64)
    rows, places = [], []
    for index, members in enumerate(PLACE_CELLS):
        inside = np.flatnonzero(np.isin(cells, np.array(members, dtype=np.uint64)))
        rows.append(inside)
        places.append(np.full(inside.size, index))
    return np.concatenate(rows).astype(np.int64), np.concatenate(places).astype(np.int64)


def make_inputs(incidents: pd.DataFrame, weights=None, study=STUDY) -> ScoringInputs:
    pair_rows, pair_places = place_pairs(incidents)
    cell_places = np.concatenate([np.full(len(c), i) for i, c in enumerate(PLACE_CELLS)]).astype(np.int64)
    place_cells = np.concatenate([np.array(c, dtype=np.uint64) for c in PLACE_CELLS])
    return ScoringInputs(incidents=incidents, pair_rows=pair_rows, pair_places=pair_places, places=PLACES,
                         place_cell_places=cell_places, place_cells=place_cells, study_cells=study,
                         weights=WEIGHTS if weights is None else weights, context={"vintage": "test"})


def hotspot_rows(seed: int = 0) -> list[tuple[int, int, int]]:
    """A cluster of harm around the centre, a robbery near place B, and scattered background."""
    rng = np.random.default_rng(seed)
    centre = [int(np.searchsorted(STUDY, np.uint64(c))) for c in PLACE_CELLS[0]]
    rows = [(c, int(rng.integers(0, len(TEMPLATES))), int(rng.integers(0, 6))) for c in centre for _ in range(6)]
    rows += [(int(np.searchsorted(STUDY, np.uint64(EDGE))), 1, 2)]
    rows += [(int(c), int(t), int(m)) for c, t, m in zip(rng.integers(0, STUDY.size, 40),
                                                        rng.integers(0, len(TEMPLATES), 40), rng.integers(0, 6, 40))]
    return rows


@pytest.fixture(scope="module")
def example() -> tuple[pd.DataFrame, ScoringResult]:
    incidents = incidents_frame(hotspot_rows())
    return incidents, score(make_inputs(incidents), FAST)


def grid_harm(result: ScoringResult, column: str = "harm") -> np.ndarray:
    """Zero-filled harm of every study cell, from the kept rows."""
    values = np.zeros(STUDY.size)
    values[np.searchsorted(STUDY, result.cells["cell"].to_numpy(np.uint64))] = result.cells[column].to_numpy()
    return values


# --- contract -----------------------------------------------------------------------------------------------------


def test_tables_have_the_documented_columns(example):
    _, result = example
    assert set(CELL_COLUMNS) | {"harm_count"} == set(result.cells.columns)
    assert set(PLACE_COLUMNS) | {"harm_count"} == set(result.places.columns)
    assert list(result.periods.columns) == list(PERIOD_COLUMNS)
    cells = result.cells
    assert cells["cell"].dtype == np.uint64 and set(cells["cell"]) <= set(STUDY.tolist())
    assert cells["gi_bin"].between(-3, 3).all() and set(cells["moran_class"]) <= {"HH", "LL", "HL", "LH", "ns"}
    assert ((cells["gi_p"] > 0) & (cells["gi_p"] <= 1)).all() and ((cells["gi_q"] >= cells["gi_p"] - 1e-15)).all()
    centre = cells.loc[cells["cell"] == np.uint64(LEICESTER), "places"].item()
    assert centre == "Clock Tower"
    assert set(result.places["place_id"]) == {"town_centre:a", "town_centre:b"}
    assert result.places["cells"].tolist() == [len(PLACE_CELLS[i]) for i in
                                                 pd.Index(PLACES["place_id"]).get_indexer(result.places["place_id"])]


def test_metadata_records_the_run_and_is_strict_json(example):
    _, result = example
    meta = result.metadata
    text = json.dumps(meta, allow_nan=False)
    assert json.loads(text) == meta
    assert meta["settings"] == FAST.to_dict() and meta["settings"]["seed"] == 3
    assert meta["k"] == 1 and meta["k_choice"] is None and meta["resolution"] == 9
    assert {"cchi", "count"} == set(meta["weights"]) and meta["weights"]["cchi"]["version"]
    assert meta["window"]["periods"] == [str(m)[:7] for m in MONTHS.to_numpy().astype("datetime64[M]")]
    assert meta["grid"]["cells"] == STUDY.size
    assert meta["context"] == {"vintage": "test"}


# --- conservation -------------------------------------------------------------------------------------------------


def check_conservation(incidents: pd.DataFrame, result: ScoringResult) -> None:
    harm = incidents_to_harm(incidents, WEIGHTS["cchi"])
    count = incidents_to_harm(incidents, WEIGHTS["count"])
    totals = result.metadata["totals"]
    assert totals["incidents"] == totals["incidents_in_study_area"] == len(incidents)
    assert totals["incidents_outside_study_area"] == 0
    # incidents -> cells: every incident is in exactly one cell
    assert result.cells["harm"].sum() == pytest.approx(harm.sum(), rel=1e-12, abs=1e-9)
    assert totals["harm_in_study_area"] == pytest.approx(harm.sum(), rel=1e-12, abs=1e-9)
    assert totals["harm"] == pytest.approx(harm.sum(), rel=1e-12, abs=1e-9)
    # kept rows are exactly the cells with harm (plus significant quiet ones), so no harm is lost by dropping rows
    per_cell = pd.Series(harm).groupby(incidents["cell"].to_numpy(np.uint64)).sum()
    np.testing.assert_allclose(grid_harm(result), per_cell.reindex(STUDY, fill_value=0.0).to_numpy(), atol=1e-9)
    # incidents -> places: places do not overlap, so each incident in a place counts once
    pair_rows, pair_places = place_pairs(incidents)
    assert totals["incident_place_pairs"] == pair_rows.size
    assert result.places["harm"].sum() == pytest.approx(harm[pair_rows].sum(), rel=1e-12, abs=1e-9)
    assert result.places["incidents"].sum() == pair_rows.size
    for place_id, members in zip(PLACES["place_id"], PLACE_CELLS):
        row = result.places.set_index("place_id").loc[place_id]
        inside = np.isin(incidents["cell"].to_numpy(np.uint64), np.array(members, dtype=np.uint64))
        assert row["harm"] == pytest.approx(harm[inside].sum(), abs=1e-9)
        assert row["harm_count"] == pytest.approx(count[inside].sum(), abs=1e-9)
        assert row["incidents"] == inside.sum()
    # ... and into periods
    periods = result.periods.groupby("unit_kind")[["harm", "incidents"]].sum()
    if harm.sum() > 0:
        assert periods.loc["cell", "harm"] == pytest.approx(harm.sum(), rel=1e-12)
    if pair_rows.size and harm[pair_rows].sum() > 0:
        assert periods.loc["place", "harm"] == pytest.approx(harm[pair_rows].sum(), rel=1e-12)
        assert periods.loc["place", "incidents"] == pair_rows.size


def test_harm_is_conserved_on_the_example(example):
    incidents, result = example
    check_conservation(incidents, result)


incident_rows = st.lists(st.tuples(st.integers(0, STUDY.size - 1), st.integers(0, len(TEMPLATES) - 1),
                                   st.integers(0, 5)), min_size=1, max_size=50)


@settings(max_examples=25, deadline=None)
@given(rows=incident_rows)
def test_harm_is_conserved_for_random_incidents(rows):
    incidents = incidents_frame(rows)
    check_conservation(incidents, score(make_inputs(incidents), FAST))


def test_incidents_outside_the_grid_are_counted_apart():
    rows = hotspot_rows(1)
    inside = incidents_frame(rows)
    outside = incidents_frame(rows + [(LOUGHBOROUGH, 1, 0), (LOUGHBOROUGH, 0, 5)])
    result = score(make_inputs(outside), FAST)
    base = score(make_inputs(inside), FAST)
    totals = result.metadata["totals"]
    robbery_and_theft = 365.0 + 1.0
    assert totals["incidents_outside_study_area"] == 2 and totals["incidents"] == len(rows) + 2
    assert totals["harm"] == pytest.approx(totals["harm_in_study_area"] + robbery_and_theft)
    assert result.cells["harm"].sum() == pytest.approx(totals["harm_in_study_area"])
    pd.testing.assert_frame_equal(result.cells, base.cells)


# --- invariants ---------------------------------------------------------------------------------------------------


@settings(max_examples=20, deadline=None)
@given(rows=incident_rows, seed=st.integers(0, 2**32 - 1))
def test_row_order_of_incidents_changes_nothing(rows, seed):
    incidents = incidents_frame(rows)
    inputs = make_inputs(incidents)
    order = np.random.default_rng(seed).permutation(len(incidents))
    new_position = np.argsort(order)  # old row r is now at new_position[r]
    shuffled = dataclasses.replace(inputs, incidents=incidents.iloc[order].reset_index(drop=True),
                                   pair_rows=new_position[inputs.pair_rows])
    base, other = score(inputs, FAST), score(shuffled, FAST)
    pd.testing.assert_frame_equal(other.cells, base.cells, check_exact=False, rtol=1e-9, atol=1e-9)
    pd.testing.assert_frame_equal(other.places, base.places, check_exact=False, rtol=1e-9, atol=1e-9)
    sort = ["unit_kind", "unit", "period"]
    pd.testing.assert_frame_equal(other.periods.sort_values(sort).reset_index(drop=True),
                                  base.periods.sort_values(sort).reset_index(drop=True),
                                  check_exact=False, rtol=1e-9, atol=1e-9)
    assert other.metadata["grid"] == base.metadata["grid"]
    assert other.metadata["totals"]["harm"] == pytest.approx(base.metadata["totals"]["harm"], rel=1e-12)


def check_ranks(result: ScoringResult) -> None:
    cells = result.cells
    ranks = cells["rank"].to_numpy()
    assert np.unique(ranks).size == ranks.size and ((ranks >= 1) & (ranks <= STUDY.size)).all()
    with_harm = cells["harm"].to_numpy() > 0
    assert sorted(ranks[with_harm].tolist()) == list(range(1, int(with_harm.sum()) + 1))
    assert (np.diff(cells["harm"].to_numpy()[np.argsort(ranks)]) <= 0).all()  # rank 1 = most harm
    assert ((cells["rank_low"] <= cells["rank_high"]) & (cells["rank_low"] >= 1)).all()
    places = result.places
    assert places["rank"].tolist() == list(range(1, len(places) + 1))  # sorted by rank, a permutation
    assert (np.diff(places["harm"].to_numpy()) <= 0).all()


def test_ranks_are_a_permutation_on_the_example(example):
    check_ranks(example[1])


@settings(max_examples=20, deadline=None)
@given(rows=incident_rows)
def test_ranks_are_a_permutation_for_random_incidents(rows):
    check_ranks(score(make_inputs(incidents_frame(rows)), FAST))


def scale_weights(weights: HarmWeights, factor: float) -> HarmWeights:
    """The same table with every weight, floor and the ASB weight multiplied by ``factor``."""
    m = weights.modifiers
    modifiers = dataclasses.replace(
        m, injury_floor=None if m.injury_floor is None else m.injury_floor * factor,
        weapon_floor_default=None if m.weapon_floor_default is None else m.weapon_floor_default * factor,
        weapon_floor_by_offence={k: v * factor for k, v in m.weapon_floor_by_offence.items()},
        value_floors=tuple(dataclasses.replace(b, weight=b.weight * factor) for b in m.value_floors))
    return dataclasses.replace(weights, by_offence={k: v * factor for k, v in weights.by_offence.items()},
                               by_crime_type={k: v * factor for k, v in weights.by_crime_type.items()},
                               asb_weight=weights.asb_weight * factor, modifiers=modifiers)


@settings(max_examples=20, deadline=None)
@given(rows=incident_rows, factor=st.sampled_from([0.001, 0.5, 3.0, 7.3, 1000.0]))
def test_scaling_all_weights_leaves_gi_z_unchanged(rows, factor):
    incidents = incidents_frame(rows)
    scaled_weights = {"cchi": scale_weights(WEIGHTS["cchi"], factor), "count": WEIGHTS["count"]}
    base = score(make_inputs(incidents), FAST)
    scaled = score(make_inputs(incidents, scaled_weights), FAST)
    np.testing.assert_allclose(incidents_to_harm(incidents, scaled_weights["cchi"]),
                               factor * incidents_to_harm(incidents, WEIGHTS["cchi"]), rtol=1e-12)
    for table in ("cells", "places"):
        a, b = getattr(base, table), getattr(scaled, table)
        np.testing.assert_allclose(b["harm"], factor * a["harm"], rtol=1e-9)
        np.testing.assert_allclose(b["gi_z"], a["gi_z"], rtol=1e-9, atol=1e-9)
        np.testing.assert_allclose(b["gi_p"], a["gi_p"], rtol=1e-9, atol=1e-12)
        for column in ("gi_bin", "rank", "harm_count"):
            np.testing.assert_array_equal(b[column], a[column])
    np.testing.assert_array_equal(scaled.cells["cell"], base.cells["cell"])
    np.testing.assert_array_equal(scaled.cells["moran_class"], base.cells["moran_class"])


def test_scaling_on_the_example_keeps_hotspots(example):
    incidents, base = example
    scaled = score(make_inputs(incidents, {"cchi": scale_weights(WEIGHTS["cchi"], 365.0),
                                           "count": WEIGHTS["count"]}), FAST)
    assert (base.cells["gi_bin"] != 0).any()  # the example has hot spots, so the comparison means something
    np.testing.assert_allclose(scaled.cells["gi_z"], base.cells["gi_z"], rtol=1e-9, atol=1e-9)
    np.testing.assert_array_equal(scaled.cells["gi_p_sim"], base.cells["gi_p_sim"])


# --- settings -----------------------------------------------------------------------------------------------------


def test_window_drops_the_rows_outside_it(example):
    incidents, _ = example
    window = ("2024-02", "2024-04")
    result = score(make_inputs(incidents), dataclasses.replace(FAST, window=window))
    months = incidents["month"].to_numpy(dtype="datetime64[M]")
    inside = (months >= np.datetime64("2024-02")) & (months <= np.datetime64("2024-04"))
    assert 0 < inside.sum() < len(incidents)
    harm = incidents_to_harm(incidents, WEIGHTS["cchi"])
    assert result.metadata["totals"]["incidents"] == inside.sum()
    assert result.metadata["totals"]["harm"] == pytest.approx(harm[inside].sum())
    assert result.cells["harm"].sum() == pytest.approx(harm[inside].sum())
    assert result.metadata["window"]["periods"] == ["2024-02", "2024-03", "2024-04"]
    assert set(result.periods["period"]) <= {"2024-02", "2024-03", "2024-04"}
    pair_rows, _ = place_pairs(incidents)
    assert result.places["incidents"].sum() == inside[pair_rows].sum()
    # the same as scoring only the rows of the window
    kept = incidents[inside].reset_index(drop=True)
    alone = score(make_inputs(kept), dataclasses.replace(FAST, window=window))
    pd.testing.assert_frame_equal(alone.cells, result.cells, check_exact=False, rtol=1e-12)
    pd.testing.assert_frame_equal(alone.places, result.places, check_exact=False, rtol=1e-12)


def test_automatic_k_uses_choose_neighbourhood_and_records_why(example):
    incidents, _ = example
    chosen = dataclasses.replace(FAST, k=None, candidate_ks=(1, 2, 3))
    result = score(make_inputs(incidents), chosen)
    expected = choose_neighbourhood(STUDY, grid_harm(result), ks=(1, 2, 3))
    meta = result.metadata
    assert meta["k"] == expected.k
    assert meta["k_choice"]["rule"] == expected.rule and meta["k_choice"]["reason"] == expected.reason
    assert [c["k"] for c in meta["k_choice"]["candidates"]] == [1, 2, 3]
    assert meta["settings"]["k"] is None
    json.dumps(meta, allow_nan=False)
    fixed = score(make_inputs(incidents), dataclasses.replace(FAST, k=expected.k))
    np.testing.assert_allclose(result.cells["gi_z"], fixed.cells["gi_z"], rtol=1e-12)


def test_same_seed_same_tables_other_seed_other_pseudo_p(example):
    incidents, first = example
    again = score(make_inputs(incidents), FAST)
    for table in ("cells", "places", "periods"):
        pd.testing.assert_frame_equal(getattr(again, table), getattr(first, table), check_exact=True)
    assert again.metadata == first.metadata
    other = score(make_inputs(incidents), dataclasses.replace(FAST, seed=4))
    # kept rows may differ (a quiet cell kept for a significant local Moran class under one seed only)
    both = first.cells.merge(other.cells, on="cell", suffixes=("", "_other"))
    assert len(both) >= (first.cells["harm"] > 0).sum()
    np.testing.assert_array_equal(both["gi_z_other"], both["gi_z"])
    assert not np.array_equal(both["gi_p_sim_other"], both["gi_p_sim"])
    assert other.metadata["settings"]["seed"] == 4


def test_comparison_weights_are_optional(example):
    incidents, _ = example
    result = score(make_inputs(incidents, {"cchi": WEIGHTS["cchi"]}), FAST)
    assert "harm_count" not in result.cells.columns and set(CELL_COLUMNS) <= set(result.cells.columns)
    assert result.metadata["sensitivity"] == {"cells": {}, "places": {}}


def test_degenerate_runs_give_strict_json():
    # only anti-social behaviour: no harm at all under cchi (ASB is excluded), every statistic degenerate
    asb_only = incidents_frame([(0, 3, 0), (5, 3, 1), (5, 3, 1)])
    result = score(make_inputs(asb_only), FAST)
    json.dumps(result.metadata, allow_nan=False)
    assert result.metadata["totals"]["harm"] == 0 and result.metadata["totals"]["incidents"] == 3
    assert (result.cells["gi_bin"] == 0).all() and (result.places["gi_z"] == 0).all()
    # a single incident
    single = score(make_inputs(incidents_frame([(7, 1, 2)])), FAST)
    json.dumps(single.metadata, allow_nan=False)
    assert single.cells["harm"].sum() == 365.0


# --- errors -------------------------------------------------------------------------------------------------------


def test_errors_are_config_errors(example):
    incidents, _ = example
    inputs = make_inputs(incidents)
    with pytest.raises(ConfigError, match="weights were not loaded"):
        score(inputs, dataclasses.replace(FAST, weights="css"))
    with pytest.raises(ConfigError, match="no cells"):
        score(make_inputs(incidents, study=np.empty(0, dtype=np.uint64)), FAST)
    with pytest.raises(ConfigError, match="no counted incidents"):
        score(make_inputs(incidents.iloc[:0]), FAST)
    with pytest.raises(ConfigError, match="no incidents in the scoring window"):
        score(inputs, dataclasses.replace(FAST, window=("2023-01", "2023-06")))
    with pytest.raises(ConfigError, match="significance"):
        score(inputs, dataclasses.replace(FAST, significance="bootstrap"))
    with pytest.raises(ConfigError, match="top_n"):
        score(inputs, dataclasses.replace(FAST, top_n=0))
    with pytest.raises(ConfigError):
        score(inputs, dataclasses.replace(FAST, period="fortnight"))


def test_crime_type_breakdown_adds_up_to_the_period_table(example):
    incidents, result = example
    by_type = result.crime_types.groupby(["unit_kind", "unit", "period"])[["harm", "incidents"]].sum()
    periods = result.periods.set_index(["unit_kind", "unit", "period"])[["harm", "incidents"]]
    pd.testing.assert_frame_equal(by_type.sort_index(), periods.sort_index(), check_dtype=False)
    assert set(result.crime_types["crime_type"]) <= set(incidents["crime_type"])
