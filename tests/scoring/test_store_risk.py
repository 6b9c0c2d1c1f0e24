"""Store risk: hand-worked cases, and properties (row order irrelevant, more harm never lowers a score)."""

from __future__ import annotations

import h3
import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harmmap.errors import ConfigError, SchemaError
from harmmap.scoring.store_risk import (
    HIGH_FROM, MEDIUM_FROM, REASONS, TREND_RISK, local_harm_component, local_harm_percentile, local_harm_reference,
    own_incident_counts, score_stores, window_bounds)

CENTRE = h3.latlng_to_cell(52.63, -1.13, 9)
RING = [c for c in h3.grid_disk(CENTRE, 1) if c != CENTRE]
FAR = h3.latlng_to_cell(53.5, -2.2, 9)
GRID = sorted(h3.grid_disk(CENTRE, 3))  # 37 cells for the property tests


def _int(cell: str) -> int:
    return int(cell, 16)


def _cells(harm: dict, bins: dict | None = None) -> pd.DataFrame:
    bins = bins or {}
    ids = sorted(set(harm) | set(bins))
    return pd.DataFrame({"cell": np.array([_int(c) for c in ids], dtype=np.uint64),
                         "harm": [float(harm.get(c, 0.0)) for c in ids], "gi_bin": [bins.get(c, 0) for c in ids]})


def _stores(**where: str) -> pd.DataFrame:
    return pd.DataFrame({"store_id": list(where), "cell": np.array([_int(c) for c in where.values()], np.uint64)})


def _months(store: str, months: list[str]) -> pd.DataFrame:
    return pd.DataFrame({"store_id": [store] * len(months), "month": pd.to_datetime([m + "-01" for m in months])})


# -- hand-worked cases --------------------------------------------------------------------------

def _two_cell_case():
    """Harm 10 at the centre and 5 at one neighbour, in a study grid of 100 cells."""
    neighbour = RING[0]
    common = set(h3.grid_disk(CENTRE, 1)) & set(h3.grid_disk(neighbour, 1)) - {CENTRE, neighbour}
    only_neighbour = next(c for c in h3.grid_disk(neighbour, 1) if c not in h3.grid_disk(CENTRE, 1))
    return neighbour, common, only_neighbour


def test_local_harm_percentile_by_hand():
    neighbour, common, only_neighbour = _two_cell_case()
    reference = local_harm_reference(_cells({CENTRE: 10, neighbour: 5}), study_cells=100)
    # the two disks cover 10 cells: 4 (centre, neighbour, 2 shared) see 15, 3 see only the centre (10),
    # 3 see only the neighbour (5); the other 90 cells of the grid see 0
    assert len(common) == 2 and reference.n_cells == 100
    assert sorted(reference.ring_sums.tolist()) == [5] * 3 + [10] * 3 + [15] * 4
    pct = local_harm_percentile(np.array([_int(CENTRE), _int(only_neighbour), _int(FAR)], np.uint64), reference)
    assert pct.tolist() == [96.0, 90.0, 0.0]  # 90 zeros + 6 lower; 90 zeros; nothing is below 0
    assert local_harm_component([96.0, 90.0, 0.0, 99.0, 99.95]) == pytest.approx(
        [np.log10(25) / 3, 1 / 3, 0.0, 2 / 3, 1.0])


