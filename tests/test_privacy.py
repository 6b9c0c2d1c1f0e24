"""Small-count suppression: hand-checked examples, invariants, differencing."""

from __future__ import annotations

import dataclasses
import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harmmap.errors import ConfigError
from harmmap.privacy import (
    MIN_CANDIDATES,
    describe_suppression,
    suppress_counts,
    suppress_total,
    suppress_values_by_count,
)


def test_hand_checked_examples():
    result = suppress_counts([0, 1, 3, 9, 10, 12, 13, 12.5, 1234, 1237.5])
    assert result.display.tolist() == ["0", "<10", "<10", "<10", "10", "10", "15", "15", "1,235", "1,240"]
    np.testing.assert_array_equal(result.shown, [0, np.nan, np.nan, np.nan, 10, 10, 15, 15, 1235, 1240])
    assert result.hidden.tolist() == [False, True, True, True] + [False] * 6


def test_hide_zero_hides_zeros_with_the_small_counts():
    result = suppress_counts([0, 4, 20], hide_zero=True)
    assert result.display.tolist() == ["<10", "<10", "20"]
    assert result.hidden.tolist() == [True, True, False]


def test_other_settings_and_shape_are_kept():
    result = suppress_counts(np.array([[2, 7], [8, 11]]), threshold=3, base=2)
    assert result.display.tolist() == [["<3", "8"], ["8", "12"]]
    assert result.shown.shape == (2, 2)


def test_results_are_read_only_and_frozen():
    result = suppress_counts([1, 20])
    with pytest.raises(ValueError):
        result.shown[0] = 1.0
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.threshold = 1


@pytest.mark.parametrize(
    ("threshold", "base"), [(0, 5), (10, 0), (-1, 5), (10.5, 5), (True, 5), (11, 5), (3, 10)]
)
def test_bad_settings_are_config_errors(threshold, base):
    with pytest.raises(ConfigError, match="fix:"):
        suppress_counts([1, 2], threshold=threshold, base=base)


@pytest.mark.parametrize("counts", [[-1, 3], [np.nan], [np.inf], ["x"]])
def test_bad_counts_are_config_errors(counts):
    with pytest.raises(ConfigError):
        suppress_counts(counts)


def test_values_are_hidden_where_their_count_is():
    values = suppress_values_by_count([12.345, 7.0, np.nan, 1234.5, 0.0], [20, 3, 40, 15, 0])
    assert values.display.tolist() == ["12.3", "[c]", "[x]", "1,234.5", "0.0"]
    assert values.hidden.tolist() == [False, True, False, False, False]
    assert np.isnan(values.shown[[1, 2]]).all()
    assert suppress_values_by_count([5.0], [0], hide_zero=True).display.tolist() == ["[c]"]


def test_values_and_counts_must_match():
    with pytest.raises(ConfigError, match="same shape"):
        suppress_values_by_count([1.0, 2.0], [10])
    with pytest.raises(ConfigError, match="decimals"):
        suppress_values_by_count([1.0], [10], decimals=-1)


def test_total_is_rounded_from_the_true_total_not_summed_from_rounded_rows():
    rows = np.array([12, 12, 12, 3])
    shown_rows = suppress_counts(rows).shown
    total = suppress_total(rows.sum())
    assert total.display.item() == "40"  # true 39
    assert np.nansum(shown_rows) == 30  # 10 + 10 + 10 + hidden
    assert suppress_total(7).display.item() == "<10"


def test_description_names_the_rule():
    text = describe_suppression(10, 5)
    assert "1 to 9" in text and "nearest 5" in text and "[c]" in text


@st.composite
def valid_settings(draw):
    base = draw(st.integers(1, 20))
    threshold = draw(st.integers(1, 60))
    rounded = (2 * threshold + base) // (2 * base) * base
    threshold = threshold if rounded >= threshold else rounded + base  # a threshold that survives rounding
    return threshold, base


counts_lists = st.lists(st.integers(0, 100_000), min_size=1, max_size=60)


@settings(max_examples=200, deadline=None)
@given(counts=counts_lists, setting=valid_settings())
def test_published_counts_obey_the_rule(counts, setting):
    threshold, base = setting
    true = np.array(counts, dtype=float)
    result = suppress_counts(true, threshold=threshold, base=base)
    shown = result.shown[~result.hidden]
    assert not ((shown >= 1) & (shown <= threshold - 1)).any()  # nothing in 1..threshold-1
    assert (shown % base == 0).all()
    assert (np.abs(shown - true[~result.hidden]) <= base / 2).all()
    np.testing.assert_array_equal(result.hidden, (true >= 1) & (true < threshold))
    assert (result.display[result.hidden] == f"<{threshold}").all()


@settings(max_examples=100, deadline=None)
@given(counts=counts_lists)
def test_default_rule_never_prints_one_to_nine(counts):
    display = suppress_counts(counts).display
    assert not set(display.tolist()) & {str(n) for n in range(1, 10)}


