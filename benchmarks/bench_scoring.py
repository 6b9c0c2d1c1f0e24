"""Scoring benchmark: harmmap vs PySAL esda, side by side, in one run.

1. Analytic Getis-Ord Gi*: ``harmmap.scoring.getis_ord.gi_star(permutations=0)``
   vs ``esda.G_Local(y, w, transform="B", star=True, permutations=0)`` on a
   zero-filled res-9 grid of >= 100k cells around the 35 Leicestershire months
   (incidents per cell), with the esda weights built from the same CSR matrix
   three ways (libpysal ``WSP(csr).to_W()``, ``Graph.from_sparse(csr)``, and a
   ``Graph`` that already carries the self-weight 1 Gi* needs), each built
   outside the timing.  z-scores are checked equal to 1e-9.
2. 999-permutation Gi*: the same call with ``permutations=999`` vs esda
   (``keep_simulations=False``, ``n_jobs=1`` and ``-1``, fixed seeds), and how
   often the Esri Gi_Bin classes agree: from the analytic p (identical), and
   from the pseudo p-values on three versions of the grid (counts, CCHI harm,
   counts plus tiny seeded noise), next to the Monte-Carlo noise floor
   (esda vs esda and harmmap vs harmmap with two seeds).
3. Local Moran's I (999 permutations) vs ``esda.Moran_Local``; global Moran's I
   vs ``esda.Moran``.
4. End to end, store to persisted ranking, each in a fresh process (its own
   peak RSS): ``harmmap.analysis.score.score_workspace`` with default settings
   on a workspace holding the Leicestershire months (ingest timed apart), next
   to a naive peer (pandas read of the same Parquet segments, per-cell groupby,
   h3 ``grid_disk`` dict -> libpysal W, esda G_Local with 999 permutations,
   ranking written to Parquet); then the same two on 10M simulated incidents
   (``--big-workspace`` reuses one built by ``harmmap demo --per-month 277778``).
   The naive peer does much less (Gi* on one weighting and a sort; no local
   Moran, FDR, places, periods, rank intervals, counting rules).

esda's conditional randomisation is compiled with numba when numba is
importable (numba is not a harmmap dependency; install it for a fair peer:
without it esda falls back to plain Python); the first call compiles for
~15 s, so every esda statistic is warmed on a small input first and that time
is reported, not counted.

Timings are the best of several runs for calls under a second and single runs
for esda's permutation calls.  "peak MB" is the most memory allocated during a
call (tracemalloc, a separate untimed call), or the peak RSS of the process for
the end-to-end runs.

    python benchmarks/bench_scoring.py [--quick] [--skip-big] [--big-workspace /tmp/ws10m] [--size 10000000]
                                       [--min-cells 100000] [--profile]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
import tracemalloc
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"
LEICS = SHARED / "police_uk" / "leicestershire"
SUMMARY: list[tuple[str, str, str, str, str, str]] = []

INGEST = r"""
import glob, json, sys, time
from harmmap.ingest.pipeline import ingest_files
from harmmap.ingest.police_uk import read_police_uk
from harmmap.ingest.sources import expand_paths
from harmmap.store.workspace import init_workspace
ws = init_workspace(sys.argv[1])
start = time.perf_counter()
report = ingest_files(ws, "police_uk", expand_paths(sys.argv[2:]), read_police_uk).to_dict()
print(json.dumps({"seconds": time.perf_counter() - start, "rows": report["rows_read"], "accepted": report["accepted"]}))
"""

BUILD = r"""
import json, sys, time
from harmmap.cli.demo import build_demo
start = time.perf_counter()
status = build_demo(sys.argv[1], int(sys.argv[2]), months=36, per_month=int(sys.argv[3]),
                    echo=lambda *a, **k: None, show=lambda *a, **k: None)
print(json.dumps({"seconds": time.perf_counter() - start}))
"""

SCORE = r"""
import cProfile, io, json, pstats, resource, sys, time
def peak_mb():  # VmHWM: this process's own peak RSS (ru_maxrss would include the parent's RSS at fork)
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
started = time.perf_counter()
from harmmap.analysis.score import score_workspace
from harmmap.scoring.pipeline import ScoringSettings
from harmmap.store.workspace import open_workspace
imported = time.perf_counter()
ws = open_workspace(sys.argv[1])
profiler = cProfile.Profile() if sys.argv[2] == "1" else None
if profiler: profiler.enable()
run = score_workspace(ws, ScoringSettings())
if profiler: profiler.disable()
seconds = time.perf_counter() - imported
profile = ""
if profiler:
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_stats(25)
    profile = out.getvalue()