def test_scores_by_hand():
    _, _, only_neighbour = _two_cell_case()
    cells = _cells({CENTRE: 10, RING[0]: 5}, bins={CENTRE: 3})
    trends = pd.DataFrame({"cell": np.array([_int(CENTRE)], np.uint64), "emerging_class": ["intensifying_hot_spot"]})
    own = pd.concat([_months("A", ["2023-02"] * 6 + ["2023-09"] * 18), _months("A", ["2022-12"] * 50),
                     _months("ghost", ["2023-05"])])
    result = score_stores(_stores(A=CENTRE, B=FAR, C=only_neighbour), cells, trends, own,
                          window=(np.datetime64("2023-01"), np.datetime64("2023-12")), study_cells=100)
    a, b, c = (result.set_index("store_id").loc[s] for s in "ABC")
    # A: local 35*log10(25)/3 + hot spot 20 + intensifying 20 + own 20*24/(24+12) + rising 5 (18 recent > 1.5*6)
    assert a["score"] == round(35 * np.log10(25) / 3 + 20 + 20 + 20 * 24 / 36 + 5, 1) == 74.6
    assert a["band"] == "high" and a["own_incidents"] == 24 and (a["own_recent"], a["own_previous"]) == (18, 6)
    assert a["reasons"] == ("LOCAL_HARM_TOP5", "HOT_SPOT_99", "INTENSIFYING", "OWN_INCIDENTS_HIGH",
                            "OWN_INCIDENTS_RISING")
    assert (b["score"], b["band"], b["reasons"], b["local_harm_pct"]) == (0.0, "low", (), 0.0)
    assert (c["score"], c["band"], c["reasons"]) == (round(35 / 3, 1), "low", ("LOCAL_HARM_TOP10",))
    assert list(result["store_id"]) == ["A", "B", "C"]
    assert all(code in REASONS for codes in result["reasons"] for code in codes)


def test_own_counts_window_halves_and_rising():
    own = _months("S", ["2023-01", "2023-06", "2023-07", "2023-07", "2023-08", "2024-01"])
    counts = own_incident_counts(own, ["S", "T"], (np.datetime64("2023-01"), np.datetime64("2023-12")))
    assert counts.loc["S", ["own_incidents", "own_recent", "own_previous"]].tolist() == [5, 3, 2]
    assert not counts.loc["S", "own_rising"]  # 3 is not more than 1.5 x 2
    assert counts.loc["T", "own_incidents"] == 0 and counts.loc["S", "rate_year"] == 5.0
    short = own_incident_counts(own, ["S"], (np.datetime64("2023-06"), np.datetime64("2023-09")))  # halves of 2
    assert short.loc["S", ["own_recent", "own_previous", "own_rising"]].tolist() == [1, 3, False]


def test_window_bounds_from_period_labels():
    assert window_bounds(["2022-Q1", "2022-Q2", "2023-Q4"]) == (np.datetime64("2022-01"), np.datetime64("2023-12"))
    assert window_bounds(["2023-04..2023-06", "2023-07..2024-03"]) == (np.datetime64("2023-04"),
                                                                       np.datetime64("2024-03"))
    assert window_bounds(["2024-H2"]) == (np.datetime64("2024-07"), np.datetime64("2024-12"))
    assert window_bounds(["2024-02", "2024-05"]) == (np.datetime64("2024-02"), np.datetime64("2024-05"))
    with pytest.raises(ConfigError):
        window_bounds(["last year"])


def test_bad_inputs_are_refused():
    with pytest.raises(SchemaError):
        score_stores(pd.DataFrame({"store_id": ["a"]}), _cells({CENTRE: 1}))
    with pytest.raises(SchemaError):
        score_stores(_stores(a=CENTRE).pipe(lambda f: pd.concat([f, f])), _cells({CENTRE: 1}))
    with pytest.raises(ConfigError):
        local_harm_reference(_cells({CENTRE: -1}))


def test_no_harm_anywhere_scores_zero():
    result = score_stores(_stores(a=CENTRE), pd.DataFrame({"cell": np.array([], np.uint64), "harm": [], "gi_bin": []}))
    assert result["score"].tolist() == [0.0] and result["band"].tolist() == ["low"]


# -- properties ---------------------------------------------------------------------------------

TREND_KEYS = ["no_pattern", "new_cold_spot", *TREND_RISK]


@st.composite
def worlds(draw):
    """A 37-cell grid with whole-number harm, Gi* bins and trend classes; 1-5 stores; own incidents."""
    harm = draw(st.dictionaries(st.sampled_from(GRID), st.integers(0, 60), max_size=20))
    bins = draw(st.dictionaries(st.sampled_from(GRID), st.integers(-3, 3), max_size=10))
    trends = draw(st.dictionaries(st.sampled_from(GRID), st.sampled_from(TREND_KEYS), max_size=10))
    where = draw(st.lists(st.sampled_from(GRID), min_size=1, max_size=5))
    stores = _stores(**{f"s{i}": cell for i, cell in enumerate(where)})
    months = draw(st.lists(st.tuples(st.integers(0, len(where) - 1), st.integers(0, 13)), max_size=40))
    own = pd.DataFrame({"store_id": [f"s{i}" for i, _ in months],
                        "month": pd.to_datetime([f"{2023 + m // 12}-{m % 12 + 1:02d}-01" for _, m in months])})
    trend_frame = pd.DataFrame({"cell": np.array([_int(c) for c in trends], np.uint64),
                                "emerging_class": list(trends.values())})
    return {"cells": _cells(harm, bins), "trends": trend_frame, "stores": stores, "own": own}


