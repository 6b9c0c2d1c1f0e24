"""Mann-Kendall and Sen's slope: hand-worked examples, pymannkendall and scipy as oracles, invariants."""

from __future__ import annotations

import numpy as np
import pymannkendall
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from scipy.stats import kendalltau

from harmmap.errors import ConfigError
from harmmap.scoring.trend import MannKendall, mann_kendall, sens_slope


def random_series(seed: int = 7) -> list[np.ndarray]:
    """>= 200 series: noise, trends, integer series with many ties, constant series, 3..40 periods."""
    rng = np.random.default_rng(seed)
    series = []
    for k in range(240):
        n = int(rng.integers(3, 41))
        kind = k % 4
        if kind == 0:
            x = rng.normal(size=n)
        elif kind == 1:
            x = rng.normal(size=n) + rng.normal(0, 0.3) * np.arange(n)
        elif kind == 2:
            x = rng.integers(0, int(rng.integers(2, 5)), size=n).astype(float)
        else:
            x = np.full(n, float(rng.integers(-3, 3))) if k % 8 == 3 else rng.poisson(1.0, size=n).astype(float)
        series.append(x)
    return series


def test_hand_worked_increasing_series():
    # x = 1, 2, 3, 4, 5: all 10 pairs rise, so S = 10, tau = 10 / 10 = 1.
    # var_s = n(n-1)(2n+5)/18 = 5*4*15/18 = 300/18 = 16.667 (no ties).
    # z = (S - 1)/sqrt(var_s) = 9/4.0825 = 2.2045;  p = 2 * (1 - Phi(2.2045)) = 0.0275 < 0.05: increasing.
    result = mann_kendall([1.0, 2.0, 3.0, 4.0, 5.0])
    assert result.s.tolist() == [10]
    np.testing.assert_allclose(result.var_s, [300 / 18])
    np.testing.assert_allclose(result.z, [9 / np.sqrt(300 / 18)])
    np.testing.assert_allclose(result.p, [0.027486], atol=1e-6)
    assert result.tau.tolist() == [1.0]
    assert result.trend.tolist() == [1]
    assert result.alpha == 0.05


def test_hand_worked_ties():
    # x = 1, 2, 2, 3, 1.  Pairs (i<j), sign(x_j - x_i):
    #   from 1: +1 +1 +1  0      from 2: 0 +1 -1      from 2: +1 -1      from 3: -1
    #   S = 3 + 0 + 0 - 1 = 2.  Tie groups: {1, 1} and {2, 2}: t = 2 each, t(t-1)(2t+5) = 18.
    #   var_s = (5*4*15 - 18 - 18)/18 = 264/18 = 14.667;  z = (2 - 1)/sqrt(14.667) = 0.2611.
    result = mann_kendall([1.0, 2.0, 2.0, 3.0, 1.0])
    assert result.s.tolist() == [2]
    np.testing.assert_allclose(result.var_s, [264 / 18])
    np.testing.assert_allclose(result.z, [1 / np.sqrt(264 / 18)])
    np.testing.assert_allclose(result.tau, [0.2])
    assert result.trend.tolist() == [0]


def test_constant_and_decreasing_series():
    result = mann_kendall(np.array([[4.0, 4.0, 4.0, 4.0], [4.0, 3.0, 2.0, 1.0]]))
    assert result.s.tolist() == [0, -6]
    np.testing.assert_allclose(result.var_s, [0.0, 4 * 3 * 13 / 18])  # constant: 4*3*13 - 4*3*13 = 0
    np.testing.assert_allclose(result.z, [0.0, -5 / np.sqrt(4 * 3 * 13 / 18)])
    assert result.p[0] == 1.0
    assert result.trend.tolist() == [0, 0]  # 4 periods can never reach p < 0.05 (p = 0.0895)