meta = run.result.metadata
print(json.dumps({"seconds": seconds, "import_seconds": imported - started, "timings": run.timings,
                  "incidents": meta["totals"]["incidents"], "cells": meta["grid"]["cells"], "k": meta["k"],
                  "rings": meta["context"]["study_area"]["rings"],
                  "peak_mb": peak_mb(), "profile": profile}))
"""

NAIVE = r"""
import json, resource, sqlite3, sys, time, warnings
from pathlib import Path
def peak_mb():  # VmHWM: this process's own peak RSS (ru_maxrss would include the parent's RSS at fork)
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
warnings.filterwarnings("ignore")
import esda, h3, libpysal, numpy as np, pandas as pd
from harmmap.weights import load_harm_weights
ws, out_path = Path(sys.argv[1]), sys.argv[5]
rings, permutations, seed = (int(a) for a in sys.argv[2:5])
esda.G_Local(np.arange(7.0), libpysal.weights.lat2W(7, 1), transform="B", star=True, permutations=9,
             seed=0, keep_simulations=False, n_jobs=1)  # numba warm-up, not timed
steps, start = {}, time.perf_counter()
clock = time.perf_counter()
with sqlite3.connect(ws / "harmmap.sqlite") as conn:
    active = conn.execute("SELECT path, partition_key FROM segments WHERE active = 1").fetchall()
columns = ["cell", "crime_type", "partition_key"]
frames = [pd.read_parquet(ws / p, columns=columns) for p in sorted({p for p, _ in active})]
df = pd.concat(frames, ignore_index=True)
df = df[df["partition_key"].astype(str).isin({k for _, k in active})]
steps["read"] = time.perf_counter() - clock
clock = time.perf_counter()
df["harm"] = df["crime_type"].astype(str).map(dict(load_harm_weights("cchi").by_crime_type)).fillna(0.0)
df["cell"] = [h3.int_to_str(int(c)) for c in df["cell"]]
per_cell = df.groupby("cell").agg(harm=("harm", "sum"), incidents=("harm", "size"))
steps["groupby"] = time.perf_counter() - clock
clock = time.perf_counter()
grid = set()
for cell in per_cell.index:
    grid.update(h3.grid_disk(cell, rings))
neighbours = {c: [n for n in h3.grid_disk(c, 1) if n != c and n in grid] for c in sorted(grid)}
w = libpysal.weights.W(neighbours, silence_warnings=True)
steps["grid_weights"] = time.perf_counter() - clock
clock = time.perf_counter()
y = per_cell["harm"].reindex(w.id_order, fill_value=0.0).to_numpy()
gi = esda.G_Local(y, w, transform="B", star=True, permutations=permutations, seed=seed, keep_simulations=False,
                  n_jobs=1)
steps["gi_star"] = time.perf_counter() - clock
clock = time.perf_counter()
ranking = pd.DataFrame({"cell": w.id_order, "harm": y, "gi_z": gi.Zs, "gi_p_sim": gi.p_sim})
ranking = ranking.sort_values("harm", ascending=False)
ranking["rank"] = np.arange(1, len(ranking) + 1)
ranking.to_parquet(out_path)
steps["save"] = time.perf_counter() - clock
print(json.dumps({"seconds": time.perf_counter() - start, "timings": steps, "incidents": len(df),
                  "cells": len(w.id_order),                  "peak_mb": peak_mb()}))
