"""Automatic neighbourhood (incremental spatial autocorrelation over k-rings)."""

from __future__ import annotations

import h3
import numpy as np
import pytest

from harmmap.errors import ConfigError
from harmmap.geo.grid import buffer_cells, cells_to_neighbours
from harmmap.scoring import scale
from harmmap.scoring.moran import global_moran
from harmmap.scoring.scale import ScaleCandidate, choose_neighbourhood, find_peaks
from tests.conftest import leicestershire_grid

LEICESTER = h3.str_to_int(h3.latlng_to_cell(52.6344, -1.1318, 9))


def study_grid(rings: int = 30) -> np.ndarray:
    return buffer_cells(np.array([LEICESTER], dtype=np.uint64), rings)  # 2,791 cells for 30 rings


def blobs(cells: np.ndarray, radius: int, seed: int) -> np.ndarray:
    """15 hot discs of ``radius`` rings (value ~10) on a noisy background (0..1)."""
    rng = np.random.default_rng(seed)
    hot = buffer_cells(cells[rng.choice(cells.size, 15, replace=False)], radius)
    return np.isin(cells, hot) * 10.0 + rng.random(cells.size)


def test_find_peaks():
    assert find_peaks([1, 3, 2, 4, 1]).tolist() == [1, 3]
    assert find_peaks([5, 4, 3]).tolist() == []  # the ends never count
    assert find_peaks([1, 2, 2, 1]).tolist() == []  # a plateau is not a strict peak
    assert find_peaks([1, 2]).tolist() == []


def test_discs_of_radius_two_peak_at_three_rings():
    cells = study_grid()
    choice = choose_neighbourhood(cells, blobs(cells, 2, seed=0), ks=(1, 2, 3, 4, 5, 6))
    assert choice.k == 3 and choice.rule == "first_peak"
    assert choice.reason.startswith("first significant peak of global Moran's I z-score at k=3")
    assert [row.k for row in choice.table] == [1, 2, 3, 4, 5, 6]
    z = [row.moran_z for row in choice.table]
    assert z[2] == max(z)
    # the table holds exactly what global_moran says for each k
    reference = global_moran(blobs(cells, 2, seed=0), cells_to_neighbours(cells, 3), permutations=0, seed=0)
    assert choice.table[2].moran_i == pytest.approx(reference.moran_i) and z[2] == pytest.approx(reference.moran_z)


def test_noise_falls_back_to_the_default():
    cells = study_grid()
    values = np.random.default_rng(1).random(cells.size)
    choice = choose_neighbourhood(cells, values, fallback_k=2)
    assert choice.k == 2 and choice.rule == "fallback"
    assert "no significant clustering" in choice.reason and "default k=2" in choice.reason
    assert all(abs(row.moran_z) < 1.96 for row in choice.table)


def fake_measure(z_by_k):
    def measure(cells, values, k):
        return ScaleCandidate(k, 0.1, z_by_k[k], 0.0)
    return measure


@pytest.mark.parametrize("z, k, rule", [
    ({1: 5.0, 2: 9.0, 3: 7.0, 4: 12.0, 5: 8.0}, 2, "first_peak"),
    ({1: 0.5, 2: 1.5, 3: 1.0, 4: 12.0, 5: 8.0}, 4, "first_peak"),   # the first peak is not significant
    ({1: 5.0, 2: 6.0, 3: 7.0, 4: 8.0, 5: 9.0}, 5, "largest_z"),     # rising: no peak
    ({1: 9.0, 2: 6.0, 3: 3.0, 4: 1.0, 5: 0.5}, 1, "largest_z"),     # falling: strongest at the smallest k
    ({1: 1.0, 2: 1.9, 3: 1.2, 4: -1.0, 5: 0.0}, 1, "fallback"),     # nothing significant
])
def test_decision_rule(monkeypatch, z, k, rule):
    monkeypatch.setattr(scale, "_measure", fake_measure(z))
    choice = choose_neighbourhood(study_grid(2), np.arange(19.0))
    assert (choice.k, choice.rule) == (k, rule)
    assert f"k={k}" in choice.reason


def test_real_leicestershire_harm_clusters_at_every_scale(shared_data):
    """On police.uk counts the z-score rises with k (no characteristic scale): the rule reports it."""
    cells, values = leicestershire_grid(shared_data, months=2)
    choice = choose_neighbourhood(cells, values, ks=(1, 2, 3))
    z = [row.moran_z for row in choice.table]
    assert all(value > 50 for value in z) and z == sorted(z)
    assert (choice.k, choice.rule) == (3, "largest_z") and "no peak" in choice.reason
    # the curve depends on the study area: with only one ring of empty cells around the data it peaks at k=2
    tight, tight_values = leicestershire_grid(shared_data, months=2, rings=1)
    assert choose_neighbourhood(tight, tight_values, ks=(1, 2, 3)).rule == "first_peak"


def test_tiny_or_invalid_inputs():
    cells = study_grid(0)
    assert choose_neighbourhood(cells, np.ones(1)).rule == "fallback"
    with pytest.raises(ConfigError, match="one entry per cell"):
        choose_neighbourhood(study_grid(1), np.ones(3))
    for ks in ((), (0, 1), (2, 1), (1, 1), (1.5,), (True,)):
        with pytest.raises(ConfigError, match="candidate"):
            choose_neighbourhood(study_grid(1), np.ones(7), ks=ks)
    with pytest.raises(ConfigError, match="alpha"):
        choose_neighbourhood(study_grid(1), np.ones(7), alpha=5)
