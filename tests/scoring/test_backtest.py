"""Rolling-origin backtest: windows, no leakage, intervals, paired comparison and errors."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

import harmmap.scoring.backtest as backtest_module
from harmmap.errors import ConfigError, SchemaError
from harmmap.scoring.accuracy import METRICS, measure_accuracy
from harmmap.scoring.backtest import (
    SUMMARY_COLUMNS,
    WINDOW_COLUMNS,
    Backtest,
    backtest,
    compare_to_baseline,
    summarise_windows,
)
from harmmap.scoring.forecast import forecast

RNG = np.random.default_rng(7)
COUNTS = RNG.poisson(RNG.gamma(0.5, 1.0, 60)[:, None], (60, 35)).astype(float)
HARM = COUNTS * RNG.choice([1.0, 10.0, 365.0], size=COUNTS.shape)


def test_default_windows_on_35_months():
    result = backtest(COUNTS, HARM, methods=["previous", "moving_average"])
    assert result.origins == tuple(range(12, 30))  # 35 - 12 - 6 + 1 = 18 windows
    assert list(result.windows.columns) == list(WINDOW_COLUMNS)
    assert list(result.summary.columns) == list(SUMMARY_COLUMNS)
    assert (result.windows["train_end"] == result.windows["origin"] - 1).all()
    assert len(result.windows) == 18 * 2 * 2 * 3 * len(METRICS)  # origins x methods x weightings x coverages x metrics
    assert len(result.summary) == 2 * 2 * 3 * len(METRICS)
    assert set(result.summary["windows"]) == {18}
    assert backtest(COUNTS, None, methods=["previous"], step=6).origins == (12, 18, 24)


def test_window_scores_match_a_direct_computation():
    result = backtest(COUNTS, HARM, methods=["moving_average"], origins=[20], coverages=(0.1,))
    train = HARM[:, :20]
    expected = measure_accuracy(forecast(train, "moving_average", horizon=6), HARM[:, 20:26].sum(axis=1),
                                coverages=(0.1,), previous=train.sum(axis=1))
    w = result.windows[result.windows.weighting == "harm"].set_index("metric")["value"]
    for name in METRICS:
        assert w[name] == pytest.approx(getattr(expected, name)[0], nan_ok=True)


class Spy:
    """Stands in for ``forecast`` and records exactly what each call was shown."""

    def __init__(self):
        self.calls = []

    def __call__(self, history, method, **kwargs):
        self.calls.append((method, history.copy()))
        return forecast(history, method, **kwargs)


def test_forecasters_see_only_the_training_periods(monkeypatch):
    spy = Spy()
    monkeypatch.setattr(backtest_module, "forecast", spy)
    result = backtest(COUNTS, HARM, methods=["previous", "self_exciting"], horizon=3, min_train=20, step=4)
    assert len(spy.calls) == len(result.origins) * 2 * 2
    calls = iter(spy.calls)
    for origin in result.origins:
        for matrix in (COUNTS, HARM):
            for _method in ("previous", "self_exciting"):
                _, seen = next(calls)
                np.testing.assert_array_equal(seen, matrix[:, :origin])


@settings(max_examples=15, deadline=None)
@given(st.integers(1, 28), st.integers(0, 2**31 - 1))
def test_changing_data_at_or_after_the_origin_never_changes_the_forecast(origin, seed):
    changed = COUNTS.copy()
    changed[:, origin:] = np.random.default_rng(seed).poisson(3.0, changed[:, origin:].shape)
    forecasts = []
    for data in (COUNTS, changed):
        spy = Spy()
        original = backtest_module.forecast
        backtest_module.forecast = spy
        try:
            backtest(data, None, methods=["prospective_kernel", "empirical_bayes"], origins=[origin])
        finally:
            backtest_module.forecast = original
        forecasts.append([forecast(h, m, horizon=6) for m, h in spy.calls])
    for before, after in zip(*forecasts):
        np.testing.assert_array_equal(before, after)


def test_interval_without_overlap_is_the_t_interval():
    values = np.array([3.0, 5.0, 4.0, 6.0, 2.0])
    mean, low, high, n = summarise_windows(values, lags=0)
    expected = stats.t.interval(0.95, 4, loc=values.mean(), scale=stats.sem(values))
    assert (mean, n) == (4.0, 5)
    assert (low, high) == pytest.approx(expected)


def test_newey_west_interval_by_hand():
    mean, low, high, n = summarise_windows(np.array([1.0, 2, 3, 4]), lags=1)
    # deviations -1.5 -0.5 0.5 1.5: gamma0 = 5/4 = 1.25; gamma1 = (0.75 - 0.25 + 0.75)/4 = 0.3125
    # long-run variance 1.25 + 2 * (1 - 1/2) * 0.3125 = 1.5625; x n/(n-1) = 2.0833; se = sqrt(2.0833 / 4)
    half = stats.t.ppf(0.975, 3) * math.sqrt(1.5625 * 4 / 3 / 4)
    assert mean == 2.5 and n == 4
    assert (low, high) == pytest.approx((2.5 - half, 2.5 + half))
    assert summarise_windows(np.array([np.nan, 1.0]), 0)[:2] == (1.0, pytest.approx(math.nan, nan_ok=True))
    assert summarise_windows(np.array([]), 3)[3] == 0


def fabricated(method_values, baseline_values, horizon=1):
    rows = []
    for origin, (m, b) in enumerate(zip(method_values, baseline_values), start=12):
        rows.append((origin, origin - 1, "model", "harm", 0.05, "pai", m))
        rows.append((origin, origin - 1, "previous", "harm", 0.05, "pai", b))
    windows = pd.DataFrame(rows, columns=list(WINDOW_COLUMNS))
    origins = tuple(range(12, 12 + len(method_values)))
    return Backtest(windows, pd.DataFrame(columns=list(SUMMARY_COLUMNS)), horizon, 1, origins)


def test_compare_to_baseline_pairs_windows():
    better = fabricated([5.0, 6, 7, 6, 5, 6], [4.0, 5, 5, 5, 4, 5])
    result = compare_to_baseline(better, "model")
    # paired differences 1 2 1 1 1 1: mean 7/6, all positive -> interval above 0
    assert result.difference_mean == pytest.approx(7 / 6)
    assert result.method_mean == pytest.approx(35 / 6) and result.baseline_mean == pytest.approx(28 / 6)
    assert result.beats_baseline and result.windows == 6
    mixed = compare_to_baseline(fabricated([5.0, 3, 6, 4], [4.0, 5, 5, 5]), "model")
    assert not mixed.beats_baseline and mixed.difference_low < 0 < mixed.difference_high
    # a window with a NaN score for either model is left out of the pairing
    assert compare_to_baseline(fabricated([5.0, np.nan, 6], [4.0, 5, 5]), "model").windows == 2


def test_compare_to_baseline_on_a_real_backtest():
    result = backtest(COUNTS, HARM, methods=["previous", "moving_average"])
    comparison = compare_to_baseline(result, "moving_average", weighting="count", metric="hit_rate", coverage=0.1)
    s = result.summary.set_index(["method", "weighting", "coverage", "metric"])
    assert comparison.method_mean == pytest.approx(s.loc[("moving_average", "count", 0.1, "hit_rate"), "mean"])
    assert comparison.difference_mean == pytest.approx(comparison.method_mean - comparison.baseline_mean)


@pytest.mark.parametrize(("call", "error"), [
    (lambda: backtest(COUNTS, HARM, methods=["oracle"]), ConfigError),
    (lambda: backtest(COUNTS, HARM, methods=[]), ConfigError),
    (lambda: backtest(COUNTS, HARM[:, :30], methods=["previous"]), SchemaError),
    (lambda: backtest(COUNTS, HARM, methods=["previous"], origins=[0]), ConfigError),
    (lambda: backtest(COUNTS, HARM, methods=["previous"], origins=[33]), ConfigError),
    (lambda: backtest(COUNTS[:, :10], None, methods=["previous"]), ConfigError),
    (lambda: backtest(COUNTS, HARM, methods=["previous"], step=0), ConfigError),
    (lambda: backtest(COUNTS, HARM, methods=["previous"], params={"moving_average": {}}), ConfigError),
    (lambda: backtest(COUNTS, HARM, methods=["previous"], params={"previous": {"periods": 3}}), ConfigError),
    (lambda: compare_to_baseline(fabricated([1.0], [1.0]), "model", weighting="count"), ConfigError),
])
def test_errors_say_what_was_given_and_how_to_fix(call, error):
    with pytest.raises(error) as raised:
        call()
    assert raised.value.given is not None and raised.value.fix