"""


# ---------------------------------------------------------------- helpers

def fmt_s(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms" if seconds < 1 else f"{seconds:.2f} s"


def best_of(fn, repeat: int):
    """Return (fastest wall seconds, last result) over ``repeat`` calls."""
    best, result = float("inf"), None
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - start)
    return best, result


def traced_mb(fn) -> float:
    """Most memory allocated (tracemalloc) during one call of ``fn``, in MB."""
    tracemalloc.start()
    try:
        fn()
        return tracemalloc.get_traced_memory()[1] / 1e6
    finally:
        tracemalloc.stop()


def run_child(script: str, args: list[str], cwd: Path) -> tuple[dict, float]:
    """Run ``script`` in a fresh interpreter; return its JSON line and the process wall time."""
    start = time.perf_counter()
    path = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    out = subprocess.run([sys.executable, "-c", script, *args], cwd=cwd, capture_output=True, text=True,
                         env=os.environ | {"PYTHONPATH": path})
    wall = time.perf_counter() - start
    if out.returncode:
        sys.exit(f"child failed:\n{out.stderr[-4000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1]), wall


def summarise(step: str, ours: str, peer: str, ratio: str, target: str, met: str) -> None:
    SUMMARY.append((step, ours, peer, ratio, target, met))


def share(a: np.ndarray, b: np.ndarray, mask: np.ndarray | None = None) -> float:
    mask = np.ones(a.size, dtype=bool) if mask is None else mask
    return float(np.mean(a[mask] == b[mask]) * 100) if mask.any() else float("nan")


def within_se(a: np.ndarray, b: np.ndarray, permutations: int = 999) -> np.ndarray:
    """Cells whose two pseudo p-values differ by at most 3 binomial standard errors of their difference."""
    p = (a + b) / 2
    return np.abs(a - b) <= 3 * np.sqrt(2 * p * (1 - p) / (permutations + 1) + 1e-12)


def exact_p(p_sim: np.ndarray, permutations: int = 999) -> np.ndarray:
    """esda keeps p_sim in float32 (0.05 -> 0.0500000007, no longer <= 0.05): back to exact (R + 1) / (M + 1)."""
    return np.round(np.asarray(p_sim, dtype=np.float64) * (permutations + 1)) / (permutations + 1)


# ---------------------------------------------------------------- the grid

def build_grid(min_cells: int) -> dict:
    """Read the Leicestershire months, place them on res-9 cells and zero-fill a buffer grid of >= min_cells."""
    from harmmap.geo.cells import points_to_cells
    from harmmap.geo.grid import buffer_cells, cells_to_neighbours
    from harmmap.scoring.harm import crime_type_to_offence, incidents_to_harm
    from harmmap.weights import load_harm_weights

    start = time.perf_counter()
    paths = sorted(LEICS.glob("**/*-street.csv*"))
    frame = pd.concat([pd.read_csv(p, usecols=["Latitude", "Longitude", "Crime type"]) for p in paths],
                      ignore_index=True)
    rows = len(frame)
    frame = frame.dropna(subset=["Latitude", "Longitude"]).reset_index(drop=True)
    cells = points_to_cells(frame["Latitude"].to_numpy(), frame["Longitude"].to_numpy(), 9)
    data_cells = np.unique(cells)
    read_seconds = time.perf_counter() - start
    rings, grown = 0, data_cells
    while grown.size < min_cells:  # one ring at a time (cheap), then one buffer_cells call with the total
        grown, rings = buffer_cells(grown, 1), rings + 1
    grid = buffer_cells(data_cells, rings)
    start = time.perf_counter()
    neighbours = cells_to_neighbours(grid, 1)
    weights_seconds = time.perf_counter() - start
    index = np.searchsorted(grid, cells)
    counts = np.bincount(index, minlength=grid.size).astype(np.float64)
    types = frame["Crime type"].astype("category")
    incidents = pd.DataFrame({"crime_type": types, "offence": types.cat.rename_categories(crime_type_to_offence)})
    harm = np.bincount(index, weights=incidents_to_harm(incidents, load_harm_weights("cchi")), minlength=grid.size)
    noisy = counts + np.random.default_rng(42).uniform(0.0, 0.01, grid.size)
    print(f"\n== Grid: Leicestershire, {len(paths)} monthly police.uk street files")
    print(f"read {rows:,} rows ({len(frame):,} with coordinates) in {read_seconds:.2f} s; {data_cells.size:,} "
          f"non-empty res-9 cells; buffer_cells(data, rings={rings}) -> {grid.size:,} cells, "
          f"{neighbours.nnz:,} k=1 links")
    print(f"grid values: counts ({np.mean(counts == 0) * 100:.1f} % zero cells), CCHI harm "
          f"({len(np.unique(harm))} distinct values), counts + U(0, 0.01) noise (seed 42, no ties)")
    return {"cells": grid, "neighbours": neighbours, "weights_seconds": weights_seconds, "rings": rings,
            "values": {"counts": counts, "cchi harm": harm, "counts+noise": noisy}}


def build_esda_weights(grid: dict) -> dict:
    """Build libpysal weights from the same CSR, three ways, and the naive dict route; print the timings."""
    import h3
    import libpysal
    import scipy.sparse as sp
    from libpysal.graph import Graph

    csr = grid["neighbours"]
    timed = {}
    start = time.perf_counter()
    timed["Graph.from_sparse(csr)"] = Graph.from_sparse(csr)
    graph_s = time.perf_counter() - start
    start = time.perf_counter()
    with_self = sp.csr_matrix(csr + sp.identity(csr.shape[0], format="csr"))
    timed["Graph.from_sparse(csr + I)"] = Graph.from_sparse(with_self)
    self_s = time.perf_counter() - start
    start = time.perf_counter()
    timed["WSP(csr).to_W()"] = libpysal.weights.WSP(csr).to_W(silence_warnings=True)
    w_s = time.perf_counter() - start
    start = time.perf_counter()
    ids = [h3.int_to_str(int(c)) for c in grid["cells"]]
    known = set(ids)
    libpysal.weights.W({c: [n for n in h3.grid_disk(c, 1) if n != c and n in known] for c in ids},
                       silence_warnings=True)
    dict_s = time.perf_counter() - start
    print(f"\n== k=1 weights for {csr.shape[0]:,} cells (built once; not part of the Gi* timings)")
    print(f"{'route':<58}{'seconds':>10}{'ratio':>9}")
    ours = grid["weights_seconds"]
    for label, seconds in [("harmmap cells_to_neighbours (h3ronpy grid_disk -> CSR)", ours),
                           ("libpysal Graph.from_sparse(CSR)", graph_s),
                           ("libpysal Graph.from_sparse(CSR + identity) (Gi* self-weight)", self_s),
                           ("libpysal WSP(CSR).to_W()", w_s),
                           ("naive: h3.grid_disk dict -> libpysal W", dict_s)]:
        print(f"{label:<58}{seconds:>10.3f}{seconds / ours:>8.1f}x")
    summarise(f"k=1 weights, {csr.shape[0]:,} cells", fmt_s(ours), f"{fmt_s(dict_s)} (h3 dict -> W)",
              f"{dict_s / ours:.0f}x", "-", "-")
    return timed


def warm_esda() -> float:
    """Compile esda's numba kernels on small inputs (G_Local*, Moran_Local); return the seconds spent."""
    import esda
    import libpysal

    start = time.perf_counter()
    w = libpysal.weights.lat2W(10, 10)
    y = np.random.default_rng(0).random(100)
    esda.G_Local(y, w, transform="B", star=True, permutations=99, seed=0, keep_simulations=False, n_jobs=1)
    esda.Moran_Local(y, w, permutations=99, seed=0, keep_simulations=False, n_jobs=1)
    return time.perf_counter() - start


