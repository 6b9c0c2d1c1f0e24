"""Seeded space-time cubes with planted emerging-hotspot patterns, for testing the classification.

The street-level simulator (:mod:`harmmap.simulate.generate`) plants five hot
patterns in realistic town centres.  This module plants *every* one of the 16
ArcGIS patterns, hot and cold, on a zero-filled H3 grid with a flat Poisson
background, so the ground truth is exact:

* a **hot** plant raises its centre cell by ``HOT_EXTRA`` incidents in its "on"
  periods (its neighbourhood is then far above the cube's mean);
* a **cold** plant lowers the centre cell and its first ring to
  ``COLD_RATE`` in its "on" periods (the whole neighbourhood is far below it);
* the schedule of "on" periods realises the class definition (see
  :func:`build_schedule`): e.g. *new* = on in the final period only,
  *historical* = on in every period but the last two, *intensifying* = on
  throughout with an effect that grows from a third to the full size.

Plants are at least ``SPACING`` rings apart so their neighbourhoods do not
overlap.
"""

from __future__ import annotations

from dataclasses import dataclass

import h3
import numpy as np

from harmmap.geo.grid import cells_to_neighbours

CLASS_PATTERNS: tuple[str, ...] = ("new", "consecutive", "intensifying", "persistent", "diminishing", "sporadic",
                                   "oscillating", "historical")
BACKGROUND_RATE = 10.0
HOT_EXTRA = 100.0
COLD_RATE = 0.0
SPACING = 5
RAMP_START = 0.6


@dataclass(frozen=True, slots=True)
class PlantedCube:
    """A simulated cube and its truth.

    Attributes
    ----------
    cells : numpy.ndarray of uint64
        Sorted grid cells.
    counts : numpy.ndarray of float, shape (cells, periods)
    planted_index : numpy.ndarray of int
        Grid index of each planted centre cell.
    planted_class : numpy.ndarray of str
        Its class key, e.g. ``"sporadic_hot_spot"``.
    """

    cells: np.ndarray
    counts: np.ndarray
    planted_index: np.ndarray
    planted_class: np.ndarray


def build_schedule(pattern: str, periods: int, rng: np.random.Generator) -> np.ndarray:
    """Return the effect size (0..1) of a plant in each period (0 = off)."""
    on = np.zeros(periods)
    if pattern == "new":
        on[-1] = 1.0
    elif pattern == "consecutive":
        on[-4:] = 1.0
    elif pattern == "persistent":
        on[:] = 1.0
    elif pattern == "intensifying":
        on[:] = np.linspace(RAMP_START, 1.0, periods)
    elif pattern == "diminishing":
        on[:] = np.linspace(1.0, RAMP_START, periods)
    elif pattern == "historical":
        on[:-2] = 1.0
    elif pattern in ("sporadic", "oscillating"):
        middle = rng.permutation(np.arange(1, periods - 2))[: max(2, int(0.35 * periods))]
        on[middle] = 1.0
        on[-1] = 1.0
        on[-2] = 0.0
    else:
        raise ValueError(f"unknown pattern {pattern!r}; known: {', '.join(CLASS_PATTERNS)}")
    return on


def _opposite_periods(on: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """For an oscillating plant: a few early "off" periods where the opposite effect is planted."""
    off = np.flatnonzero(on[: on.size // 2] == 0)
    return rng.permutation(off)[: max(1, off.size // 2)]


def _centres(cells: np.ndarray, count: int, rng: np.random.Generator) -> np.ndarray:
    """Pick ``count`` grid indices at least SPACING rings apart and away from the grid's edge."""
    neighbours = cells_to_neighbours(cells, 1)
    interior = np.flatnonzero(np.diff(neighbours.indptr) == 6)
    chosen: list[int] = []
    for index in rng.permutation(interior):
        cell = h3.int_to_str(int(cells[index]))
        if all(h3.grid_distance(cell, h3.int_to_str(int(cells[c]))) >= SPACING for c in chosen):
            chosen.append(int(index))
            if len(chosen) == count:
                return np.array(chosen)
    raise ValueError(f"the grid has room for only {len(chosen)} plants, not {count}: use a larger grid")


def _apply(rate: np.ndarray, centre: int, ring: np.ndarray, effect: np.ndarray, hot: bool) -> None:
    if hot:
        rate[centre] += HOT_EXTRA * effect
    else:
        members = np.concatenate([[centre], ring])
        rate[members] = rate[members] - (rate[members] - COLD_RATE) * effect[None, :]


def simulate_planted_cube(cells: np.ndarray, periods: int, *, plants_per_class: int, seed: int) -> PlantedCube:
    """Simulate a Poisson cube on ``cells`` with ``plants_per_class`` plants of each of the 16 classes."""
    rng = np.random.default_rng(seed)
    cells = np.sort(np.asarray(cells, dtype=np.uint64))
    neighbours = cells_to_neighbours(cells, 1)
    classes = [(p, hot) for hot in (True, False) for p in CLASS_PATTERNS]
    centres = _centres(cells, plants_per_class * len(classes), rng)
    rate = np.full((cells.size, periods), BACKGROUND_RATE)
    labels = []
    for number, centre in enumerate(centres):
        pattern, hot = classes[number % len(classes)]
        ring = neighbours.indices[neighbours.indptr[centre]:neighbours.indptr[centre + 1]]
        on = build_schedule(pattern, periods, rng)
        _apply(rate, centre, ring, on, hot)
        if pattern == "oscillating":
            opposite = np.zeros(periods)
            opposite[_opposite_periods(on, rng)] = 1.0
            _apply(rate, centre, ring, opposite, not hot)
        labels.append(f"{pattern}_{'hot' if hot else 'cold'}_spot")
    return PlantedCube(cells, rng.poisson(rate).astype(np.float64), centres, np.array(labels))
