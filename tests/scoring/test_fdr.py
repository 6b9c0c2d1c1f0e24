"""Benjamini-Hochberg false discovery rate: hand-worked example, scipy as oracle, NaN handling."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import false_discovery_control

from harmmap.errors import ConfigError
from harmmap.scoring.fdr import adjust_benjamini_hochberg, reject_benjamini_hochberg

P_VALUES = st.lists(st.floats(0.0, 1.0, allow_nan=False), min_size=1, max_size=60)


def test_hand_worked_example():
    # m = 10 sorted p-values.  BH at alpha = 0.05 compares p(k) with k/10 * 0.05:
    #   k:        1      2      3      4      5      6      7      8      9      10
    #   p(k):   .001   .008   .039   .041   .042   .060   .074   .205   .212   .216
    #   k/m*a:  .005   .010   .015   .020   .025   .030   .035   .040   .045   .050
    # the largest k with p(k) <= k/m*a is 2: the two smallest are rejected.
    # m/k * p(k):  .01  .04  .13  .1025  .084  .10  .10571  .25625  .23556  .216
    # adjusted q(k) = min over j >= k (step-up, from the right):
    #              .01  .04  .084 .084   .084  .10  .10571  .216    .216    .216
    p = np.array([0.001, 0.008, 0.039, 0.041, 0.042, 0.060, 0.074, 0.205, 0.212, 0.216])
    expected = [0.01, 0.04, 0.084, 0.084, 0.084, 0.10, 0.074 * 10 / 7, 0.216, 0.216, 0.216]
    order = np.array([7, 2, 9, 0, 4, 1, 8, 3, 6, 5])  # shuffled input: results follow the input order
    q = adjust_benjamini_hochberg(p[order])
    np.testing.assert_allclose(q, np.array(expected)[order], rtol=1e-12)
    assert reject_benjamini_hochberg(p[order], 0.05).tolist() == (order < 2).tolist()
    assert reject_benjamini_hochberg(p, 0.10).tolist() == [True] * 6 + [False] * 4  # q <= 0.10


def test_docstring_example():
    assert adjust_benjamini_hochberg([0.01, 0.04, 0.03, 0.5]).round(3).tolist() == [0.04, 0.053, 0.053, 0.5]


@settings(max_examples=200, deadline=None)
@given(P_VALUES)
def test_equals_scipy_false_discovery_control(p):
    p = np.array(p)
    np.testing.assert_allclose(adjust_benjamini_hochberg(p), false_discovery_control(p, method="bh"),
                               rtol=1e-12, atol=1e-15)


@settings(max_examples=200, deadline=None)
@given(P_VALUES, st.sampled_from([0.01, 0.05, 0.10, 0.2]))
def test_rejections_follow_the_step_up_definition(p, alpha):
    p = np.array(p)
    m = p.size
    ranked = np.sort(p)
    passing = np.flatnonzero(ranked <= np.arange(1, m + 1) / m * alpha)
    threshold = ranked[passing[-1]] if passing.size else -1.0
    assert reject_benjamini_hochberg(p, alpha).tolist() == (p <= threshold).tolist()


@settings(max_examples=100, deadline=None)
@given(P_VALUES)
def test_adjusted_values_are_monotone_capped_and_at_least_p(p):
    p = np.array(p)
    q = adjust_benjamini_hochberg(p)
    order = np.argsort(p, kind="stable")
    assert np.all(np.diff(q[order]) >= 0)
    assert np.all(q >= p) and np.all(q <= 1.0)


def test_nans_stay_nan_and_do_not_count():
    with_nan = adjust_benjamini_hochberg([0.01, np.nan, 0.04, np.nan])
    without = adjust_benjamini_hochberg([0.01, 0.04])  # m = 2, not 4
    assert np.isnan(with_nan[[1, 3]]).all()
    np.testing.assert_allclose(with_nan[[0, 2]], without)
    assert reject_benjamini_hochberg([0.01, np.nan], 0.05).tolist() == [True, False]
    assert np.isnan(adjust_benjamini_hochberg([np.nan, np.nan])).all()
    assert adjust_benjamini_hochberg([]).size == 0


@pytest.mark.parametrize("bad", [[-0.1, 0.5], [0.5, 1.5], [[0.1, 0.2]]])
def test_rejects_values_that_are_not_p_values(bad):
    with pytest.raises(ConfigError):
        adjust_benjamini_hochberg(bad)


@pytest.mark.parametrize("alpha", [0, 1, -0.05, 1.5, True, "0.05", None])
def test_rejects_bad_alpha(alpha):
    with pytest.raises(ConfigError, match="alpha"):
        reject_benjamini_hochberg([0.01], alpha)