# ---------------------------------------------------------------- 1. analytic Gi*

def bench_analytic(grid: dict, weights: dict, repeat: int) -> None:
    import esda
    from harmmap.scoring.getis_ord import gi_star

    y, csr, n = grid["values"]["counts"], grid["neighbours"], grid["cells"].size
    ours_s, ours = best_of(lambda: gi_star(y, csr, permutations=0, seed=0), repeat * 3)
    ours_mb = traced_mb(lambda: gi_star(y, csr, permutations=0, seed=0))
    print(f"\n== 1. Analytic Gi* (permutations=0), {n:,} cells, incidents per cell")
    print(f"{'path':<58}{'seconds':>10}{'peak MB':>9}{'ratio':>9}{'max|dz|':>10}{'max|dp|':>10}")
    print(f"{'harmmap gi_star':<58}{ours_s:>10.4f}{ours_mb:>9.1f}{'1.0x':>9}")
    for label, w in weights.items():
        call = lambda w=w: esda.G_Local(y, w, transform="B", star=True, permutations=0)  # noqa: E731
        seconds, result = best_of(call, repeat if label.startswith("WSP") else repeat * 2)
        mb = traced_mb(call)
        dz = float(np.max(np.abs(result.Zs - ours.gi_z)))
        dp = float(np.max(np.abs(2 * result.p_norm - ours.gi_p)))
        print(f"{'esda G_Local, w = ' + label:<58}{seconds:>10.4f}{mb:>9.1f}{seconds / ours_s:>8.0f}x"
              f"{dz:>10.1e}{dp:>10.1e}")
        summarise(f"analytic Gi*, esda w = {label}", fmt_s(ours_s), fmt_s(seconds), f"{seconds / ours_s:.0f}x",
                  ">= 300x; z to 1e-9", f"{'yes' if seconds / ours_s >= 300 else 'NO'}; dz {dz:.0e}")
    print("max|dz|: largest |z_esda - z_harmmap|; max|dp|: largest |2 p_norm - gi_p| (esda's p_norm is one-sided)")


# ---------------------------------------------------------------- 2. permutation Gi*

