"""Emerging Hot Spot Analysis recovers every planted class of the simulated cube (all 16 + no pattern).

Run with ``pytest -s`` to see the confusion matrices.
"""

from __future__ import annotations

import h3
import numpy as np
import pandas as pd
import pytest

from harmmap.geo.grid import cells_to_neighbours
from harmmap.scoring.cube import space_time_gi_star
from harmmap.scoring.emerging import EMERGING_CODES, classify_emerging, codes_to_keys
from harmmap.scoring.trend import mann_kendall
from harmmap.simulate.cube import CLASS_PATTERNS, SPACING, build_schedule, simulate_planted_cube

CENTRE = h3.latlng_to_cell(52.6369, -1.1398, 9)


@pytest.fixture(scope="module")
def grid() -> np.ndarray:
    return np.sort(np.array([h3.str_to_int(c) for c in h3.grid_disk(CENTRE, 120)], dtype=np.uint64))


def _classify(counts: np.ndarray, cells: np.ndarray) -> np.ndarray:
    gi = space_time_gi_star(counts, cells_to_neighbours(cells, 1), fdr=True, alpha=0.05)
    trend = mann_kendall(gi.gi_z, alpha=0.05)
    return codes_to_keys(classify_emerging(gi.hot, gi.cold, trend.z, trend.p, trend_alpha=0.05))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_at_least_90_percent_of_planted_cells_get_their_class(grid, seed):
    sim = simulate_planted_cube(grid, 36, plants_per_class=6, seed=seed)
    keys = _classify(sim.counts, sim.cells)
    got = keys[sim.planted_index]
    matrix = pd.crosstab(pd.Series(sim.planted_class, name="planted"), pd.Series(got, name="classified"))
    print(f"\nseed {seed}: {np.mean(got == sim.planted_class):.1%} of {got.size} planted cells\n{matrix.to_string()}")
    assert set(sim.planted_class) == set(EMERGING_CODES.values()) - {"no_pattern"}
    assert np.mean(got == sim.planted_class) >= 0.9
    # Far from every plant the background is flat: nearly every cell there has no pattern.
    far = np.ones(grid.size, dtype=bool)
    for index in sim.planted_index:
        for cell in h3.grid_disk(h3.int_to_str(int(grid[index])), 2):
            position = np.searchsorted(grid, h3.str_to_int(cell))
            if position < grid.size and grid[position] == h3.str_to_int(cell):
                far[position] = False
    assert np.mean(keys[far] == "no_pattern") >= 0.99


def test_schedules_realise_the_definitions():
    rng = np.random.default_rng(0)
    n = 36
    assert np.flatnonzero(build_schedule("new", n, rng)).tolist() == [n - 1]
    assert np.flatnonzero(build_schedule("consecutive", n, rng)).tolist() == list(range(n - 4, n))
    historical = build_schedule("historical", n, rng)
    assert historical[-1] == 0 and 10 * (historical > 0).sum() >= 9 * n
    for pattern in ("sporadic", "oscillating"):
        on = build_schedule(pattern, n, rng) > 0
        assert on[-1] and not on[-2] and on[:-2].any() and 10 * on.sum() < 9 * n
    rising = build_schedule("intensifying", n, rng)
    assert (np.diff(rising) > 0).all() and rising.min() > 0
    assert SPACING > 2 and len(CLASS_PATTERNS) == 8
