"""Trends benchmark: space-time cube + Emerging Hot Spot Analysis at national size, and against peers.

1. National: a res-9 grid over England's bounding box (about 3M cells) and 36
   months of simulated incidents (Poisson, skewed like police.uk data, with
   planted hotspots).  Timed, in one process: incidents -> cube
   (``incidents_to_cube``), the k=1 neighbour matrix, Gi* of every bin with
   FDR (``space_time_gi_star``), Mann-Kendall of every cell's z series
   (``mann_kendall``) and the 17-class classification (``classify_emerging``).
   Target: at most 30 s on this 2-core machine.
2. Peers, on a sub-grid small enough for them (default 20,000 cells x 36
   months), side by side with harmmap on the same data:
   * Gi* per bin: ``esda.G_Local(transform="B", star=True, permutations=0)``
     once per month, weights built once outside the timing;
   * Mann-Kendall: ``pymannkendall.original_test`` per cell;
   * classification: a per-location Python implementation of the ArcGIS rules
     (the shape of R sfdep's ``classify_hotspot``), checked equal to ours.

    python benchmarks/bench_trends.py [--quick] [--peer-cells 20000] [--months 36]
"""

from __future__ import annotations

import argparse
import platform
import time
import warnings

import h3
import numpy as np
import shapely

from harmmap.geo.grid import cells_to_neighbours, polygons_to_cells
from harmmap.scoring.cube import incidents_to_cube, space_time_gi_star
from harmmap.scoring.emerging import classify_emerging, codes_to_keys
from harmmap.scoring.trend import mann_kendall

ENGLAND_BBOX = (-5.75, 49.95, 1.77, 55.81)  # lng/lat: Land's End to the Scottish border, Lowestoft


def _clock(fn, *args, **kwargs):
    start = time.perf_counter()
    out = fn(*args, **kwargs)
    return out, time.perf_counter() - start