def esda_gi(values, w, seed: int, n_jobs: int = 1):
    import esda

    return esda.G_Local(values, w, transform="B", star=True, permutations=999, seed=seed,
                        keep_simulations=False, n_jobs=n_jobs)


def bench_permutations(grid: dict, weights: dict, repeat: int, parallel: bool) -> None:
    from harmmap.scoring.getis_ord import gi_star

    y, csr, n = grid["values"]["counts"], grid["neighbours"], grid["cells"].size
    w = weights["Graph.from_sparse(csr + I)"]
    ours_s, _ = best_of(lambda: gi_star(y, csr, permutations=999, seed=0), repeat * 2)
    ours_mb = traced_mb(lambda: gi_star(y, csr, permutations=999, seed=0))
    print(f"\n== 2. Gi* with 999 permutations, {n:,} cells, incidents per cell "
          f"(esda w = Graph.from_sparse(CSR + identity), keep_simulations=False, seed 1)")
    print(f"{'path':<58}{'seconds':>10}{'peak MB':>9}{'ratio':>9}")
    print(f"{'harmmap gi_star(permutations=999)':<58}{ours_s:>10.4f}{ours_mb:>9.1f}{'1.0x':>9}")
    for jobs in (1, -1) if parallel else (1,):
        start = time.perf_counter()
        esda_gi(y, w, seed=1, n_jobs=jobs)
        seconds = time.perf_counter() - start
        mb = f"{traced_mb(lambda: esda_gi(y, w, seed=2, n_jobs=jobs)):.1f}" if jobs == 1 else "-"
        print(f"{f'esda G_Local(permutations=999, n_jobs={jobs})':<58}{seconds:>10.2f}{mb:>9}{seconds / ours_s:>8.0f}x")
        summarise(f"999-perm Gi*, esda n_jobs={jobs}", fmt_s(ours_s), fmt_s(seconds), f"{seconds / ours_s:.0f}x",
                  ">= 300x", "yes" if seconds / ours_s >= 300 else "NO")
    bench_agreement(grid, w)


def gi_bins(grid: dict, w, values: np.ndarray) -> dict:
    """Gi_Bin classes (-3..3) from analytic and permutation p, harmmap seeds 0/1 and esda seeds 1/2."""
    from harmmap.scoring.getis_ord import confidence_bins, gi_star

    csr = grid["neighbours"]
    ours = [gi_star(values, csr, permutations=999, seed=s) for s in (0, 1)]
    esda = [esda_gi(values, w, seed=s) for s in (1, 2)]
    for e in esda:
        e.p_sim = exact_p(e.p_sim)
    return {"analytic": (confidence_bins(ours[0].gi_z, ours[0].gi_p), confidence_bins(esda[0].Zs, 2 * esda[0].p_norm)),
            "ours": [confidence_bins(o.gi_z, o.gi_p_sim) for o in ours],
            "esda": [confidence_bins(e.Zs, e.p_sim) for e in esda],
            "p_ours": ours[0].gi_p_sim, "p_esda": [e.p_sim for e in esda],
            "quiet": (csr @ values) == 0}


