"""Trends and forecasts on 35 real months of Leicestershire police.uk data (../shared/data).

The acceptance figures of the trends issue, as tests: the default forecaster beats re-using the
previous six months' map on PAI at 5 % of the area (paired 95 % interval above zero), and the
vectorised Mann-Kendall agrees with pymannkendall on real Gi* z series.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pymannkendall
import pytest

from harmmap.geo.cells import points_to_cells
from harmmap.geo.grid import buffer_cells, cells_to_neighbours
from harmmap.scoring.backtest import backtest, compare_to_baseline
from harmmap.scoring.cube import incidents_to_cube, space_time_gi_star
from harmmap.scoring.emerging import classify_emerging, codes_to_keys
from harmmap.scoring.forecast import DEFAULT_FORECASTER, cells_to_rings
from harmmap.scoring.trend import mann_kendall


@pytest.fixture(scope="module")
def cube(shared_data):
    """Crimes (anti-social behaviour excluded) per res-9 cell (cells with data + 2 rings) and month."""
    files = sorted((shared_data / "police_uk" / "leicestershire").glob("*-street.csv*"))
    assert len(files) == 35
    frames = [pd.read_csv(f, usecols=["Month", "Latitude", "Longitude", "Crime type"]) for f in files]
    rows = pd.concat(frames).dropna(subset=["Latitude", "Longitude"])
    rows = rows[rows["Crime type"] != "Anti-social behaviour"]
    cells = points_to_cells(rows["Latitude"].to_numpy(), rows["Longitude"].to_numpy(), 9)
    grid = buffer_cells(np.unique(cells), 2)
    months = sorted(rows["Month"].unique())
    period = pd.Index(months).get_indexer(rows["Month"])
    return grid, incidents_to_cube(np.searchsorted(grid, cells), period, np.ones(cells.size), grid.size, len(months))


def test_default_forecaster_beats_the_previous_period_map(cube):
    grid, counts = cube
    result = backtest(counts, None, methods=[DEFAULT_FORECASTER, "previous"], horizon=6, min_train=12,
                      rings=cells_to_rings(grid, 2), coverages=(0.05,))
    comparison = compare_to_baseline(result, DEFAULT_FORECASTER, "previous", coverage=0.05, weighting="count")
    print(f"\nPAI@5% {DEFAULT_FORECASTER} {comparison.method_mean:.2f} vs previous {comparison.baseline_mean:.2f}, "
          f"difference {comparison.difference_mean:+.2f} [{comparison.difference_low:+.2f}, "
          f"{comparison.difference_high:+.2f}] over {comparison.windows} windows")
    assert comparison.windows == 18
    assert comparison.beats_baseline


def test_emerging_classes_on_real_data_agree_with_pymannkendall(cube):
    grid, counts = cube
    gi = space_time_gi_star(counts, cells_to_neighbours(grid, 1))
    trend = mann_kendall(gi.gi_z)
    codes = classify_emerging(gi.hot, gi.cold, trend.z, trend.p)
    rng = np.random.default_rng(0)
    sample = np.concatenate([rng.choice(np.flatnonzero(codes != 0), 150, replace=False),
                             rng.choice(np.flatnonzero(codes == 0), 50, replace=False)])
    for row in sample:
        oracle = pymannkendall.original_test(gi.gi_z[row])
        assert trend.z[row] == pytest.approx(oracle.z, abs=1e-9) and trend.p[row] == pytest.approx(oracle.p, abs=1e-9)
    keys = pd.Series(codes_to_keys(codes)).value_counts()
    print("\n" + keys.to_string())
    assert keys.get("persistent_hot_spot", 0) > 10 and keys["no_pattern"] > 0.9 * grid.size