def simulate_incidents(n_cells: int, months: int, per_month: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Incident rows (cell index, month index): skewed cell risk, 0.5 % of cells planted with a rise."""
    rng = np.random.default_rng(seed)
    risk = rng.gamma(0.25, 1.0, n_cells)
    planted = rng.choice(n_cells, max(1, n_cells // 200), replace=False)
    cells, periods = [], []
    for month in range(months):
        month_risk = risk.copy()
        month_risk[planted] *= 1.0 + 4.0 * month / max(months - 1, 1)
        cdf = np.cumsum(month_risk)
        draws = np.searchsorted(cdf, rng.random(per_month) * cdf[-1])
        cells.append(np.minimum(draws, n_cells - 1))
        periods.append(np.full(per_month, month))
    return np.concatenate(cells), np.concatenate(periods)


def run_harmmap(cell_index: np.ndarray, period_index: np.ndarray, cells: np.ndarray, months: int) -> dict:
    timings = {}
    cube, timings["cube"] = _clock(incidents_to_cube, cell_index, period_index, np.ones(cell_index.size),
                                   cells.size, months)
    neighbours, timings["neighbours"] = _clock(cells_to_neighbours, cells, 1)
    gi, timings["gi_star"] = _clock(space_time_gi_star, cube, neighbours, fdr=True, alpha=0.05)
    trend, timings["mann_kendall"] = _clock(mann_kendall, gi.gi_z, alpha=0.05)
    codes, timings["classify"] = _clock(classify_emerging, gi.hot, gi.cold, trend.z, trend.p, trend_alpha=0.05)
    return {"timings": timings, "cube": cube, "neighbours": neighbours, "gi": gi, "trend": trend, "codes": codes}


def _peer_gi(cube: np.ndarray, neighbours) -> tuple[np.ndarray, float]:
    import esda
    from libpysal.graph import Graph

    graph = Graph.from_sparse(neighbours)
    esda.G_Local(cube[:200, 0] + 1.0, Graph.from_sparse(neighbours[:200][:, :200]), transform="B", star=True,
                 permutations=0)  # warm-up outside the timing
    start = time.perf_counter()
    z = np.column_stack([esda.G_Local(cube[:, t], graph, transform="B", star=True, permutations=0).Zs
                         for t in range(cube.shape[1])])
    return z, time.perf_counter() - start


def _peer_mann_kendall(z: np.ndarray) -> tuple[np.ndarray, float]:
    import pymannkendall

    start = time.perf_counter()
    out = np.array([pymannkendall.original_test(row).z for row in z])
    return out, time.perf_counter() - start


def _classify_one(hot: np.ndarray, cold: np.ndarray, trend_z: float, trend_p: float, alpha: float) -> str:
    """The ArcGIS rules for one location, written as plainly as possible (the peer and a cross-check)."""
    n = hot.size
    for flags, other, word, sign in ((hot, cold, "hot", 1.0), (cold, hot, "cold", -1.0)):
        if not flags[-1]:
            continue
        share90 = 10 * flags.sum() >= 9 * n
        run = n - (np.flatnonzero(~flags)[-1] + 1) if (~flags).any() else n
        before = flags[: n - run]
        if flags.sum() == 1:
            return f"new_{word}_spot"
        if run >= 2 and not before.any() and not share90:
            return f"consecutive_{word}_spot"
        if share90:
            significant = trend_p < alpha
            if significant and np.sign(trend_z) == sign:
                return f"intensifying_{word}_spot"
            if significant and np.sign(trend_z) == -sign:
                return f"diminishing_{word}_spot"
            return f"persistent_{word}_spot"
        if other.any():
            return f"oscillating_{word}_spot"
        return f"sporadic_{word}_spot"
    for flags, word in ((hot, "hot"), (cold, "cold")):
        if 10 * flags.sum() >= 9 * n:
            return f"historical_{word}_spot"
    return "no_pattern"


def _peer_classify(hot, cold, trend_z, trend_p) -> tuple[np.ndarray, float]:
    start = time.perf_counter()
    out = np.array([_classify_one(hot[i], cold[i], trend_z[i], trend_p[i], 0.05) for i in range(hot.shape[0])])
    return out, time.perf_counter() - start


def _row(step: str, ours: float, peer: float, note: str = "") -> None:
    print(f"| {step} | {ours:.3f} s | {peer:.3f} s | {peer / ours:,.0f}x | {note} |")


def compare_with_peers(cells: np.ndarray, months: int, per_month: int) -> None:
    cell_index, period_index = simulate_incidents(cells.size, months, per_month, seed=2)
    ours = run_harmmap(cell_index, period_index, cells, months)
    gi, trend = ours["gi"], ours["trend"]
    per_month, slice_time = _clock(space_time_gi_star, ours["cube"], ours["neighbours"], global_window="slice",
                                   fdr=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        peer_z, peer_gi = _peer_gi(ours["cube"], ours["neighbours"])
    peer_mk, peer_mk_time = _peer_mann_kendall(gi.gi_z)
    peer_codes, peer_classify = _peer_classify(gi.hot, gi.cold, trend.z, trend.p)
    print(f"\n## Peers on {cells.size:,} cells x {months} months ({cell_index.size:,} incidents)\n")
    print("| step | harmmap | peer | peer / harmmap | check |\n|---|---|---|---|---|")
    _row("Gi* of every bin, month by month (esda G_Local per month)", slice_time, peer_gi,
         f"max |z diff| {np.abs(peer_z - per_month.gi_z).max():.1e} (global_window='slice', no FDR)")
    _row("Mann-Kendall (pymannkendall per cell)", ours["timings"]["mann_kendall"], peer_mk_time,
         f"max |z diff| {np.abs(peer_mk - trend.z).max():.1e}")
    same = (codes_to_keys(ours["codes"]) == peer_codes).mean()
    _row("17-class rules (Python per cell)", ours["timings"]["classify"], peer_classify, f"{same:.2%} identical")


def run_national(months: int, per_month: int, quick: bool) -> None:
    west, south, east, north = ENGLAND_BBOX
    if quick:
        west, south, east, north = -1.6, 52.4, -0.7, 52.9
    (cells, grid_time) = _clock(polygons_to_cells, [shapely.box(west, south, east, north)], 9)
    cell_index, period_index = simulate_incidents(cells.size, months, per_month, seed=1)
    result = run_harmmap(cell_index, period_index, np.sort(cells), months)
    timings = result["timings"]
    total = sum(timings.values())
    counts = dict(zip(*np.unique(codes_to_keys(result["codes"]), return_counts=True)))
    print(f"## National: {cells.size:,} res-9 cells x {months} months, {cell_index.size:,} incidents\n")
    print(f"(grid polyfill {grid_time:.1f} s and the simulation are not timed)\n")
    print("| step | seconds |\n|---|---|")
    for step, seconds in timings.items():
        print(f"| {step} | {seconds:.2f} |")
    print(f"| **cube + EHSA total** | **{total:.2f}** (target <= 30) |")
    print("\nclasses: " + ", ".join(f"{k} {v:,}" for k, v in sorted(counts.items(), key=lambda kv: -kv[1])))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="a county-size grid instead of England")
    parser.add_argument("--months", type=int, default=36)
    parser.add_argument("--per-month", type=int, default=450_000, help="incidents per month (England ~450k)")
    parser.add_argument("--peer-cells", type=int, default=20_000)
    args = parser.parse_args()
    print(f"python {platform.python_version()}, {platform.machine()}, numpy {np.__version__}\n")
    run_national(args.months, args.per_month // (40 if args.quick else 1), args.quick)
    rings = int(round(np.sqrt(args.peer_cells / 3)))  # a disk of r rings has 3r(r+1)+1 cells
    centre = h3.latlng_to_cell(52.6369, -1.1398, 9)
    peer_cells = np.sort(np.array([h3.str_to_int(c) for c in h3.grid_disk(centre, rings)], dtype=np.uint64))
    compare_with_peers(peer_cells, args.months, max(1_000, int(args.per_month * peer_cells.size / 3_000_000)))


if __name__ == "__main__":
    main()