def bench_agreement(grid: dict, w) -> None:
    n = grid["cells"].size
    print("\nSignificance classes (Esri Gi_Bin -3..+3 at 90/95/99 %): share of cells in the same class.")
    print("Pseudo-p bins use the one-tailed p_sim as esda reports it; 'floor' = the same code with two seeds.")
    print(f"{'grid values':<14}{'classes from':<46}{'cells':>9}{'ours~esda':>11}{'esda~esda':>11}{'ours~ours':>11}")
    agreement = {}
    for name, values in grid["values"].items():
        bins = gi_bins(grid, w, values)
        a, e, o = bins["analytic"], bins["esda"], bins["ours"]
        hot = lambda b: np.where(b > 0, b, 0)  # noqa: E731
        strong = lambda b: np.where(np.abs(b) == 3, b, 0)  # noqa: E731
        busy = ~bins["quiet"]
        within, e_within = within_se(bins["p_ours"], bins["p_esda"][0]), within_se(*bins["p_esda"])
        rows = [("analytic p (two-sided normal)", None, share(*a), float("nan"), float("nan")),
                ("pseudo p, all cells", None, share(o[0], e[0]), share(*e), share(*o)),
                ("pseudo p, neighbour sum > 0 (no tie with 0)", busy, share(o[0], e[0], busy), share(*e, busy),
                 share(*o, busy)),
                ("pseudo p, hot bins only (cold -> 0)", None, share(hot(o[0]), hot(e[0])), share(hot(e[0]), hot(e[1])),
                 share(hot(o[0]), hot(o[1]))),
                ("pseudo p, 99 % bins only (+-3 vs rest)", None, share(strong(o[0]), strong(e[0])),
                 share(strong(e[0]), strong(e[1])), share(strong(o[0]), strong(o[1]))),
                ("|p_sim - p_esda| <= 3 binomial SE", None, float(np.mean(within) * 100),
                 float(np.mean(e_within) * 100), float("nan"))]
        for label, mask, ours_esda, floor_esda, floor_ours in rows:
            cells = n if mask is None else int(mask.sum())
            print(f"{name:<14}{label:<46}{cells:>9,}{ours_esda:>10.2f}%{floor_esda:>10.2f}%{floor_ours:>10.2f}%"
                  .replace("nan%", "   -"))
        print(f"{'':<14}(esda p_sim = 0.001 on {np.mean(bins['p_esda'][0] <= 0.001) * 100:.1f} % of cells, "
              f"harmmap on {np.mean(bins['p_ours'] <= 0.001) * 100:.1f} %)")
        if name == "counts":
            print(f"{'':<14}(integer neighbourhood sums tie in blocks: every cell with the same sum and neighbour count"
                  " is judged against one shared null (harmmap) or one shared set of draws (esda), so a new seed"
                  " flips whole blocks at a threshold; hence the low floors on the 'neighbour sum > 0' row)")
        agreement[name] = {label: (ours_esda, floor_esda) for label, _, ours_esda, floor_esda, _ in rows}
    counts = agreement["counts"]
    summarise("Gi_Bin agreement, analytic p (counts)", f"{counts['analytic p (two-sided normal)'][0]:.2f} %", "-", "-",
              ">= 99 %", "yes" if counts["analytic p (two-sided normal)"][0] >= 99 else "NO")
    for grid_name, label in [("counts", "pseudo p, all cells"), ("counts+noise", "pseudo p, all cells"),
                             ("counts+noise", "pseudo p, 99 % bins only (+-3 vs rest)"),
                             ("counts", "pseudo p, hot bins only (cold -> 0)"),
                             ("counts+noise", "|p_sim - p_esda| <= 3 binomial SE")]:
        value, floor = agreement[grid_name][label]
        step = ("Gi* p_sim within 3 SE of esda's" if label.startswith("|") else
                f"Gi_Bin agreement, {label.replace('pseudo p, ', 'perm ')}")
        summarise(f"{step} ({grid_name})", f"{value:.2f} %",
                  f"floor {floor:.2f} %", "-", ">= 99 %", "yes" if value >= 99 else "NO")


# ---------------------------------------------------------------- 3. Moran

