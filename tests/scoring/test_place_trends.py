"""Half-year changes: hand-worked sums and percentages, NaN for missing or zero bases."""

from __future__ import annotations

import numpy as np
import pytest

from harmmap.errors import ConfigError
from harmmap.scoring.place_trends import measure_changes


def test_hand_worked_monthly_changes():
    # 18 months: months 0-5 sum 6, months 6-11 sum 12, months 12-17 sum 18
    series = np.array([[1.0] * 6 + [2.0] * 6 + [3.0] * 6, [0.0] * 12 + [1.0] * 6])
    changes = measure_changes(series, span=6, year=12)
    np.testing.assert_allclose(changes.recent, [18.0, 6.0])
    np.testing.assert_allclose(changes.previous, [12.0, 0.0])
    np.testing.assert_allclose(changes.year_ago, [6.0, 0.0])
    np.testing.assert_allclose(changes.change_previous_pct, [50.0, np.nan])
    np.testing.assert_allclose(changes.change_year_pct, [200.0, np.nan])


def test_short_series_give_nan_not_partial_sums():
    changes = measure_changes(np.ones((1, 14)), span=6, year=12)
    assert changes.recent[0] == 6.0 and changes.previous[0] == 6.0
    assert np.isnan(changes.year_ago[0]) and np.isnan(changes.change_year_pct[0])


def test_quarters():
    changes = measure_changes(np.array([[1.0, 1.0, 2.0, 2.0, 4.0, 4.0]]), span=2, year=4)
    assert changes.recent[0] == 8.0 and changes.previous[0] == 4.0 and changes.year_ago[0] == 2.0
    assert changes.change_year_pct[0] == 300.0


def test_bad_arguments():
    with pytest.raises(ConfigError):
        measure_changes(np.ones(5), span=6, year=12)
    with pytest.raises(ConfigError):
        measure_changes(np.ones((1, 5)), span=0, year=12)
