"""A whole trends run (harmmap.scoring.trend_run.analyse_trends) on hand-built inputs."""

from __future__ import annotations

import dataclasses

import h3
import numpy as np
import pandas as pd
import pytest

from harmmap.errors import ConfigError
from harmmap.geo.grid import buffer_cells
from harmmap.scoring.emerging import codes_to_keys
from harmmap.scoring.pipeline import ScoringInputs
from harmmap.scoring.trend_run import TrendSettings, analyse_trends
from harmmap.weights import load_harm_weights

CENTRE = h3.str_to_int(h3.latlng_to_cell(52.6344, -1.1318, 9))
STUDY = buffer_cells(np.array([CENTRE], dtype=np.uint64), 8)  # 217 cells
MONTHS = pd.date_range("2022-01-01", periods=24, freq="MS")
RING = sorted(h3.str_to_int(c) for c in h3.grid_disk(h3.int_to_str(CENTRE), 1))
PLACES = pd.DataFrame({"place_id": ["town_centre:a", "town_centre:b"], "kind": ["town_centre"] * 2,
                       "name": ["Centre", "Quiet"], "code": ["A", "B"], "area_km2": [0.7, 0.5], "stores": [1, 0]})
QUIET = int(STUDY[-1])
SETTINGS = TrendSettings(weights="count", forecaster="moving_average", horizon=3)


def _rising(month: int) -> int:
    return 30 + 2 * month


def build_incidents(seed: int = 0, months: int = 24) -> pd.DataFrame:
    """Background of one shoplifting a month per cell; the centre cell rises from 30 to 76 a month."""
    rng = np.random.default_rng(seed)
    cells, month = [], []
    for m in range(months):
        background = rng.poisson(1.0, STUDY.size)
        cells.append(np.repeat(STUDY, background))
        cells.append(np.full(_rising(m), CENTRE, dtype=np.uint64))
        month += [m] * (background.sum() + _rising(m))
    cells = np.concatenate(cells).astype(np.uint64)
    return pd.DataFrame({"cell": cells, "month": pd.DatetimeIndex(MONTHS.append(
        pd.date_range("2024-01-01", periods=max(0, months - 24), freq="MS"))[month]),
        "crime_type": "Shoplifting", "offence": "shoplifting",
        "injury": pd.array([None] * cells.size, dtype="boolean"),
        "weapon": pd.array([None] * cells.size, dtype="boolean"),
        "value_gbp": pd.array([None] * cells.size, dtype="Float64")})


def make_inputs(incidents: pd.DataFrame) -> ScoringInputs:
    cells = incidents["cell"].to_numpy(np.uint64)
    in_a = np.flatnonzero(np.isin(cells, np.array(RING, dtype=np.uint64)))
    in_b = np.flatnonzero(cells == np.uint64(QUIET))
    return ScoringInputs(
        incidents=incidents, pair_rows=np.concatenate([in_a, in_b]).astype(np.int64),
        pair_places=np.concatenate([np.zeros(in_a.size), np.ones(in_b.size)]).astype(np.int64), places=PLACES,
        place_cell_places=np.array([0] * len(RING) + [1], dtype=np.int64),
        place_cells=np.array(RING + [QUIET], dtype=np.uint64), study_cells=STUDY,
        weights={"count": load_harm_weights("count")}, context={"vintage": "test"})


@pytest.fixture(scope="module")
def run():
    incidents = build_incidents()
    return incidents, analyse_trends(make_inputs(incidents), SETTINGS)


def test_the_rising_centre_is_an_intensifying_hot_spot_and_so_is_its_place(run):
    _, result = run
    centre = result.cells.set_index("cell").loc[np.uint64(CENTRE)]
    assert centre["emerging_class"] == "intensifying_hot_spot" and centre["trend_z"] > 3
    assert centre["harm_slope"] == pytest.approx(2.0, abs=0.3)  # two more a month, plus Poisson background
    places = result.places.set_index("place_id")
    assert places.loc["town_centre:a", "emerging_class"] == "intensifying_hot_spot"
    assert places.loc["town_centre:b", "emerging_class"] == "no_pattern"


def test_harm_is_conserved_in_cells_places_and_periods(run):
    incidents, result = run
    assert result.cells["harm_total"].sum() == pytest.approx(len(incidents))
    assert result.metadata["totals"] == {"incidents": len(incidents), "harm": pytest.approx(len(incidents))}
    in_a = np.isin(incidents["cell"].to_numpy(np.uint64), np.array(RING, dtype=np.uint64)).sum()
    assert result.places.set_index("place_id").loc["town_centre:a", "harm_total"] == in_a
    place_periods = result.periods[result.periods["kind"] == "place"]
    assert len(place_periods) == 2 * 24
    assert place_periods.groupby("unit")["harm"].sum().to_dict() == pytest.approx(
        result.places.set_index("place_id")["harm_total"].to_dict())


def test_tables_agree_with_themselves(run):
    _, result = run
    cells = result.cells
    assert (codes_to_keys(cells["emerging_code"].to_numpy()) == cells["emerging_class"].to_numpy()).all()
    assert cells["forecast_rank"].is_unique and cells["forecast_rank"].between(1, STUDY.size).all()
    assert sorted(result.places["forecast_rank"]) == [1, 2]
    counted = cells["emerging_class"].value_counts().to_dict()
    counted["no_pattern"] = counted.get("no_pattern", 0) + STUDY.size - len(cells)
    assert result.metadata["cell_classes"] == counted
    patterned = cells.loc[cells["emerging_code"] != 0, "cell"]
    cell_periods = result.periods[result.periods["kind"] == "cell"]
    assert len(cell_periods) == 24 * len(patterned)
    a = result.places.set_index("place_id").loc["town_centre:a"]
    assert a["harm_recent"] == a["incidents_recent"] and a["change_previous_pct"] > 0


def test_row_order_does_not_matter(run):
    incidents, result = run
    shuffled = incidents.sample(frac=1.0, random_state=1).reset_index(drop=True)
    again = analyse_trends(make_inputs(shuffled), SETTINGS)
    pd.testing.assert_frame_equal(again.cells, result.cells)
    pd.testing.assert_frame_equal(again.places, result.places)


def test_months_after_the_window_are_never_used():
    """No leakage: an assessment of a window must not change when later months are added."""
    longer = build_incidents(seed=0, months=30)
    settings = dataclasses.replace(SETTINGS, window=("2022-01", "2023-12"))
    cut = analyse_trends(make_inputs(longer[longer["month"] <= "2023-12-01"].reset_index(drop=True)), settings)
    full = analyse_trends(make_inputs(longer), settings)
    pd.testing.assert_frame_equal(cut.cells, full.cells)
    pd.testing.assert_frame_equal(cut.places, full.places)
    assert full.metadata["periods"][-1] == "2023-12"


def test_bad_settings_are_explained():
    inputs = make_inputs(build_incidents(months=24))
    with pytest.raises(ConfigError, match="regular time step"):
        analyse_trends(inputs, dataclasses.replace(SETTINGS, period="all"))
    with pytest.raises(ConfigError, match="three periods"):
        analyse_trends(inputs, dataclasses.replace(SETTINGS, window=("2022-01", "2022-02")))
    with pytest.raises(ConfigError, match="cube value"):
        analyse_trends(inputs, dataclasses.replace(SETTINGS, value="money"))