def bench_moran(grid: dict, weights: dict, repeat: int, variants: list[str]) -> None:
    import esda
    from harmmap.scoring.moran import classify_clusters, global_moran, local_moran

    csr, n = grid["neighbours"], grid["cells"].size
    w = weights["Graph.from_sparse(csr)"]
    print(f"\n== 3. Moran's I (row-standardised), {n:,} cells (esda w = Graph.from_sparse(CSR))")
    print(f"{'grid values':<14}{'statistic':<36}{'harmmap':>10}{'esda':>10}{'ratio':>8}  agreement")
    for name in variants:
        y = grid["values"][name]
        ours_s, ours = best_of(lambda: local_moran(y, csr, permutations=999, seed=0), repeat)
        other = local_moran(y, csr, permutations=999, seed=5)
        start = time.perf_counter()
        e1 = esda.Moran_Local(y, w, transformation="r", permutations=999, seed=1, keep_simulations=False, n_jobs=1)
        esda_s = time.perf_counter() - start
        e2 = esda.Moran_Local(y, w, transformation="r", permutations=999, seed=2, keep_simulations=False, n_jobs=1)
        labels = [classify_clusters(q, p) for q, p in ((ours.quadrant, ours.moran_p_sim),
                                                        (other.quadrant, other.moran_p_sim),
                                                        (e1.q, exact_p(e1.p_sim)), (e2.q, exact_p(e2.p_sim)))]
        print(f"{name:<14}{'local Moran, 999 permutations':<36}{ours_s:>10.4f}{esda_s:>10.2f}{esda_s / ours_s:>7.0f}x  "
              f"max|dI| {np.max(np.abs(ours.moran_i - e1.Is)):.1e}, quadrants {share(ours.quadrant, e1.q):.2f} %, "
              f"clusters (p<=0.05) ours~esda {share(labels[0], labels[2]):.2f} % "
              f"(floor esda~esda {share(labels[2], labels[3]):.2f} %, ours~ours {share(labels[0], labels[1]):.2f} %)")
        summarise(f"local Moran 999 perms ({name})", fmt_s(ours_s), fmt_s(esda_s), f"{esda_s / ours_s:.0f}x", "-",
                  f"clusters {share(labels[0], labels[2]):.1f} %")
        if name == "counts":
            print(f"{'':<14}(clusters differ where esda's tie rule gives p_sim = 0.001 to quiet cells amid quiet cells:"
                  " significant LL for esda, not for harmmap; counts+noise has no ties)")
        ours_s, g = best_of(lambda: global_moran(y, csr, permutations=0, seed=0), repeat * 2)
        esda_s, m = best_of(lambda: esda.Moran(y, w, transformation="r", permutations=0), repeat)
        print(f"{name:<14}{'global Moran, analytic':<36}{ours_s:>10.4f}{esda_s:>10.4f}{esda_s / ours_s:>7.0f}x  "
              f"I {g.moran_i:.6f} vs {m.I:.6f}, |dz_rand| {abs(g.moran_z - m.z_rand):.1e}")
        summarise(f"global Moran analytic ({name})", fmt_s(ours_s), fmt_s(esda_s), f"{esda_s / ours_s:.0f}x", "-",
                  f"|dI| {abs(g.moran_i - m.I):.0e}")
        ours_s, g = best_of(lambda: global_moran(y, csr, permutations=999, seed=0), 1)
        esda_s, m = best_of(lambda: esda.Moran(y, w, transformation="r", permutations=999), 1)
        print(f"{name:<14}{'global Moran, 999 permutations':<36}{ours_s:>10.4f}{esda_s:>10.2f}"
              f"{esda_s / ours_s:>7.1f}x  "
              f"p_sim {g.moran_p_sim:.3f} vs {m.p_sim:.3f}")


# ---------------------------------------------------------------- 4. end to end

def print_breakdown(label: str, result: dict, wall: float) -> None:
    parts = ", ".join(f"{k} {v:.2f}" for k, v in result["timings"].items())
    print(f"{label:<34}{result['seconds']:>9.2f} s  process {wall:6.2f} s  peak RSS {result['peak_mb']:7,.0f} MB  "
          f"{result['incidents']:>11,} incidents  {result['cells']:>9,} cells  [{parts}]")


def bench_leicestershire(tmp: Path) -> None:
    paths = [str(p) for p in sorted(LEICS.glob("**/*-street.csv*"))]
    ws = tmp / "ws-leics"
    ingest, ingest_wall = run_child(INGEST, [str(ws), *paths], tmp)
    ours, ours_wall = run_child(SCORE, [str(ws), "0"], tmp)
    naive, naive_wall = run_child(NAIVE, [str(ws), str(ours["rings"]), "999", "0", str(tmp / "naive.parquet")], tmp)
    print("\n== 4a. End to end on Leicestershire (store -> persisted ranking), each in a fresh process")
    print(f"ingest of {len(paths)} files: {ingest['seconds']:.2f} s ({ingest['accepted']:,} of {ingest['rows']:,} rows"
          f" accepted; process {ingest_wall:.1f} s) - not part of the score timings")
    print_breakdown("harmmap score_workspace (defaults)", ours, ours_wall)
    print_breakdown("naive pandas + h3 + libpysal + esda", naive, naive_wall)
    print("(harmmap also does local Moran, FDR, three harm weightings, periods, bootstrap rank intervals and"
          " concentration; the naive path only Gi* on CCHI harm and a sort; it ignores the counting rules)")
    ratio = naive["seconds"] / ours["seconds"]
    summarise("end to end, Leicestershire", fmt_s(ours["seconds"]), fmt_s(naive["seconds"]), f"{ratio:.1f}x", "-", "-")