def test_agrees_with_pymannkendall_on_random_series():
    for x in random_series():
        ours = mann_kendall(x)
        oracle = pymannkendall.original_test(x)
        assert ours.s[0] == oracle.s
        np.testing.assert_allclose(ours.var_s[0], oracle.var_s, rtol=1e-12)
        np.testing.assert_allclose(ours.z[0], oracle.z, rtol=1e-12, atol=1e-15)
        np.testing.assert_allclose(ours.p[0], oracle.p, rtol=1e-9, atol=1e-15)
        np.testing.assert_allclose(ours.tau[0], oracle.Tau, rtol=1e-12)
        if abs(oracle.p - 0.05) > 1e-9:
            assert ours.trend[0] == {"increasing": 1, "decreasing": -1, "no trend": 0}[oracle.trend]
        slope = sens_slope(x)
        np.testing.assert_allclose(slope.slope[0], oracle.slope, rtol=1e-12, atol=1e-15)
        np.testing.assert_allclose(slope.intercept[0], oracle.intercept, rtol=1e-12, atol=1e-12)


def test_many_series_at_once_match_one_at_a_time_across_chunks():
    rng = np.random.default_rng(3)
    x = np.vstack([rng.normal(size=(40, 24)), rng.integers(0, 3, size=(37, 24)).astype(float)])
    whole = mann_kendall(x, chunk=16)
    for row in (0, 15, 16, 39, 40, 76):
        one = mann_kendall(x[row])
        for field in ("s", "var_s", "z", "p", "tau", "trend"):
            assert getattr(whole, field)[row] == getattr(one, field)[0]
    np.testing.assert_array_equal(sens_slope(x, chunk=10).slope, sens_slope(x).slope)


@pytest.mark.parametrize("n", [130, 300])  # wider accumulators: > 127 equal elements, > 32767 pairs
def test_long_series_with_ties(n):
    x = np.random.default_rng(n).integers(0, 3, size=n).astype(float)
    ours, oracle = mann_kendall(x), pymannkendall.original_test(x)
    assert ours.s[0] == oracle.s
    np.testing.assert_allclose([ours.var_s[0], ours.z[0]], [oracle.var_s, oracle.z], rtol=1e-12)


def test_score_matches_scipy_kendalltau():
    # S = concordant - discordant pairs of (time, x).  scipy's tau-b = S / sqrt(n0 (n0 - n_x)) with
    # n0 = n(n-1)/2 and n_x the pairs tied in x (time has no ties); without ties tau-b is tau-a.
    for x in random_series(seed=11)[:80]:
        n = x.size
        n0 = n * (n - 1) / 2
        _, counts = np.unique(x, return_counts=True)
        tied = float((counts * (counts - 1) / 2).sum())
        tau_b = kendalltau(np.arange(n), x).statistic
        ours = mann_kendall(x)
        if tied == n0:  # constant series: scipy gives NaN
            assert np.isnan(tau_b) and ours.s[0] == 0
            continue
        assert ours.s[0] == round(tau_b * np.sqrt(n0 * (n0 - tied)))
        if tied == 0:
            np.testing.assert_allclose(ours.tau[0], tau_b, rtol=1e-12)


def test_sens_slope_hand_worked():
    # x = 1, 3, 2, 4.  Slopes: lag 1: 2, -1, 2; lag 2: 1/2, 1/2; lag 3: 3/3 = 1.
    # Sorted: -1, .5, .5, 1, 2, 2 -> median (0.5 + 1)/2 = 0.75.  median(x) = 2.5, median(t) = 1.5,
    # intercept = 2.5 - 1.5 * 0.75 = 1.375.
    result = sens_slope([1.0, 3.0, 2.0, 4.0])
    assert result.slope.tolist() == [0.75]
    assert result.intercept.tolist() == [1.375]
    line = sens_slope(np.array([[3.0, 5.0, 7.0, 9.0, 11.0], [10.0, 10.0, 10.0, 10.0, 99.0]]))
    assert line.slope.tolist() == [2.0, 0.0] and line.intercept.tolist() == [3.0, 10.0]


