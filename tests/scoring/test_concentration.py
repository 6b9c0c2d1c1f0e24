"""Lorenz curve, Gini and top shares: hand-worked values and invariants."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harmmap.errors import ConfigError, SchemaError
from harmmap.scoring.concentration import (
    generalised_gini,
    gini,
    lorenz_curve,
    summarise_concentration,
    top_shares,
)


def test_gini_hand_examples():
    assert gini([0, 0, 0, 1]) == 0.75  # one of n non-zero: (n - 1) / n
    assert gini([3, 3, 3]) == 0.0
    assert gini([1, 2, 3, 4]) == 0.25  # sum|xi - xj| = 20, / (2 * 16 * 2.5)
    assert gini([10, 8, 2] + [0] * 7) == pytest.approx(0.78)  # lorenzgini's documented example
    assert gini([0.5]) == 0.0


def test_gini_equals_mean_absolute_difference_definition():
    values = np.random.default_rng(3).gamma(0.3, 10, 200)
    pairwise = np.abs(values[:, None] - values[None, :]).sum() / (2 * len(values) ** 2 * values.mean())
    assert gini(values) == pytest.approx(pairwise, rel=1e-12)


def test_gini_is_twice_the_area_between_diagonal_and_lorenz_curve():
    values = np.random.default_rng(4).exponential(size=500)
    curve = lorenz_curve(values)
    area = np.trapezoid(curve.harm_share, curve.population_share)
    assert gini(values) == pytest.approx(1 - 2 * area, rel=1e-12)


def test_all_zero_or_empty_is_undefined():
    assert math.isnan(gini([0, 0, 0]))
    assert math.isnan(gini([]))
    assert all(math.isnan(share) for share in top_shares([0.0, 0.0]).values())
    curve = lorenz_curve([0, 0])
    assert curve.harm_share[0] == 0 and np.isnan(curve.harm_share[1:]).all()


def test_lorenz_points_hand_example():
    curve = lorenz_curve([3, 0, 1])
    assert curve.population_share.tolist() == pytest.approx([0, 1 / 3, 2 / 3, 1])
    assert curve.harm_share.tolist() == [0.0, 0.0, 0.25, 1.0]


def test_top_shares_take_the_ceiling_of_the_fraction():
    values = np.arange(1, 101, dtype="float64")  # total 5050
    shares = top_shares(values, fractions=(0.01, 0.05, 0.10, 0.015))
    assert shares[0.01] == pytest.approx(100 / 5050)
    assert shares[0.05] == pytest.approx(sum(range(96, 101)) / 5050)
    assert shares[0.1] == pytest.approx(sum(range(91, 101)) / 5050)
    assert shares[0.015] == pytest.approx((100 + 99) / 5050)  # ceil(1.5) = 2 units


def test_top_share_is_at_least_one_unit_and_exact_fractions_are_not_rounded_up():
    assert top_shares([1.0, 1.0, 2.0], fractions=(0.01,))[0.01] == 0.5
    assert top_shares(np.ones(100), fractions=(0.07,))[0.07] == pytest.approx(0.07)  # 0.07 * 100 = 7.000000000000001


def test_generalised_gini_matches_bernasco_and_steenbeek():
    # lorenzgini documentation: 10 units, 8 crimes: G = 0.8, G' = 0.75
    assert generalised_gini([5, 2, 1] + [0] * 7) == pytest.approx(0.75)
    # as many crimes as units or more: G' = G
    assert generalised_gini([10, 8, 2] + [0] * 7) == pytest.approx(0.78)
    # maximal equality given the data (one incident in each of n_incidents units) gives 0
    assert generalised_gini([1, 1, 1] + [0] * 97) == pytest.approx(0.0)
    assert math.isnan(generalised_gini([0, 0]))


def test_generalised_gini_needs_counts():
    with pytest.raises(SchemaError):
        generalised_gini([0.5, 1.0])


def test_summary_combines_the_measures_and_flags_sparse_data():
    harm = np.array([365.0, 1.0, 0.0, 0.0, 0.0])
    incidents = np.array([1, 1, 0, 0, 0])
    summary = summarise_concentration(harm, incidents=incidents)
    assert summary.n_units == 5 and summary.total_harm == 366.0
    assert summary.gini == pytest.approx(gini(harm))
    assert summary.top_shares[0.01] == pytest.approx(365 / 366)
    assert summary.sparse is True and summary.n_incidents == 2
    assert summary.generalised_gini == pytest.approx(generalised_gini(incidents))
    assert summary.lorenz.harm_share[-1] == 1.0
    plain = summarise_concentration(harm)
    assert plain.sparse is None and math.isnan(plain.generalised_gini)


@pytest.mark.parametrize("values", [[-1.0, 2.0], [np.nan, 1.0], [[1.0, 2.0]]])
def test_bad_values_are_schema_errors(values):
    with pytest.raises(SchemaError):
        gini(values)


def test_bad_fractions_are_config_errors():
    with pytest.raises(ConfigError):
        top_shares([1.0], fractions=(0.0,))
    with pytest.raises(ConfigError):
        top_shares([1.0], fractions=(1.5,))


harm_lists = st.lists(st.sampled_from([0.0, 1.0, 2.0, 3.0, 30.0, 365.0]), min_size=1, max_size=80)


@settings(max_examples=80, deadline=None)
@given(harm_lists, st.sampled_from([0.5, 2.0, 3.0, 1e6, 1 / 7]), st.randoms(use_true_random=False))
def test_gini_and_shares_ignore_scale_and_order(values, scale, random):
    values = np.array(values)
    if values.sum() == 0:
        return
    shuffled = values.copy()
    random.shuffle(shuffled)
    assert gini(values * scale) == pytest.approx(gini(values), abs=1e-12)
    assert gini(shuffled) == pytest.approx(gini(values), abs=1e-12)
    n = len(values)
    assert 0 <= gini(values) <= (n - 1) / n + 1e-12
    shares = top_shares(values * scale)
    for fraction, share in top_shares(values).items():
        assert shares[fraction] == pytest.approx(share)
    curve = lorenz_curve(values)
    assert curve.harm_share[0] == 0 and curve.harm_share[-1] == 1
    assert (np.diff(curve.harm_share) >= -1e-15).all()
    assert (curve.harm_share <= curve.population_share + 1e-12).all()