def bench_big(tmp: Path, workspace: str | None, size: int, profile: bool) -> None:
    per_month = max(100, size // 36)
    print("\n== 4b. End to end on simulated incidents (store -> persisted ranking), fresh process")
    if workspace:
        print(f"reusing workspace {workspace} (each run adds a persisted scoring run to it)")
    else:
        workspace = str(tmp / "ws-big")
        built, wall = run_child(BUILD, [workspace, "20240601", str(per_month)], tmp)
        print(f"built demo workspace ({per_month:,} police.uk incidents a month x 36 + retailer data) in "
              f"{built['seconds']:.1f} s (process {wall:.1f} s) - not part of the score timing")
    result, wall = run_child(SCORE, [workspace, "1" if profile else "0"], tmp)
    naive, naive_wall = run_child(NAIVE, [workspace, str(result["rings"]), "999", "0", str(tmp / "naive-big.parquet")],
                                  tmp)
    print_breakdown("harmmap score_workspace (defaults)", result, wall)
    print_breakdown("naive pandas + h3 + libpysal + esda", naive, naive_wall)
    print(f"(harmmap's process time includes interpreter start and {result['import_seconds']:.2f} s of imports; "
          "the naive path's includes esda's numba compile; the naive path counts every stored row)")
    if profile:
        print(result["profile"])
    millions = result["incidents"] / 1e6
    summarise(f"end to end, {millions:.1f}M simulated", fmt_s(result["seconds"]), fmt_s(naive["seconds"]),
              f"{naive['seconds'] / result['seconds']:.1f}x", "<= 15 s", "yes" if result["seconds"] <= 15 else "NO")


# ---------------------------------------------------------------- main

def print_summary() -> None:
    widths = [max(len(row[i]) for row in SUMMARY + [("step", "ours", "peer", "ratio", "target", "met?")]) + 2
              for i in range(6)]
    print(f"\n== Summary (load average {os.getloadavg()[0]:.2f} at the end: other work on the machine slows"
          " every figure)")
    for row in [("step", "ours", "peer", "ratio", "target", "met?"), *SUMMARY]:
        print("".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip())
    print("\n".join([
        "Notes: 'met?' is judged per esda route; the fastest (a Graph with the self-weight prebuilt) is the fair one.",
        "On a zero-filled grid esda's tie rule gives p_sim = 0.001 to quiet cells amid quiet cells, so all-cell",
        "pseudo-p bins cannot agree to 99 % on counts or harm. On the tie-free grid (counts+noise) the 7 bins agree",
        "about as well as esda agrees with itself (floor): no two 999-permutation runs reach 99 %, because a few %",
        "of the cells lie within Monte-Carlo error of the 0.01 / 0.05 / 0.10 thresholds."]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="smoke run: ~20k-cell grid, 360k simulated incidents")
    parser.add_argument("--skip-big", action="store_true", help="skip the simulated end-to-end run")
    parser.add_argument("--big-workspace", help="reuse this workspace (e.g. built by harmmap demo --per-month 277778)")
    parser.add_argument("--size", type=int, help="simulated incidents when building the big workspace (default 10M)")
    parser.add_argument("--min-cells", type=int, help="smallest Gi* grid (default 100,000)")
    parser.add_argument("--profile", action="store_true", help="cProfile the simulated end-to-end run")
    args = parser.parse_args()
    min_cells = args.min_cells or (20_000 if args.quick else 100_000)
    size = args.size or (360_000 if args.quick else 10_000_000)
    repeat = 1 if args.quick else 3
    warnings.filterwarnings("ignore", module="libpysal")
    warnings.filterwarnings("ignore", module="esda")

    import esda
    import libpysal
    import scipy

    numba = importlib.util.find_spec("numba")
    numba_text = (f"numba {__import__('numba').__version__} (esda's permutations compiled)" if numba else
                  "NO numba: esda's permutations run in plain Python (slower than esda's intended setup)")
    print(f"harmmap scoring benchmark - {os.cpu_count()} cores, Python {platform.python_version()}, "
          f"numpy {np.__version__}, scipy {scipy.__version__}, pandas {pd.__version__}, esda {esda.__version__}, "
          f"libpysal {libpysal.__version__}, {numba_text}; load average {os.getloadavg()[0]:.2f} at start")
    grid = build_grid(min_cells)
    weights = build_esda_weights(grid)
    print(f"esda warm-up (numba compile of G_Local* and Moran_Local on 100 cells): {warm_esda():.1f} s, not counted")
    bench_analytic(grid, weights, repeat)
    bench_permutations(grid, weights, repeat, parallel=not args.quick)
    bench_moran(grid, weights, repeat, ["counts"] if args.quick else ["counts", "counts+noise"])
    with tempfile.TemporaryDirectory(prefix="bench-scoring-") as tmp:
        bench_leicestershire(Path(tmp))
        if not args.skip_big:
            bench_big(Path(tmp), args.big_workspace, size, args.profile)
    print_summary()


if __name__ == "__main__":
    main()
