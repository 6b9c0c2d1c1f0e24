"""Patrol plans: feasible loops and schedules, dosage spacing, seeded randomisation, harm-first choice."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harmmap.errors import ConfigError, SchemaError
from harmmap.plan.patrol import PatrolSettings, _two_opt, plan_patrol, travel_minutes


def town(seed: int, n: int = 120, size: float = 8_000.0):
    rng = np.random.default_rng(seed)
    return rng.uniform(0, size, (n, 2)), rng.lognormal(2.0, 1.5, n)


def check_feasible(plan, s: PatrolSettings, xy: np.ndarray) -> None:
    minutes = travel_minutes(xy, s.speed_kmh, s.detour)
    assert (plan.teams["loop_minutes"] <= s.round_minutes + 1e-6).all()
    assert plan.stops["target"].is_unique
    for (shift, team, rnd), visits in plan.schedule.groupby(["shift", "team", "round"]):
        visits = visits.sort_values("stop")
        start = (rnd - 1) * s.round_minutes
        assert visits["arrive_minute"].iloc[0] >= start - 1e-9
        assert visits["leave_minute"].iloc[-1] <= start + s.round_minutes + 1e-6
        targets = visits["target"].to_numpy()
        legs = minutes[targets[:-1], targets[1:]]
        gaps = visits["arrive_minute"].to_numpy()[1:] - visits["leave_minute"].to_numpy()[:-1]
        assert np.all(gaps >= legs - 1e-6)  # time to travel between consecutive stops
        closing = minutes[targets[-1], targets[0]] if targets.size > 1 else 0.0
        assert visits["leave_minute"].iloc[-1] + closing <= start + s.round_minutes + 1e-6
        assert np.allclose(visits["leave_minute"] - visits["arrive_minute"], s.visit_minutes)
    visits_per_target = plan.schedule.groupby(["shift", "target"]).size()
    assert (visits_per_target == s.rounds).all()
    assert plan.schedule["leave_minute"].max() <= s.shift_minutes + 1e-6


def test_travel_model_is_distance_times_detour_over_speed():
    minutes = travel_minutes(np.array([[0.0, 0.0], [1000.0, 0.0]]), speed_kmh=6.0, detour=1.3)
    assert minutes[0, 1] == pytest.approx(13.0) and minutes[0, 0] == 0


@pytest.mark.parametrize("teams", [1, 3])
def test_fixed_plan_is_feasible_and_visits_are_exactly_a_round_apart(teams):
    xy, harm = town(1)
    s = PatrolSettings(teams=teams, shift_minutes=480, visit_minutes=15, revisit_minutes=120, speed_kmh=20)
    plan = plan_patrol(xy, harm, s)
    check_feasible(plan, s, xy)
    assert plan.rounds == 4 and set(plan.stops["visits_per_shift"]) == {4}
    spacing = plan.schedule.sort_values("arrive_minute").groupby("target")["arrive_minute"].diff().dropna()
    assert np.allclose(spacing, 120.0)
    assert plan.share == pytest.approx(harm[plan.stops["target"]].sum() / harm.sum())
    assert plan.stops.groupby("team").size().max() <= 8  # 8 x 15 min fill a 2 h round


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 10_000), st.integers(1, 4), st.sampled_from([60.0, 90.0, 120.0, 480.0]),
       st.sampled_from([10.0, 15.0]), st.sampled_from([4.8, 24.0]))
def test_randomised_plans_are_feasible_and_keep_visits_in_their_rounds(seed, teams, revisit, visit, speed):
    xy, harm = town(seed, n=60)
    s = PatrolSettings(teams=teams, shift_minutes=480, visit_minutes=visit, revisit_minutes=revisit,
                       speed_kmh=speed, randomise=True, shifts=2)
    plan = plan_patrol(xy, harm, s, seed=seed)
    check_feasible(plan, s, xy)
    spare = plan.teams.set_index("team")["spare_minutes"]
    for (shift, target), visits in plan.schedule.groupby(["shift", "target"]):
        gaps = np.diff(np.sort(visits["arrive_minute"].to_numpy()))
        slack = spare[visits["team"].iloc[0]]
        assert np.all(gaps >= s.round_minutes - slack - 1e-6) and np.all(gaps <= s.round_minutes + slack + 1e-6)


def test_randomisation_is_seeded():
    xy, harm = town(2)
    s = PatrolSettings(teams=2, randomise=True, shifts=3)
    first, again = plan_patrol(xy, harm, s, seed=5), plan_patrol(xy, harm, s, seed=5)
    other = plan_patrol(xy, harm, s, seed=6)
    pd.testing.assert_frame_equal(first.schedule, again.schedule)
    assert not np.allclose(first.schedule["arrive_minute"], other.schedule["arrive_minute"])
    shifts = first.schedule.groupby("shift")["arrive_minute"].apply(lambda v: v.to_numpy())
    assert not np.allclose(shifts[1], shifts[2])  # each shift is drawn afresh
    pd.testing.assert_frame_equal(first.stops, other.stops)  # the stops do not depend on the seed


def test_co_located_targets_are_chosen_by_harm():
    xy = np.zeros((6, 2))
    harm = np.array([1.0, 9.0, 3.0, 7.0, 0.0, 5.0])
    s = PatrolSettings(teams=1, shift_minutes=120, visit_minutes=15, revisit_minutes=60)
    plan = plan_patrol(xy, harm, s)
    assert sorted(plan.stops["target"]) == [1, 2, 3, 5]  # four 15-min visits fill a 60-min round
    assert plan.rounds == 2 and plan.harm_covered == 24.0 and plan.harm_total == 25.0


def test_a_far_target_is_left_out_when_travel_does_not_fit():
    xy = np.array([[0.0, 0.0], [100.0, 0.0], [50_000.0, 0.0]])
    plan = plan_patrol(xy, np.array([5.0, 4.0, 3.0]), PatrolSettings(teams=1, speed_kmh=24, revisit_minutes=120))
    assert sorted(plan.stops["target"]) == [0, 1]


def test_two_opt_untangles_a_crossed_loop():
    square = np.array([[0.0, 0.0], [1000.0, 0.0], [1000.0, 1000.0], [0.0, 1000.0], [500.0, -10.0]])
    minutes = travel_minutes(square, 6.0, 1.0)
    loop = _two_opt([0, 2, 1, 3, 4], minutes)
    length = minutes[loop, np.roll(loop, -1)].sum()
    assert length == pytest.approx(minutes[[0, 4, 1, 2, 3], [4, 1, 2, 3, 0]].sum())


def test_candidates_limit_the_targets_considered():
    xy, harm = town(3)
    plan = plan_patrol(xy, harm, PatrolSettings(teams=3, candidates=5))
    assert set(plan.stops["target"]) <= set(np.argsort(-harm)[:5])


def test_bad_settings_and_inputs_are_explained():
    xy, harm = town(4, n=5)
    with pytest.raises(ConfigError):
        plan_patrol(xy, harm, PatrolSettings(visit_minutes=200, revisit_minutes=120))
    with pytest.raises(ConfigError):
        plan_patrol(xy, harm, PatrolSettings(teams=0))
    with pytest.raises(SchemaError):
        plan_patrol(xy[:3], harm)
    with pytest.raises(SchemaError):
        plan_patrol(xy, -harm)


def test_no_harm_gives_an_empty_plan():
    plan = plan_patrol(np.zeros((3, 2)), np.zeros(3))
    assert plan.stops.empty and plan.schedule.empty and plan.share == 0.0
