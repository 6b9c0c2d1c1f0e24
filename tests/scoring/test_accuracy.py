"""Hit rate, PAI, PEI, PEI* and RRI: hand-worked examples, ties, areas and invariants."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harmmap.errors import ConfigError, SchemaError
from harmmap.scoring.accuracy import METRICS, measure_accuracy

# Ten equal-area units, ranked 0..9 by the forecast; actual total N = 10.
FORECAST = [9, 8, 7, 6, 5, 4, 3, 2, 1, 0]
ACTUAL = [4, 0, 3, 0, 1, 0, 0, 2, 0, 0]


def test_hand_worked_whole_units():
    acc = measure_accuracy(FORECAST, ACTUAL, coverages=(0.2, 0.3))
    # 20 %: units 0, 1 flagged -> n = 4 + 0 = 4; hit 0.4; PAI 0.4 / 0.2 = 2
    #       best two units hold 4 + 3 = 7 -> PEI 4/7; smallest area holding 4 is unit 0: 1 of 2 units -> PEI* 0.5
    # 30 %: units 0, 1, 2 -> n = 7; hit 0.7; PAI 7/3; best three hold 4 + 3 + 2 = 9 -> PEI 7/9;
    #       7 fits in units 0 and 2: 2 of 3 units -> PEI* 2/3
    assert acc.hit_rate == pytest.approx([0.4, 0.7])
    assert acc.pai == pytest.approx([2.0, 7 / 3])
    assert acc.pei == pytest.approx([4 / 7, 7 / 9])
    assert acc.pei_star == pytest.approx([0.5, 2 / 3])
    assert acc.captured == pytest.approx([4, 7]) and acc.total == 10
    assert np.isnan(acc.rri).all()  # no training data given


def test_hand_worked_partial_unit():
    acc = measure_accuracy(FORECAST, ACTUAL, coverages=(0.25,))
    # 2.5 units: units 0, 1 and half of unit 2 -> 4 + 0 + 1.5 = 5.5; hit 0.55; PAI 0.55 / 0.25 = 2.2
    # best 2.5 units: 4 + 3 + half of 2 = 8 -> PEI 5.5 / 8; 5.5 needs unit 0 + half of unit 2 = 1.5 units -> PEI* 0.6
    assert acc.hit_rate[0] == pytest.approx(0.55)
    assert acc.pai[0] == pytest.approx(2.2)
    assert acc.pei[0] == pytest.approx(0.6875)
    assert acc.pei_star[0] == pytest.approx(0.6)


def test_recapture_rate_index():
    previous = [5, 0, 0, 0, 0, 0, 0, 0, 0, 5]
    acc = measure_accuracy(FORECAST, ACTUAL, coverages=(0.2,), previous=previous)
    # flagged units 0, 1: period 1 n1/N1 = 5/10, period 2 n2/N2 = 4/10 -> RRI = (4/5) / (10/10) = 0.8
    assert acc.rri[0] == pytest.approx(0.8)
    # nothing of period 1 in the flagged units -> undefined
    assert np.isnan(measure_accuracy(FORECAST, ACTUAL, coverages=(0.2,), previous=[0] * 9 + [1]).rri[0])


def test_all_tied_forecast_is_random_selection():
    acc = measure_accuracy(np.zeros(10), ACTUAL, coverages=(0.2, 0.5))
    # random 20 % of the units holds 20 % of the crime on average: PAI exactly 1
    assert acc.hit_rate == pytest.approx([0.2, 0.5])
    assert acc.pai == pytest.approx([1.0, 1.0])


def test_ties_at_the_cut_off_get_fractional_credit():
    forecast = [3, 1, 1, 1, 1, 0, 0, 0, 0, 0]
    actual = [2, 4, 0, 0, 0, 1, 1, 1, 1, 0]
    acc = measure_accuracy(forecast, actual, coverages=(0.3,))
    # unit 0 + 2 of the 4 tied units 1-4 (holding 4): expected 2 + 4 * 2/4 = 4 of 10
    assert acc.hit_rate[0] == pytest.approx(0.4)


def brute_force_hit_rate(forecast, actual, k):
    """Mean over every permutation used as a tie-breaker of the share held by the top k units."""
    n, total, held = len(forecast), sum(actual), []
    for perm in itertools.permutations(range(n)):
        order = sorted(range(n), key=lambda i: (-forecast[i], perm[i]))
        held.append(sum(actual[i] for i in order[:k]))
    return np.mean(held) / total


@settings(max_examples=25, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 2), st.integers(0, 5)), min_size=2, max_size=6), st.data())
def test_tie_credit_equals_random_tie_breaking(pairs, data):
    forecast, actual = [p[0] for p in pairs], [p[1] for p in pairs]
    if sum(actual) == 0:
        actual[0] = 1
    k = data.draw(st.integers(1, len(pairs)))
    acc = measure_accuracy(forecast, actual, coverages=(k / len(pairs),))
    assert acc.hit_rate[0] == pytest.approx(brute_force_hit_rate(forecast, actual, k))


@settings(max_examples=50, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 3), st.integers(0, 6), st.integers(0, 4), st.floats(0.5, 2.0)),
                min_size=1, max_size=30), st.randoms(use_true_random=False), st.booleans())
def test_row_order_is_irrelevant(rows, random, use_area):
    forecast, actual, previous, area = (np.array(c, dtype=float) for c in zip(*rows))
    area = area if use_area else None
    order = list(range(len(rows)))
    random.shuffle(order)
    one = measure_accuracy(forecast, actual, area=area, previous=previous)
    other = measure_accuracy(forecast[order], actual[order], area=None if area is None else area[order],
                             previous=previous[order])
    for name in METRICS:
        np.testing.assert_allclose(getattr(one, name), getattr(other, name), rtol=1e-9, atol=1e-12)


@settings(max_examples=50, deadline=None)
@given(st.lists(st.tuples(st.floats(0, 10), st.floats(0, 10).map(lambda x: round(x, 3)), st.floats(0.1, 3)),
                min_size=1, max_size=40))
def test_bounds_and_identities(rows):
    forecast, actual, area = (np.array(c) for c in zip(*rows))
    acc = measure_accuracy(forecast, actual, area=area, coverages=(0.01, 0.05, 0.1, 0.5, 1.0))
    if actual.sum() == 0:
        assert np.isnan(acc.hit_rate).all()
        return
    assert np.all((acc.hit_rate >= -1e-12) & (acc.hit_rate <= 1 + 1e-9))
    np.testing.assert_allclose(acc.pai * np.array(acc.coverages), acc.hit_rate)
    assert np.all((acc.pei >= -1e-12) & (acc.pei <= 1 + 1e-9))
    assert np.all((acc.pei_star >= -1e-12) & (acc.pei_star <= 1 + 1e-9))
    assert acc.hit_rate[-1] == pytest.approx(1.0)  # flagging everything catches everything
    perfect = measure_accuracy(actual, actual, area=area, coverages=(0.05, 0.5))
    np.testing.assert_allclose(perfect.pei, 1.0)
    # PEI* of a perfect forecast is 1 unless the flagged area exceeds the area where anything happened
    room = area[actual > 0].sum() / area.sum() >= np.array(perfect.coverages)
    np.testing.assert_allclose(perfect.pei_star[room], 1.0)
    assert np.all(perfect.pei_star[~room] < 1)


def test_area_weights_change_the_selection():
    forecast, actual = [3, 4, 1], [1, 4, 1]
    weighted = measure_accuracy(forecast, actual, area=[1, 2, 1], coverages=(0.5,))
    # ranked by forecast per area: 3, 2, 0.5 -> unit 0 (area 1) + half of unit 1 (area 2) = area 2 of 4
    # n = 1 + 4/2 = 3 of 6 -> hit 0.5, PAI 1; best area 2 is unit 1 (4) -> PEI 3/4;
    # 3 fits in 3/4 of unit 1 = area 1.5 -> PEI* 1.5 / 2
    assert weighted.hit_rate[0] == pytest.approx(0.5)
    assert weighted.pai[0] == pytest.approx(1.0)
    assert weighted.pei[0] == pytest.approx(0.75)
    assert weighted.pei_star[0] == pytest.approx(0.75)
    equal = measure_accuracy(forecast, actual, coverages=(0.5,))
    # equal areas: 1.5 units: unit 1 (4) + half of unit 0 (0.5) = 4.5 of 6 -> hit 0.75, PAI 1.5
    assert equal.hit_rate[0] == pytest.approx(0.75)
    assert equal.pai[0] == pytest.approx(1.5)
    # scaling every area by the same factor changes nothing
    scaled = measure_accuracy(forecast, actual, area=[5, 5, 5], coverages=(0.5,))
    np.testing.assert_allclose(scaled.pai, equal.pai)


def test_all_zero_actual_gives_nan_not_an_error():
    acc = measure_accuracy([1, 2, 3], [0, 0, 0], previous=[1, 0, 0])
    for name in METRICS:
        assert np.isnan(getattr(acc, name)).all()


def test_to_frame_is_tidy():
    frame = measure_accuracy(FORECAST, ACTUAL).to_frame()
    assert list(frame.columns) == ["coverage", "metric", "value"]
    assert len(frame) == 3 * len(METRICS)
    assert set(frame["metric"]) == set(METRICS)
    assert frame.loc[(frame.metric == "pai") & (frame.coverage == 0.1), "value"].iloc[0] == pytest.approx(4.0)


@pytest.mark.parametrize(("kwargs", "error"), [
    ({"forecast": [1, 2], "actual": [1, 2, 3]}, SchemaError),
    ({"forecast": [1, 2], "actual": [1, -1]}, SchemaError),
    ({"forecast": [1, math.nan], "actual": [1, 1]}, SchemaError),
    ({"forecast": [1, 2], "actual": [1, 1], "area": [1, 0]}, SchemaError),
    ({"forecast": [1, 2], "actual": [1, 1], "previous": [1]}, SchemaError),
    ({"forecast": [1, 2], "actual": [1, 1], "coverages": (0.0,)}, ConfigError),
    ({"forecast": [1, 2], "actual": [1, 1], "coverages": (1.5,)}, ConfigError),
    ({"forecast": [], "actual": []}, SchemaError),
])
def test_errors_say_what_was_given_and_how_to_fix(kwargs, error):
    with pytest.raises(error) as raised:
        measure_accuracy(**kwargs)
    assert raised.value.given is not None and raised.value.fix
