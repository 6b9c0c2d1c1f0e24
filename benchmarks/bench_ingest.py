"""Ingest benchmark: harmmap vs the naive path, side by side, in one run.

Measures parse + validate + geocode (H3 res 9, British National Grid, place
assignment) + durable store, in rows per second and peak memory (each path runs
in its own process so its peak RSS is its own):

* harmmap: ``harmmap.ingest.pipeline.ingest_files`` as ``harmmap ingest
  police-uk`` runs it (files in groups, a big file in pieces on two threads;
  pyarrow CSV, vectorised validation, h3ronpy, pyproj, Parquet segments +
  SQLite catalogue, the counted-row cache) followed by reading the incidents
  back and ``incidents_to_places`` against the place polygons;
* naive: ``pandas.read_csv``, a per-row ``h3.latlng_to_cell`` loop,
  ``GeoSeries.to_crs``, ``geopandas.sjoin`` with the polygons, ``DataFrame.to_sql``.

Data: the 35 Leicestershire months (../shared/data) against the 326 English
districts; a simulated single police.uk file of N rows (default 10M) against
the simulator's town centres; and the same N rows in the bulk-download layout
(one file per force and month, ~500 files of ~20k rows, as a national
download has).  The naive path on the simulated data runs on its first
``--naive-rows`` rows (default 1M) and is compared in rows/s.

Each path runs ``--repeat`` times (fresh process and workspace each time) and
the median run is reported, with the spread: this 2-core machine's timings
vary by 10-30 % from run to run.

    python benchmarks/bench_ingest.py [--rows 10000000] [--naive-rows 1000000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"

HARMMAP = r"""
import json, resource, sys, time
def peak_mb():  # VmHWM: this process's own peak RSS (ru_maxrss can include the parent's at fork)
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
from pathlib import Path
t0 = time.perf_counter()
from harmmap.geo.places import read_places
from harmmap.ingest.pipeline import ingest_files
from harmmap.ingest.police_uk import POLICE_UK_PIECES, read_police_uk
from harmmap.ingest.sources import expand_paths
from harmmap.store.assign import incidents_to_places
from harmmap.store.incidents import read_incidents
from harmmap.store.places import save_places
from harmmap.store.workspace import init_workspace
ws_dir, places_path, name_field = sys.argv[1], sys.argv[2], sys.argv[3]
paths = sys.argv[4:]
import shutil; shutil.rmtree(ws_dir, ignore_errors=True)  # a fresh workspace for every run
ws = init_workspace(ws_dir)
save_places(ws, read_places(places_path, kind="custom", name_field=name_field).places, "bench")
start = time.perf_counter()
report = ingest_files(ws, "police_uk", expand_paths(paths), read_police_uk, pieces=POLICE_UK_PIECES).to_dict()
stored = time.perf_counter()
incidents = read_incidents(ws, ["incident_id", "easting", "northing"])
assigned = incidents_to_places(ws, incidents)
end = time.perf_counter()
print(json.dumps({"rows": report["rows_read"], "accepted": report["accepted"], "seconds": end - start,
                  "ingest_seconds": stored - start, "places_seconds": end - stored, "assigned": len(assigned),
                  "peak_mb": peak_mb()}))
"""

NAIVE = r"""
import gzip, json, resource, sqlite3, sys, time
def peak_mb():  # VmHWM: this process's own peak RSS (ru_maxrss can include the parent's at fork)
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
import geopandas as gpd, h3, pandas as pd
places_path, limit = sys.argv[1], int(sys.argv[2])
paths = sys.argv[3:]
places = gpd.read_file(places_path).to_crs(27700)
start = time.perf_counter()
frames, total = [], 0
for p in paths:
    frame = pd.read_csv(p, nrows=limit - total if limit else None)
    frames.append(frame)
    total += len(frame)
    if limit and total >= limit:
        break
df = pd.concat(frames, ignore_index=True)
rows = len(df)
df = df[df["Longitude"].notna() & df["Latitude"].notna()].copy()
df["cell"] = [h3.latlng_to_cell(lat, lng, 9) for lat, lng in zip(df["Latitude"], df["Longitude"])]
points = gpd.GeoDataFrame(df, geometry=gpd.points_from_xy(df["Longitude"], df["Latitude"]), crs=4326).to_crs(27700)
df["easting"], df["northing"] = points.geometry.x, points.geometry.y
joined = gpd.sjoin(points, places[["geometry"]], predicate="within", how="left")
conn = sqlite3.connect("naive.sqlite")
conn.execute("PRAGMA journal_mode=WAL"); conn.execute("PRAGMA synchronous=FULL")
df.to_sql("incidents", conn, if_exists="replace", index=False, chunksize=50_000)
conn.commit(); conn.close()
end = time.perf_counter()
print(json.dumps({"rows": rows, "accepted": len(df), "seconds": end - start, "assigned": int(joined["index_right"].notna().sum()),
                  "peak_mb": peak_mb()}))
