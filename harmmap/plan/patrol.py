"""Patrol plans: which hot spots each team visits, in what order, when, and how often.

For planners
------------
Short visits, repeated through the shift, work best.  Koper (1995, "Just
enough police presence: reducing crime and disorderly behavior by optimizing
patrol time in crime hot spots", *Justice Quarterly* 12(4), 649-672) found
that the longer police stayed at a hot spot, the longer crime and disorder
stayed away after they left, up to about 10-15 minutes (the "Koper curve");
the Sacramento hot spots experiment put it into practice with visits of about
15 minutes, in random order, roughly every two hours (Telep, Mitchell &
Weisburd 2014, "How much time should the police spend at crime hot spots?",
*Justice Quarterly* 31(5), 905-933).  harmmap builds a plan the same way:

1. **Targets.**  The ``candidates`` places or cells with the most forecast
   harm (the rest are never visited).
2. **Travel model.**  Minutes between two targets = straight-line British
   National Grid distance x ``detour`` (roads are longer than the crow flies;
   1.3 by default) / ``speed_kmh`` (24 km/h by car in town by default; about
   4.8 on foot).  No road network: treat the times as planning estimates.
3. **Dosage.**  The shift is cut into rounds of ``revisit_minutes`` (120 by
   default).  In every round each team walks or drives a closed loop through
   its stops and spends ``visit_minutes`` (15) at each, so every stop gets
   ``floor(shift / revisit)`` visits spaced about ``revisit_minutes`` apart.
   Minutes left after the last full round are free patrol.
4. **Choosing stops and routes** (a heuristic for the *team orienteering
   problem*: Chao, Golden & Wasil 1996, *European Journal of Operational
   Research* 88, 464-474).  Start with empty loops; repeatedly insert the
   (target, team, position) that adds the most forecast harm per added
   minute (visit plus extra travel) while the team's loop still fits in a
   round; then shorten every loop with 2-opt (Croes 1958, *Operations
   Research* 6, 791-812: reverse a stretch of the loop whenever that makes it
   shorter) and insert again, until nothing more fits.  Not guaranteed
   optimal.
5. **Schedule.**  Arrival and departure minutes of every visit, from the
   start of the shift (each team starts at its first stop; travel from the
   station is outside the plan).  With ``randomise=True`` every shift starts
   each loop at a random stop and direction and scatters the round's spare
   minutes at random between visits (seeded: the same seed gives the same
   plan), so visit times are hard to predict while every stop is still
   visited once per round; without it the spare minutes come at the end of
   each round and visits are exactly ``revisit_minutes`` apart.

The **expected share of harm covered** is the forecast harm of the planned
stops over the forecast harm of all targets given: it assumes a stop visited
at the planned dosage is covered, and says nothing of displacement or of how
much harm a visit prevents.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.spatial.distance import cdist

from harmmap.errors import ConfigError, SchemaError
from harmmap.plan.coverage import DETOUR

#: Speeds (km/h) the CLI offers by name.
SPEEDS = {"vehicle": 24.0, "foot": 4.8, "cycle": 12.0}


@dataclass(frozen=True, slots=True)
class PatrolSettings:
    """How much patrol there is and how it is spent.

    Attributes
    ----------
    teams : int
        Teams (or single officers) on patrol at the same time.
    shift_minutes : float
        Patrol minutes in a shift.
    visit_minutes : float
        Minutes spent at a stop per visit (the Koper curve's 10-15).
    revisit_minutes : float
        Length of a round: each stop is visited once per round.
    speed_kmh, detour : float
        Travel model (see the module docstring).
    candidates : int
        Targets with the most harm considered for the plan.
    shifts : int
        Shifts to schedule (each re-randomised when ``randomise``).
    randomise : bool
        Random loop start, direction and spare-time placement per shift.
    """

    teams: int = 2
    shift_minutes: float = 480.0
    visit_minutes: float = 15.0
    revisit_minutes: float = 120.0
    speed_kmh: float = SPEEDS["vehicle"]
    detour: float = DETOUR
    candidates: int = 200
    shifts: int = 1
    randomise: bool = False

    @property
    def rounds(self) -> int:
        """Visits per stop per shift."""
        return max(1, int(self.shift_minutes // self.revisit_minutes))

    @property
    def round_minutes(self) -> float:
        """Minutes a loop (travel plus visits) must fit in."""
        return float(min(self.revisit_minutes, self.shift_minutes))


@dataclass(frozen=True, slots=True)
class PatrolPlan:
    """A patrol plan (``target`` columns index the targets given to :func:`plan_patrol`).

    Attributes
    ----------
    stops : pandas.DataFrame
        One row per planned stop: ``target``, ``team``, ``order`` (in the
        team's loop), ``harm``, ``visits_per_shift``, ``minutes_per_shift``.
    schedule : pandas.DataFrame
        One row per visit: ``shift``, ``team``, ``round``, ``stop`` (1 = first
        of the round), ``target``, ``travel_minutes`` (from the previous
        stop), ``arrive_minute``, ``leave_minute`` (from the shift start).
    teams : pandas.DataFrame
        Per team: ``stops``, ``loop_minutes`` (travel + visits of one round),
        ``travel_minutes``, ``visit_minutes``, ``spare_minutes`` (per round), ``harm``.
    harm_covered, harm_total, share : float
        Forecast harm of the stops, of all targets, and their ratio.
    rounds : int
        Visits per stop per shift.
    settings : PatrolSettings
    seconds : float
    """

    stops: pd.DataFrame
    schedule: pd.DataFrame
    teams: pd.DataFrame
    harm_covered: float
    harm_total: float
    share: float
    rounds: int
    settings: PatrolSettings
    seconds: float


def _check_settings(s: PatrolSettings) -> None:
    numbers = (s.shift_minutes, s.visit_minutes, s.revisit_minutes, s.speed_kmh, s.detour)
    if not (all(math.isfinite(v) for v in numbers) and s.teams >= 1 and s.candidates >= 1 and s.shifts >= 1
            and s.visit_minutes > 0 and s.speed_kmh > 0 and s.detour >= 1
            and s.visit_minutes <= min(s.shift_minutes, s.revisit_minutes)):
        raise ConfigError("patrol settings out of range", given=s,
                          fix="teams, candidates and shifts >= 1; speed > 0; detour >= 1; "
                              "a visit no longer than the shift and the revisit interval")


def travel_minutes(xy: np.ndarray, speed_kmh: float, detour: float = DETOUR) -> np.ndarray:
    """Minutes between every pair of points: BNG distance x ``detour`` / speed (a dense n x n matrix)."""
    return cdist(xy, xy) * detour / (speed_kmh * 1000.0 / 60.0)


def _insertion(loop: list[int], cands: np.ndarray, minutes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Cheapest extra travel of putting each candidate into ``loop``, and the position (insert before it)."""
    if not loop:
        return np.zeros(cands.size), np.zeros(cands.size, dtype=np.int64)
    a = np.asarray(loop)
    b = np.roll(a, -1)
    extra = minutes[a][:, cands] + minutes[cands][:, b].T - minutes[a, b][:, None]
    best = np.argmin(extra, axis=0)
    return extra[best, np.arange(cands.size)], best + 1


def _loop_minutes(loop: list[int], minutes: np.ndarray) -> float:
    a = np.asarray(loop)
    return float(minutes[a, np.roll(a, -1)].sum()) if a.size > 1 else 0.0


def _two_opt(loop: list[int], minutes: np.ndarray) -> list[int]:
    """Reverse stretches of the loop while that shortens it (best improvement first)."""
    route = np.asarray(loop)
    while route.size > 3:
        a, b = route, np.roll(route, -1)
        delta = minutes[a[:, None], a[None, :]] + minutes[b[:, None], b[None, :]] - minutes[a, b][:, None] \
            - minutes[a, b][None, :]
        delta = np.triu(delta, 2)
        delta[0, -1] = 0.0
        i, j = np.unravel_index(np.argmin(delta), delta.shape)
        if delta[i, j] >= -1e-9:
            break
        route = np.concatenate([route[:i + 1], route[i + 1:j + 1][::-1], route[j + 1:]])
    return route.tolist()


def _insert_stops(loops: list[list[int]], used: np.ndarray, harm: np.ndarray, minutes: np.ndarray,
                  s: PatrolSettings) -> bool:
    """Greedy insertion by harm per added minute until nothing fits; True if anything was added."""
    added = False
    length = np.array([_loop_minutes(loop, minutes) + s.visit_minutes * len(loop) for loop in loops])
    while True:
        cands = np.flatnonzero(~used & (harm > 0))
        best = None
        for team, loop in enumerate(loops):
            if not cands.size:
                break
            extra, position = _insertion(loop, cands, minutes)
            cost = extra + s.visit_minutes
            fits = length[team] + cost <= s.round_minutes + 1e-9
            if fits.any():
                ratio = np.where(fits, harm[cands] / cost, -np.inf)
                i = int(np.argmax(ratio))
                if best is None or ratio[i] > best[0]:
                    best = (ratio[i], team, int(cands[i]), int(position[i]), float(cost[i]))
        if best is None:
            return added
        _, team, target, position, cost = best
        loops[team].insert(position, target)
        used[target], length[team], added = True, length[team] + cost, True


def _choose_loops(harm: np.ndarray, minutes: np.ndarray, s: PatrolSettings) -> list[list[int]]:
    loops: list[list[int]] = [[] for _ in range(s.teams)]
    used = np.zeros(harm.size, dtype=bool)
    while _insert_stops(loops, used, harm, minutes, s):
        loops = [_two_opt(loop, minutes) for loop in loops]
    return loops


def _team_rows(team: int, loop: list[int], minutes: np.ndarray, s: PatrolSettings, shift: int,
               rng: np.random.Generator | None) -> list[dict]:
    """Visits of one team in one shift; ``travel_minutes`` of a round's first stop is the loop's closing leg."""
    route = np.asarray(loop, dtype=np.int64)
    if rng is not None and route.size > 1:
        route = np.roll(route, -int(rng.integers(route.size)))
        route = route[::-1] if rng.random() < 0.5 else route
    legs = minutes[route, np.roll(route, -1)] if route.size > 1 else np.zeros(route.size)
    spare = s.round_minutes - float(legs.sum()) - s.visit_minutes * route.size
    rows = []
    for r in range(s.rounds):
        idle = rng.dirichlet(np.ones(route.size + 1)) * spare if rng is not None else np.zeros(route.size + 1)
        clock = r * s.round_minutes
        for k, target in enumerate(route):
            travel = float(legs[k - 1]) if (k or r) and route.size > 1 else 0.0
            clock += idle[k] + (travel if k else 0.0)
            rows.append({"shift": shift, "team": team, "round": r + 1, "stop": k + 1, "target": int(target),
                         "travel_minutes": travel, "arrive_minute": clock, "leave_minute": clock + s.visit_minutes})
            clock += s.visit_minutes
    return rows


def plan_patrol(xy: object, harm: object, settings: PatrolSettings = PatrolSettings(), *,
                seed: int = 0) -> PatrolPlan:
    """Plan patrols over targets (places or cells) to cover the most forecast harm.

    Parameters
    ----------
    xy : array_like, shape (n, 2)
        Easting and northing (BNG metres) of each target.
    harm : array_like, shape (n,)
        Forecast harm of each target (>= 0).
    settings : PatrolSettings
    seed : int
        Seed of the randomised visit times (used only with ``settings.randomise``).

    Returns
    -------
    PatrolPlan
    """
    clock = time.perf_counter()
    _check_settings(settings)
    points = np.asarray(xy, dtype=np.float64)
    values = np.asarray(harm, dtype=np.float64)
    if points.ndim != 2 or points.shape != (values.size, 2) or not np.isfinite(points).all() \
            or not np.isfinite(values).all() or (values < 0).any():
        raise SchemaError("targets need finite coordinates (n, 2) and one harm >= 0 each",
                          given=f"xy {points.shape}, harm {values.shape}", fix="drop targets without coordinates")
    keep = np.argsort(-values, kind="stable")[:settings.candidates]
    minutes = travel_minutes(points[keep], settings.speed_kmh, settings.detour)
    loops = _choose_loops(values[keep], minutes, settings)
    rng = np.random.default_rng(seed) if settings.randomise else None
    rows = [row for shift in range(1, settings.shifts + 1) for team, loop in enumerate(loops, start=1)
            for row in _team_rows(team, loop, minutes, settings, shift, rng)]
    return _assemble(loops, keep, minutes, values, rows, settings, clock)


def _assemble(loops, keep, minutes, values, rows, s: PatrolSettings, clock: float) -> PatrolPlan:
    """Tables of the plan, with ``target`` mapped from candidate positions back to the caller's indices."""
    stops = pd.DataFrame([{"target": int(keep[t]), "team": team, "order": k + 1, "harm": values[keep[t]],
                           "visits_per_shift": s.rounds, "minutes_per_shift": s.rounds * s.visit_minutes}
                          for team, loop in enumerate(loops, start=1) for k, t in enumerate(loop)],
                         columns=["target", "team", "order", "harm", "visits_per_shift", "minutes_per_shift"])
    teams = pd.DataFrame([{"team": team, "stops": len(loop), "travel_minutes": _loop_minutes(loop, minutes),
                           "visit_minutes": s.visit_minutes * len(loop), "harm": float(values[keep[loop]].sum())}
                          for team, loop in enumerate(loops, start=1)])
    teams["loop_minutes"] = teams["travel_minutes"] + teams["visit_minutes"]
    teams["spare_minutes"] = s.round_minutes - teams["loop_minutes"]
    columns = ["shift", "team", "round", "stop", "target", "travel_minutes", "arrive_minute", "leave_minute"]
    rows = pd.DataFrame(rows, columns=columns)
    rows["target"] = keep[rows["target"].to_numpy(np.int64)] if len(rows) else rows["target"]
    covered, total = float(stops["harm"].sum()), float(values.sum())
    return PatrolPlan(stops, rows, teams[["team", "stops", "loop_minutes", "travel_minutes", "visit_minutes",
                                          "spare_minutes", "harm"]], covered, total,
                      covered / total if total > 0 else 0.0, s.rounds, s, time.perf_counter() - clock)