@settings(max_examples=100, deadline=None)
@given(counts=counts_lists, setting=valid_settings())
def test_published_counts_are_monotone(counts, setting):
    threshold, base = setting
    true = np.sort(np.array(counts, dtype=float))
    result = suppress_counts(true, threshold=threshold, base=base)
    shown = result.shown[~result.hidden]
    assert (np.diff(shown) >= 0).all()


def test_rounding_alone_lets_two_hidden_rows_be_subtracted():
    """Why ``parts=`` exists: rows "<10", "<10" under a total of "20" can only be 9 and 9."""
    rows = suppress_counts([9, 9]).display.tolist()
    assert rows == ["<10", "<10"] and suppress_total(18).display.item() == "20"
    checked = suppress_total(18, parts=[9, 9])
    assert checked.display.item() in {"[c]", "20"} and (checked.hidden.item() or checked.base > 5)


def test_total_checked_against_parts_validates_them():
    with pytest.raises(ConfigError, match="sum"):
        suppress_total(30, parts=[10, 10])
    with pytest.raises(ConfigError, match="sum"):
        suppress_total(np.array([20, 20]), parts=[10, 10])
    plain = suppress_total(60, parts=[20, 20, 20])
    assert plain.display.item() == "60" and plain.base == 5


def test_coarser_total_bases_keep_the_threshold():
    # threshold 8 survives base 5 and 10 but not 20 (8 would round to 0): that base is skipped
    result = suppress_total(18, parts=[9, 9], threshold=8, base=5)
    assert result.hidden.item() or result.base in (5, 10)


@settings(max_examples=100, deadline=None)
@given(counts=counts_lists, values=st.lists(st.floats(-1e6, 1e6), min_size=60, max_size=60))
def test_values_are_hidden_exactly_where_counts_are(counts, values):
    derived = suppress_values_by_count(values[: len(counts)], counts)
    np.testing.assert_array_equal(derived.hidden, suppress_counts(counts).hidden)
    assert (derived.display[derived.hidden] == "[c]").all()
    assert np.isnan(derived.shown[derived.hidden]).all()


@settings(max_examples=150, deadline=None)
@given(parts=st.lists(st.integers(0, 400), min_size=1, max_size=30), seed=st.integers(0, 2**32 - 1))
def test_how_a_total_is_published_depends_only_on_the_published_rows(parts, seed):
    rng = np.random.default_rng(seed)
    parts = np.array(parts)
    published = suppress_counts(parts).display
    # another table a reader cannot tell apart: each row moved within what its published text allows
    candidates = np.arange(0, 420)
    text_of = suppress_counts(candidates).display
    twin = np.array([rng.choice(candidates[text_of == text]) for text in published])
    first, second = suppress_total(parts.sum(), parts=parts), suppress_total(twin.sum(), parts=twin)
    assert (first.base, first.display.item() == "[c]") == (second.base, second.display.item() == "[c]")
    if not first.hidden.item():
        assert abs(first.shown.item() - parts.sum()) <= first.base / 2 and first.base in (5, 10, 20)


def _attacker_views(n_parts: int, largest: int, hide_zero: bool):
    """Every table of ``n_parts`` counts 0..largest, grouped by what a reader sees."""
    row_text = suppress_counts(np.arange(largest + 1), hide_zero=hide_zero).display
    views, decisions = {}, {}
    for combo in itertools.product(range(largest + 1), repeat=n_parts):
        rows = tuple(row_text[c] for c in combo)
        total = suppress_total(sum(combo), parts=combo, hide_zero=hide_zero)
        decisions.setdefault(rows, set()).add((total.base, total.hidden.item() and total.display.item() == "[c]"))
        seen = views.setdefault((rows, total.display.item()), [set() for _ in combo])
        for values, c in zip(seen, combo):
            values.add(c)
    return views, decisions


@pytest.mark.parametrize(("n_parts", "largest", "hide_zero"), [(2, 60, False), (2, 40, True), (3, 20, False)])
def test_no_published_total_narrows_a_hidden_row_below_three_values(n_parts, largest, hide_zero):
    """Exhaustive attack: for every small table, the rows and total as published leave each
    hidden row at least MIN_CANDIDATES possible values, and how the total is published
    depends only on the published rows."""
    views, decisions = _attacker_views(n_parts, largest, hide_zero)
    assert all(len(choices) == 1 for choices in decisions.values())
    complete = {"<10", "0", "[c]"} | {str(v) for v in range(0, largest - 2)}  # ranges not cut by `largest`
    narrowest = min(
        len(values)
        for (rows, total), seen in views.items()
        if set(rows) <= complete and (total in complete and (total in {"<10", "0", "[c]"} or int(total) <= largest))
        for text, values in zip(rows, seen) if text == "<10"
    )
    assert narrowest >= MIN_CANDIDATES