def test_result_shapes_and_types():
    result = mann_kendall(np.zeros((0, 5)))
    assert isinstance(result, MannKendall) and result.s.shape == (0,)
    result = mann_kendall(np.arange(12).reshape(3, 4))  # integers are accepted
    assert result.s.dtype == np.int64 and result.trend.dtype == np.int8 and result.z.dtype == np.float64
    assert result.s.shape == result.p.shape == (3,)
    with pytest.raises(AttributeError):
        result.alpha = 0.1  # frozen


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_values_name_the_row(bad):
    x = np.ones((5, 6))
    x[3, 2] = bad
    with pytest.raises(ConfigError, match="row 3"):
        mann_kendall(x)
    with pytest.raises(ConfigError, match="row 3"):
        mann_kendall(x, chunk=2)
    with pytest.raises(ConfigError, match="row 3"):
        sens_slope(x)


@pytest.mark.parametrize("series", [[1.0, 2.0], [[1.0], [2.0]], np.zeros((2, 3, 4)), 5.0])
def test_bad_shapes(series):
    with pytest.raises(ConfigError):
        mann_kendall(series)
    with pytest.raises(ConfigError):
        sens_slope(series)


@pytest.mark.parametrize("alpha", [0.0, 1.0, -0.1, True, "0.05"])
def test_bad_alpha(alpha):
    with pytest.raises(ConfigError, match="alpha"):
        mann_kendall([1.0, 2.0, 3.0], alpha=alpha)


def test_bad_chunk():
    with pytest.raises(ConfigError, match="chunk"):
        mann_kendall([1.0, 2.0, 3.0], chunk=0)
    with pytest.raises(ConfigError, match="chunk"):
        sens_slope([1.0, 2.0, 3.0], chunk=1.5)


def test_alpha_decides_trend():
    x = [1.0, 2.0, 3.0, 4.0, 5.0]  # p = 0.0275
    assert mann_kendall(x, alpha=0.05).trend.tolist() == [1]
    assert mann_kendall(x, alpha=0.01).trend.tolist() == [0]


INTEGER_ROWS = hnp.arrays(np.int64, st.tuples(st.integers(1, 8), st.integers(3, 15)),
                          elements=st.integers(-6, 6)).map(lambda a: a.astype(np.float64))


@settings(max_examples=60, deadline=None)
@given(INTEGER_ROWS, st.randoms(use_true_random=False))
def test_row_order_is_irrelevant(x, random):
    order = np.array(random.sample(range(x.shape[0]), x.shape[0]))
    whole, permuted = mann_kendall(x), mann_kendall(x[order])
    for field in ("s", "var_s", "z", "p", "tau", "trend"):
        np.testing.assert_array_equal(getattr(permuted, field), getattr(whole, field)[order])
    np.testing.assert_array_equal(sens_slope(x[order]).slope, sens_slope(x).slope[order])


@settings(max_examples=60, deadline=None)
@given(INTEGER_ROWS, st.integers(-1000, 1000), st.integers(1, 50))
def test_shift_and_positive_scale_change_nothing(x, shift, scale):
    before, after = mann_kendall(x), mann_kendall(x * scale + shift)  # exact in float64 for these integers
    for field in ("s", "var_s", "z", "p", "trend"):
        np.testing.assert_array_equal(getattr(after, field), getattr(before, field))
    np.testing.assert_allclose(sens_slope(x * scale + shift).slope, sens_slope(x).slope * scale)


@settings(max_examples=60, deadline=None)
@given(INTEGER_ROWS)
def test_reversing_time_negates_s_and_z(x):
    forward, backward = mann_kendall(x), mann_kendall(x[:, ::-1])
    np.testing.assert_array_equal(backward.s, -forward.s)
    np.testing.assert_array_equal(backward.z, -forward.z)
    np.testing.assert_array_equal(backward.trend, -forward.trend)
    np.testing.assert_array_equal(backward.var_s, forward.var_s)
    np.testing.assert_array_equal(backward.p, forward.p)