"""


def run(script: str, args: list[str], cwd: Path, repeat: int = 1) -> dict:
    """Run ``script`` ``repeat`` times; return the median run by seconds, with all the times."""
    runs = []
    for _ in range(repeat):
        out = subprocess.run([sys.executable, "-c", script, *args], cwd=cwd, check=True, capture_output=True,
                             text=True)
        runs.append(json.loads(out.stdout.strip().splitlines()[-1]))
    runs.sort(key=lambda r: r["seconds"])
    return runs[len(runs) // 2] | {"all_seconds": [round(r["seconds"], 2) for r in runs]}


def compare(label: str, ours: dict, naive: dict) -> None:
    ours_rate = ours["rows"] / ours["seconds"]
    naive_rate = naive["rows"] / naive["seconds"]
    print(f"\n== {label}")
    print(f"{'path':<10}{'rows':>12}{'seconds':>10}{'rows/s':>12}{'peak MB':>10}")
    print(f"{'harmmap':<10}{ours['rows']:>12,}{ours['seconds']:>10.2f}{ours_rate:>12,.0f}{ours['peak_mb']:>10,.0f}")
    print(f"{'naive':<10}{naive['rows']:>12,}{naive['seconds']:>10.2f}{naive_rate:>12,.0f}{naive['peak_mb']:>10,.0f}")
    print(f"ratio (rows/s harmmap / naive): {ours_rate / naive_rate:.1f}x;"
          f" harmmap store {ours['ingest_seconds']:.2f} s + read back and places {ours['places_seconds']:.2f} s")
    print(f"runs (s): harmmap {ours['all_seconds']}, naive {naive['all_seconds']}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--naive-rows", type=int, default=1_000_000)
    parser.add_argument("--skip-simulated", action="store_true")
    parser.add_argument("--repeat", type=int, default=3, help="runs per path; the median is reported")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-ingest-") as tmp:
        tmp = Path(tmp)
        leics = sorted(str(p) for p in (SHARED / "police_uk" / "leicestershire").glob("*.csv.gz"))
        lads = str(SHARED / "boundaries" / "local_authority_districts" / "england_lad_2011_gen.shp")
        ours = run(HARMMAP, [str(tmp / "ws-leics"), lads, "name", *leics], tmp, args.repeat)
        naive = run(NAIVE, [lads, "0", *leics], tmp, args.repeat)
        compare(f"Leicestershire, 35 monthly files (.csv.gz), {len(leics)} files x 326 districts", ours, naive)
        if args.skip_simulated:
            return
        from harmmap.simulate import simulate

        months = 36
        started = time.perf_counter()
        summary = simulate(tmp / "sim", seed=7, months=months, incidents_per_month=args.rows // months,
                           single_file=True)
        print(f"\n(simulated {args.rows:,} rows in {time.perf_counter() - started:.1f} s)")
        big = str(tmp / "sim" / "police_uk" / "simulated-street.csv")
        centres = str(tmp / "sim" / "boundaries" / "town_centres.geojson")
        ours = run(HARMMAP, [str(tmp / "ws-sim"), centres, "name", big], tmp, args.repeat)
        naive = run(NAIVE, [centres, str(args.naive_rows), big], tmp, args.repeat)
        compare(f"simulated single police.uk CSV (naive on the first {args.naive_rows:,} rows)", ours, naive)
        del summary
        shutil.rmtree(tmp / "sim")
        simulate(tmp / "bulk", seed=7, months=months, incidents_per_month=args.rows // months)
        files = sorted(str(p) for p in (tmp / "bulk" / "police_uk").rglob("*-street.csv"))
        centres = str(tmp / "bulk" / "boundaries" / "town_centres.geojson")
        ours = run(HARMMAP, [str(tmp / "ws-bulk"), centres, "name", str(tmp / "bulk" / "police_uk")], tmp, args.repeat)
        naive = run(NAIVE, [centres, str(args.naive_rows), *files], tmp, args.repeat)
        compare(f"simulated bulk-download layout, {len(files)} monthly force files"
                f" (naive on the first {args.naive_rows:,} rows)", ours, naive)


if __name__ == "__main__":
    main()