WINDOW = (np.datetime64("2023-01"), np.datetime64("2023-12"))
PROPERTY = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _score(world) -> pd.DataFrame:
    return score_stores(world["stores"], world["cells"], world["trends"], world["own"], window=WINDOW,
                        study_cells=1000)


def _shuffled(frame: pd.DataFrame, seed: int) -> pd.DataFrame:
    return frame.sample(frac=1.0, random_state=seed).reset_index(drop=True)


@PROPERTY
@given(worlds(), st.integers(0, 1000))
def test_row_order_is_irrelevant(world, seed):
    shuffled = {name: _shuffled(frame, seed) for name, frame in world.items()}
    pd.testing.assert_frame_equal(_score(world), _score(shuffled))


@PROPERTY
@given(worlds(), st.data())
def test_more_harm_around_a_store_never_lowers_its_score(world, data):
    before = _score(world).set_index("store_id")
    store = data.draw(st.sampled_from(list(world["stores"]["store_id"])))
    home = world["stores"].set_index("store_id").loc[store, "cell"]
    target = _int(data.draw(st.sampled_from(sorted(h3.grid_disk(f"{int(home):x}", 1)))))
    extra = data.draw(st.integers(1, 200))
    cells = world["cells"].copy()
    if (cells["cell"] == target).any():
        cells.loc[cells["cell"] == target, "harm"] += extra
    else:
        cells = pd.concat([cells, pd.DataFrame({"cell": np.array([target], np.uint64), "harm": [float(extra)],
                                                "gi_bin": [0]})], ignore_index=True)
    after = _score(world | {"cells": cells}).set_index("store_id")
    assert after.loc[store, "score"] >= before.loc[store, "score"]
    assert after.loc[store, "local_harm_pct"] >= before.loc[store, "local_harm_pct"]


@PROPERTY
@given(worlds(), st.data())
def test_hotter_class_trend_or_more_recent_incidents_never_lower_a_score(world, data):
    before = _score(world).set_index("store_id")
    store = data.draw(st.sampled_from(list(world["stores"]["store_id"])))
    home = np.uint64(world["stores"].set_index("store_id").loc[store, "cell"])
    cells = world["cells"].copy()
    if not (cells["cell"] == home).any():
        cells = pd.concat([cells, pd.DataFrame({"cell": [home], "harm": [0.0], "gi_bin": [0]})], ignore_index=True)
    cells.loc[cells["cell"] == home, "gi_bin"] = 3
    trends = pd.concat([world["trends"][world["trends"]["cell"] != home],
                        pd.DataFrame({"cell": [home], "emerging_class": ["intensifying_hot_spot"]})])
    own = pd.concat([world["own"], _months(store, ["2023-12"] * data.draw(st.integers(1, 10)))], ignore_index=True)
    for changed in ({"cells": cells}, {"trends": trends}, {"own": own}):
        after = _score(world | changed).set_index("store_id")
        assert after.loc[store, "score"] >= before.loc[store, "score"]


@PROPERTY
@given(worlds())
def test_scores_bands_and_reasons_are_consistent(world):
    result = _score(world)
    assert result["score"].between(0, 100).all()
    expected = np.where(result["score"] >= HIGH_FROM, "high", np.where(result["score"] >= MEDIUM_FROM, "medium", "low"))
    assert (result["band"] == expected).all()
    for _, row in result.iterrows():
        assert ("HOT_SPOT_99" in row["reasons"]) == (row["gi_bin"] == 3)
        assert any(code.startswith("LOCAL_HARM") for code in row["reasons"]) == (row["local_harm_pct"] >= 90)
