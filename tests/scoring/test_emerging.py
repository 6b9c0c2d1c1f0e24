"""Emerging hot spot patterns: every class by hand, each resolved ambiguity, invariants, a slow reference."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from scipy.special import ndtr

from harmmap.errors import ConfigError
from harmmap.scoring.emerging import (EMERGING_CODES, EMERGING_NAMES, classify_emerging, codes_to_keys,
                                      codes_to_names, summarise_bins)

# Mann-Kendall results of the Gi* z series: (trend_z, trend_p).
UP, DOWN, FLAT = (3.0, 0.003), (-3.0, 0.003), (0.4, 0.69)


def bins(*rows: str) -> tuple[np.ndarray, np.ndarray]:
    """'H' = significant hot bin, 'C' = significant cold bin, '.' = neither; oldest period first."""
    grid = np.array([list(row) for row in rows])
    return grid == "H", grid == "C"


def classify(*cases: tuple[str, tuple[float, float]], alpha: float = 0.05) -> list[int]:
    hot, cold = bins(*(row for row, _ in cases))
    z = [trend[0] for _, trend in cases]
    p = [trend[1] for _, trend in cases]
    return classify_emerging(hot, cold, z, p, trend_alpha=alpha).tolist()


def mirror(row: str) -> str:
    return row.translate(str.maketrans("HC", "CH"))


# One hand-built 10-period location per class (90 % of 10 periods = 9 bins).
EVERY_CLASS = [
    (".........H", FLAT, 1, "New Hot Spot"),
    (".......HHH", FLAT, 2, "Consecutive Hot Spot"),
    (".HHHHHHHHH", UP, 3, "Intensifying Hot Spot"),
    ("HHHHHHHHHH", FLAT, 4, "Persistent Hot Spot"),
    ("HHHH.HHHHH", DOWN, 5, "Diminishing Hot Spot"),
    ("..H..H...H", FLAT, 6, "Sporadic Hot Spot"),
    ("..C.H...HH", FLAT, 7, "Oscillating Hot Spot"),
    ("HHHHHHHHH.", FLAT, 8, "Historical Hot Spot"),
    (".........C", FLAT, -1, "New Cold Spot"),
    (".......CCC", FLAT, -2, "Consecutive Cold Spot"),
    (".CCCCCCCCC", DOWN, -3, "Intensifying Cold Spot"),  # colder and colder: z falls
    ("CCCCCCCCCC", FLAT, -4, "Persistent Cold Spot"),
    ("CCCC.CCCCC", UP, -5, "Diminishing Cold Spot"),  # z rises towards 0
    ("..C..C...C", FLAT, -6, "Sporadic Cold Spot"),
    ("..H.C...CC", FLAT, -7, "Oscillating Cold Spot"),
    ("CCCCCCCCC.", FLAT, -8, "Historical Cold Spot"),
    ("..........", FLAT, 0, "No Pattern Detected"),
]


def test_every_class_by_hand():
    codes = classify(*((row, trend) for row, trend, _, _ in EVERY_CLASS))
    assert codes == [code for _, _, code, _ in EVERY_CLASS]
    assert codes_to_names(codes).tolist() == [name for _, _, _, name in EVERY_CLASS]
    assert sorted(codes) == list(range(-8, 9))


def test_names_and_keys():
    assert sorted(EMERGING_NAMES) == sorted(EMERGING_CODES) == list(range(-8, 9))
    assert EMERGING_NAMES[0] == "No Pattern Detected" and EMERGING_CODES[0] == "no_pattern"
    assert EMERGING_NAMES[7] == "Oscillating Hot Spot" and EMERGING_CODES[-2] == "consecutive_cold_spot"
    assert codes_to_keys(np.array([[1, -8], [0, 3]])).tolist() == [["new_hot_spot", "historical_cold_spot"],
                                                                  ["no_pattern", "intensifying_hot_spot"]]
    assert codes_to_names(np.array([], dtype=np.int8)).shape == (0,)


@pytest.mark.parametrize("codes", [[9], [-9], [1.0], ["1"]])
def test_bad_codes(codes):
    with pytest.raises(ConfigError, match="codes"):
        codes_to_names(codes)
    with pytest.raises(ConfigError, match="codes"):
        codes_to_keys(codes)


def test_final_step_decides_the_family():
    assert classify(
        ("CC.......H", FLAT),  # never hot before, earlier cold bins: New, not Oscillating
        ("CC.C...HHH", FLAT),  # Consecutive, not Oscillating
        ("HHHHHHHHHC", FLAT),  # hot 90 % of the time but cold at the end: a cold pattern, not Historical Hot
        ("HHHHHHHHH.", UP),    # Persistent needs the final step hot: this is Historical whatever the trend
        ("HHHHHHHHH.", DOWN),
        (".........H", UP),    # the trend matters only for the 90 % classes
        (".......HHH", DOWN),
    ) == [1, 2, -1, 8, 8, 1, 2]


def test_sporadic_needs_earlier_hot_with_a_gap():
    assert classify(
        (".....HHHHH", FLAT),  # a single final run: Consecutive, never Sporadic
        ("H....HHHHH", FLAT),  # hot before the final run, off in between: Sporadic
        ("H........H", FLAT),
        ("H.....C..H", FLAT),  # ... but with a cold bin it is Oscillating
    ) == [2, 6, 6, 7]


def test_consecutive_gives_way_to_the_ninety_percent_classes():
    assert classify((".HHHHHHHHH", FLAT), (".HHHHHHHHH", DOWN), ("..HHHHHHHH", FLAT)) == [4, 5, 2]


def test_ninety_percent_boundary_is_integer_exact():
    # 10 periods: 9 hot bins including the final one are exactly 90 % -> Persistent.
    # 9 hot but the final step not hot -> Historical; 8 hot (80 %) -> No Pattern.
    assert classify(("H.HHHHHHHH", FLAT), ("HHHHHHHHH.", FLAT), ("H.HHHHHHH.", FLAT)) == [4, 8, 0]
    # 36 periods need 33 hot bins: 32 (88.9 %) are not enough for Persistent (Sporadic) or Historical.
    row_32 = "H" * 16 + "...." + "H" * 16
    row_33 = "H" * 16 + "..." + "H" * 17
    assert classify((row_32, FLAT), (row_33, FLAT), (row_33, UP),
                    (row_33[:-1] + ".", FLAT), (row_32[:-1] + ".", FLAT)) == [6, 4, 3, 0, 0]
    assert (row_32.count("H"), row_33.count("H"), len(row_32), len(row_33)) == (32, 33, 36, 36)


def test_trend_significance_is_strict():
    at_alpha = (3.0, 0.05)
    assert classify(("HHHHHHHHHH", at_alpha)) == [4]
    assert classify(("HHHHHHHHHH", at_alpha), alpha=0.051) == [3]
    assert classify(("CCCCCCCCCC", (-3.0, 0.0499))) == [-3]


def test_hot_earlier_but_not_at_the_end_is_no_pattern():
    # R's sfdep calls this Sporadic (its Sporadic ignores the final step); ArcGIS and harmmap: No Pattern.
    assert classify(("HH.HH.....", FLAT), ("..CC.C....", FLAT)) == [0, 0]


def test_historical_does_not_look_at_the_final_z():
    # sfdep's Historical Hot needs a negative final Gi* z; ArcGIS only needs the final step not hot.
    # Here the final bin is not significant (its z may well be positive) and the Mann-Kendall z is > 0.
    assert classify(("HHHHHHHHH.", (1.2, 0.23)), ("CCCCCCCCC.", (-1.2, 0.23))) == [8, -8]


def test_short_series():
    assert classify(("H", FLAT), (".", FLAT), ("C", FLAT)) == [1, 0, -1]
    # 2 periods: 90 % means both bins; "H." is 50 % hot -> No Pattern.
    assert classify(("HH", FLAT), (".H", FLAT), ("H.", FLAT), ("CC", UP), ("HH", UP)) == [4, 1, 0, -5, 3]


def test_summarise_bins():
    hot, cold = bins("C.H.HH", "......", "HHHHHH", "H.CCCC", "HHH...")
    summary = summarise_bins(hot, cold)
    assert summary.hot_bins.tolist() == [3, 0, 6, 1, 3]
    assert summary.cold_bins.tolist() == [1, 0, 0, 4, 0]
    assert summary.final_state.tolist() == [1, 0, 1, -1, 0]
    assert summary.final_run.tolist() == [2, 0, 6, 4, 0]
    empty = summarise_bins(np.zeros((0, 4), bool), np.zeros((0, 4), bool))
    assert empty.hot_bins.shape == (0,)


def test_empty_input():
    assert classify_emerging(np.zeros((0, 5), bool), np.zeros((0, 5), bool), [], []).shape == (0,)


def test_bad_inputs():
    hot, cold = bins("..H", "H..")
    z, p = [1.0, 1.0], [0.5, 0.5]
    with pytest.raises(ConfigError, match="boolean"):
        classify_emerging(hot.astype(int), cold, z, p)
    with pytest.raises(ConfigError, match="same shape"):
        classify_emerging(hot, cold[:, :2], z, p)
    with pytest.raises(ConfigError, match="same shape"):
        classify_emerging(hot[0], cold[0], z[:1], p[:1])
    with pytest.raises(ConfigError, match="same shape"):
        classify_emerging(hot[:, :0], cold[:, :0], z, p)
    both = cold.copy()
    both[1, 1] = True
    hot[1, 1] = True
    with pytest.raises(ConfigError, match="location 1, period 1"):
        classify_emerging(hot, both, z, p)
    hot, cold = bins("..H", "H..")
    with pytest.raises(ConfigError, match="one value per location"):
        classify_emerging(hot, cold, z[:1], p)
    with pytest.raises(ConfigError, match="finite"):
        classify_emerging(hot, cold, [np.nan, 1.0], p)
    with pytest.raises(ConfigError, match="between 0 and 1"):
        classify_emerging(hot, cold, z, [0.5, 1.5])
    for alpha in (0.0, 1.0, True):
        with pytest.raises(ConfigError, match="trend_alpha"):
            classify_emerging(hot, cold, z, p, trend_alpha=alpha)


# --- invariants and a slow reference --------------------------------------------------------------

def reference_code(hot: np.ndarray, cold: np.ndarray, z: float, p: float, alpha: float) -> int:
    """One location, straight from the ArcGIS wording and the documented tie-breaks."""
    n = hot.size

    def ninety(flags):
        return 10 * int(flags.sum()) >= 9 * n

    def final_run(flags):
        length = 0
        while length < n and flags[n - 1 - length]:
            length += 1
        return length

    def on_off(flags):  # on, then off, at some earlier steps
        return any(flags[i] and not flags[j] for i in range(n) for j in range(i + 1, n))

    def hot_pattern(h, c, rising, falling):
        run = final_run(h)
        if not h[:-1].any():
            return 1
        if run >= 2 and not h[:n - run].any() and not ninety(h):
            return 2
        if ninety(h):
            return 3 if rising else 5 if falling else 4
        if on_off(h) and not c.any():
            return 6
        if c[:-1].any():
            return 7
        raise AssertionError("unclassified location ending hot")

    significant = p < alpha
    if hot[-1]:
        return hot_pattern(hot, cold, significant and z > 0, significant and z < 0)
    if cold[-1]:
        return -hot_pattern(cold, hot, significant and z < 0, significant and z > 0)
    return 8 if ninety(hot) else -8 if ninety(cold) else 0


def random_locations(seed: int, n_locations: int, n_periods: int):
    """Rows from several profiles (mostly hot, mostly cold, mixed, quiet), some with a planted final run."""
    rng = np.random.default_rng(seed)
    profiles = np.array([[0.97, 0.01], [0.01, 0.97], [0.3, 0.2], [0.1, 0.0], [0.0, 0.1], [0.05, 0.05]])
    chance = profiles[rng.integers(0, len(profiles), n_locations)]
    draw = rng.random((n_locations, n_periods))
    state = np.where(draw < chance[:, :1], 1, np.where(draw > 1 - chance[:, 1:], -1, 0))
    planted = rng.random(n_locations) < 0.3
    run = rng.integers(1, n_periods + 1, n_locations)
    sign = rng.choice([-1, 1], n_locations)
    tail = np.arange(n_periods) >= n_periods - run[:, None]
    state = np.where(planted[:, None] & tail, sign[:, None], state)
    z = rng.normal(0.0, 2.5, n_locations)
    return state == 1, state == -1, z, 2.0 * ndtr(-np.abs(z))


@pytest.mark.parametrize("n_periods", [1, 2, 5, 10, 12, 36])
def test_agrees_with_reference_on_random_locations(n_periods):
    hot, cold, z, p = random_locations(n_periods, 3000, n_periods)
    codes = classify_emerging(hot, cold, z, p)
    expected = [reference_code(hot[i], cold[i], z[i], p[i], 0.05) for i in range(hot.shape[0])]
    assert codes.tolist() == expected
    if n_periods >= 10:
        assert set(codes.tolist()) == set(range(-8, 9))  # the generator reaches every class


STATES = st.integers(1, 12).flatmap(lambda n: hnp.arrays(np.int8, st.tuples(st.integers(1, 15), st.just(n)),
                                                          elements=st.sampled_from([1, 1, 1, 0, -1, -1])))


def split(state: np.ndarray):
    return state == 1, state == -1


@settings(max_examples=150, deadline=None)
@given(STATES, st.data())
def test_matches_reference_on_hypothesis_inputs(state, data):
    n = state.shape[0]
    z = np.array(data.draw(st.lists(st.floats(-5, 5), min_size=n, max_size=n)))
    p = np.array(data.draw(st.lists(st.sampled_from([0.001, 0.04, 0.05, 0.2, 1.0]), min_size=n, max_size=n)))
    hot, cold = split(state)
    codes = classify_emerging(hot, cold, z, p)
    assert codes.tolist() == [reference_code(hot[i], cold[i], z[i], p[i], 0.05) for i in range(n)]


@settings(max_examples=150, deadline=None)
@given(STATES, st.data())
def test_mirror_symmetry(state, data):
    n = state.shape[0]
    z = np.array(data.draw(st.lists(st.floats(-5, 5), min_size=n, max_size=n)))
    p = np.array(data.draw(st.lists(st.floats(0, 1), min_size=n, max_size=n)))
    hot, cold = split(state)
    assert classify_emerging(cold, hot, -z, p).tolist() == (-classify_emerging(hot, cold, z, p)).tolist()


@settings(max_examples=100, deadline=None)
@given(STATES, st.randoms(use_true_random=False))
def test_row_order_is_irrelevant(state, random):
    order = np.array(random.sample(range(state.shape[0]), state.shape[0]))
    z = np.linspace(-4, 4, state.shape[0])
    p = 2.0 * ndtr(-np.abs(z))
    hot, cold = split(state)
    codes = classify_emerging(hot, cold, z, p)
    assert classify_emerging(hot[order], cold[order], z[order], p[order]).tolist() == codes[order].tolist()


def test_chunks_do_not_change_results(monkeypatch):
    import harmmap.scoring.emerging as emerging

    hot, cold, z, p = random_locations(5, 500, 12)
    whole = classify_emerging(hot, cold, z, p)
    monkeypatch.setattr(emerging, "EMERGING_CHUNK", 7)
    assert classify_emerging(hot, cold, z, p).tolist() == whole.tolist()
    assert summarise_bins(hot, cold).final_run.tolist() == emerging.summarise_bins(hot, cold).final_run.tolist()
