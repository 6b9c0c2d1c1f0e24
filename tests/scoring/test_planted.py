"""Are planted hotspots found?  Recall and false discovery rate against known ground truth.

Two sources of truth:

1. The simulator (``harmmap.simulate``), end to end: simulate -> workspace -> ingest -> ``score_workspace``.
   Its truth file lists the planted cells and their monthly extra incidents.  Its *background* is not
   flat (crime follows town size and is densest in town centres), so a dense city centre is a real
   hot spot although nothing was planted there.  The false discovery rate is therefore measured two
   ways: as the brief defines it (a hot cell more than k rings from every planted cell), printed for
   the record, and against the simulator's expected intensity (a hot cell whose expected
   neighbourhood harm is not above the study-area average: the null hypothesis Gi* rejects), asserted.
2. A flat Poisson background on a zero-filled grid with planted cells, through ``score`` directly:
   there the planted cells are the only true hot spots and the brief's definition is exact.

Run with ``pytest -s`` to see the figures.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import h3
import numpy as np
import pandas as pd
import pytest

from harmmap.analysis.score import load_inputs, score_workspace
from harmmap.geo.grid import buffer_cells, cells_to_neighbours
from harmmap.geo.places import read_places
from harmmap.ingest.mapping import load_mapping
from harmmap.ingest.pipeline import ingest_files
from harmmap.ingest.police_uk import read_police_uk
from harmmap.ingest.retailer import read_retailer_incidents
from harmmap.ingest.sources import expand_paths
from harmmap.ingest.stores import read_stores
from harmmap.schema import CRIME_TYPES, SOURCE_POLICE_UK
from harmmap.scoring.harm import crime_type_to_offence, incidents_to_harm
from harmmap.scoring.pipeline import ScoringInputs, ScoringSettings, score
from harmmap.simulate import simulate
from harmmap.simulate.generate import _TYPE_MIX, build_months, build_scenario
from harmmap.simulate.towns import select_towns
from harmmap.store.incidents import read_incidents
from harmmap.store.places import load_stores, save_places, save_stores
from harmmap.store.workspace import init_workspace
from harmmap.weights import load_harm_weights

SEED, MONTHS, PER_MONTH, START = 7, 12, 5_000, "2022-01"
K = 1
MONTH_LABELS = [str(m) for m in build_months(START, MONTHS)]
FULL, LAST = np.arange(MONTHS), np.array([MONTHS - 1])
PATTERNS = ("persistent", "intensifying", "diminishing", "new", "sporadic")


# --- the simulated world ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class World:
    ws: object
    truth: pd.DataFrame  # one row per planted cell: cell (uint64), pattern, crime_type, profile (array per month)
    scenario: object  # the simulator's fixed scenario (background shares, planted profiles, retailer log)


def build_workspace(root: Path):
    """As ``harmmap.cli.demo.build_demo`` does, but police.uk in one file (a fifth of the ingest time)."""
    ws = init_workspace(root / "ws")
    sim = root / "sim"
    summary = simulate(sim, seed=SEED, months=MONTHS, start_month=START, incidents_per_month=PER_MONTH,
                       single_file=True)
    places = read_places(sim / "boundaries" / "town_centres.geojson", kind="town_centre", name_field="name",
                         code_field="code")
    save_places(ws, places.places, "simulated town centres")
    org = summary.org_id
    save_stores(ws, org, read_stores(sim / "stores" / f"{org}_stores.csv", org_id=org).stores)
    ingest_files(ws, SOURCE_POLICE_UK, expand_paths([sim / "police_uk" / "simulated-street.csv"]), read_police_uk)
    mapping = load_mapping(sim / "retailer" / f"{org}_mapping.toml")
    incidents = sim / "retailer" / f"{org}_incidents.csv"
    stores = load_stores(ws, org)
    ingest_files(ws, "retailer:" + org, expand_paths([incidents]),
                 lambda data, name: read_retailer_incidents(incidents, org_id=org, mapping=mapping, stores=stores))
    return ws, sim


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> World:
    ws, sim = build_workspace(tmp_path_factory.mktemp("planted"))
    truth = pd.read_csv(sim / "truth" / "planted_hotspots.csv")
    truth["cell"] = np.array([h3.str_to_int(c) for c in truth["cell"]], dtype=np.uint64)
    truth["profile"] = [np.array(p.split(";"), dtype=np.int64) for p in truth["extra_per_month"]]
    # simulate() draws its scenario first from default_rng(seed): rebuilding it gives the same world
    scenario = build_scenario(select_towns(None), build_months(START, MONTHS), PER_MONTH, np.random.default_rng(SEED))
    assert np.array_equal(np.sort(scenario.planted.cell), np.sort(truth["cell"].to_numpy()))
    return World(ws, truth, scenario)


def crime_type_weights(weights) -> np.ndarray:
    """Harm of one police.uk row of each crime type (CRIME_TYPES order)."""
    rows = pd.DataFrame({"crime_type": list(CRIME_TYPES), "offence": [crime_type_to_offence(c) for c in CRIME_TYPES]})
    return incidents_to_harm(rows, weights)


def expected_harm(world: World, weights, months: np.ndarray, cells: np.ndarray) -> np.ndarray:
    """Expected harm per study cell over ``months``: background expectation + planted + retailer incidents.

    Only the background is random month to month (``generate_month``); planted profiles and the
    retailer's log are fixed in the scenario, so they enter as they are.  Police rows linked to a
    retailer incident are not counted (the retailer row is), so they are left out.
    """
    scenario, points = world.scenario, world.scenario.points
    retailer = scenario.retailer
    planted_per_month = scenario.planted.profile.sum(axis=0)
    linked_per_month = np.bincount(retailer.month[retailer.linked], minlength=MONTHS)
    background_rows = np.maximum(0, PER_MONTH - planted_per_month - linked_per_month)[months].sum()
    share = np.diff(np.r_[0.0, scenario.point_cdf])
    mix = _TYPE_MIX / _TYPE_MIX.sum(axis=1, keepdims=True)
    per_row = (mix @ crime_type_weights(weights))[points.in_centre.astype(int)]
    located = ~points.no_location
    harm = pd.Series(background_rows * share[located] * per_row[located]).groupby(points.cell[located]).sum()
    planted = world.truth
    planted_harm = crime_type_weights(weights)[[CRIME_TYPES.index(c) for c in planted["crime_type"]]]
    planted_harm = planted_harm * np.array([p[months].sum() for p in planted["profile"]])
    harm = harm.add(pd.Series(planted_harm, index=planted["cell"].to_numpy()), fill_value=0.0)
    shops = read_incidents(world.ws, ["cell", "month", "crime_type", "offence", "injury", "weapon", "value_gbp"],
                           sources=["retailer:*"])
    in_window = np.isin(shops["month"].to_numpy(dtype="datetime64[M]"), build_months(START, MONTHS)[months])
    shops = shops[in_window]
    harm = harm.add(pd.Series(incidents_to_harm(shops, weights)).groupby(shops["cell"].to_numpy(np.uint64)).sum(),
                    fill_value=0.0)
    return harm.reindex(cells, fill_value=0.0).to_numpy()


@dataclass(frozen=True)
class Figures:
    hot: int
    recall: dict[str, float]  # per pattern
    recall_by_type: dict[str, float]
    fdr_planted: float  # brief's definition: hot and more than K rings from every planted cell
    fdr_intensity: float  # hot although the expected neighbourhood harm is not above average

    def show(self, label: str) -> None:
        recall = ", ".join(f"{p} {self.recall[p]:.2f}" for p in PATTERNS)
        print(f"\n[{label}] hot cells {self.hot}; recall {recall}; FDR (brief: > {K} rings from planted) "
              f"{self.fdr_planted:.3f}; FDR (vs expected intensity) {self.fdr_intensity:.3f}")
        print(f"[{label}] recall by planted crime type: "
              + ", ".join(f"{t} {r:.2f}" for t, r in self.recall_by_type.items()))


def measure(world: World, weights: str, months: np.ndarray) -> Figures:
    window = (MONTH_LABELS[months[0]], MONTH_LABELS[months[-1]])
    settings = ScoringSettings(weights=weights, k=K, window=window, permutations=99, replicates=20, seed=1)
    run = score_workspace(world.ws, settings)
    grid = load_inputs(world.ws, settings).study_cells
    cells = run.result.cells
    assert run.result.metadata["k"] == K and run.result.metadata["grid"]["cells"] == grid.size
    hot = np.isin(grid, cells.loc[cells["gi_bin"] >= 2, "cell"].to_numpy(np.uint64))
    # grid_distance <= K to some planted cell  <=>  inside the K-disk of some planted cell
    near_planted = np.isin(grid, buffer_cells(world.truth["cell"].to_numpy(), K))
    expected = expected_harm(world, load_harm_weights(weights), months, grid)
    neighbours = cells_to_neighbours(grid, K)
    above_average = neighbours @ expected + expected > (np.diff(neighbours.indptr) + 1) * expected.mean()
    found = world.truth.assign(hot=np.isin(world.truth["cell"].to_numpy(), grid[hot]))
    n_hot = int(hot.sum())
    return Figures(
        hot=n_hot, recall=found.groupby("pattern")["hot"].mean().to_dict(),
        recall_by_type=found.groupby("crime_type")["hot"].mean().to_dict(),
        fdr_planted=float((hot & ~near_planted).sum() / max(n_hot, 1)),
        fdr_intensity=float((hot & ~above_average).sum() / max(n_hot, 1)))


@pytest.fixture(scope="module")
def figures(world):
    cache: dict[tuple[str, str], Figures] = {}

    def get(weights: str, months: np.ndarray, label: str) -> Figures:
        key = (weights, label)
        if key not in cache:
            cache[key] = measure(world, weights, months)
            cache[key].show(f"{weights}, {label}")
        return cache[key]

    return get


# --- simulator: count weights -------------------------------------------------------------------------------------


def test_count_weights_find_the_lasting_patterns_over_the_whole_period(world, figures):
    # Measured (seeds 1, 2, 3, 4, 7; 12 months x 5,000): persistent, intensifying and diminishing recall 1.00
    # every time; new 0.76-0.82 (one elevated month out of twelve); sporadic 0.81-0.94 (on ~40 % of months
    # at >= 3x the background is still a hot spot of the year's total).  FDR against the expected
    # intensity 0.000; by the brief's planted-only definition 0.51-0.53, because the dense centres of the
    # big towns (Birmingham weighs 1,100, Market Harborough 24) are genuine hot spots of the background.
    got = figures("count", FULL, "all 12 months")
    for pattern in ("persistent", "intensifying", "diminishing"):
        assert got.recall[pattern] >= 0.9, pattern
    assert got.recall["new"] >= 0.6 and got.recall["sporadic"] >= 0.6
    assert got.fdr_intensity <= 0.05  # BH at 5 %; measured 0.000
    assert got.hot > len(world.truth)


def test_count_weights_find_new_hotspots_in_the_last_month(world, figures):
    # A "new" hotspot exists only in the final month (2.5x the base rate): scored over that month alone
    # it is found every time (measured recall 1.00 for seeds 1, 2, 3, 4, 7; persistent 0.82-0.94).
    got = figures("count", LAST, "last month")
    assert got.recall["new"] >= 0.9
    assert got.recall["persistent"] >= 0.7 and got.recall["intensifying"] >= 0.7
    assert got.fdr_intensity <= 0.05  # measured 0.000


def test_sporadic_cells_off_in_a_month_are_found_less_often(world, figures):
    # The truth for a window is the planted count inside it: sporadic cells switched off in a month have
    # only background there.  They are still often hot, because every planted cell sits in a town centre
    # whose background is itself dense; they are found less often than the sporadic cells that were on.
    # (A middle month: the simulator always switches sporadic cells on in the final month, as ArcGIS's
    # definition of a sporadic hot spot requires, and off in the month before.)
    middle = MONTHS // 2
    figures("count", np.array([middle]), "a middle month")
    settings = ScoringSettings(weights="count", k=K, window=(MONTH_LABELS[middle],) * 2, permutations=99,
                               replicates=20, seed=1)
    cells = score_workspace(world.ws, settings).result.cells
    hot = set(cells.loc[cells["gi_bin"] >= 2, "cell"].tolist())
    sporadic = world.truth[world.truth["pattern"] == "sporadic"]
    on = np.array([p[middle] > 0 for p in sporadic["profile"]])
    found = sporadic["cell"].isin(hot).to_numpy()
    print(f"\n[count, {MONTH_LABELS[middle]}] sporadic cells on in that month found {found[on].mean():.2f} "
          f"({on.sum()}), off {found[~on].mean():.2f} ({(~on).sum()})")
    assert on.any() and (~on).any()
    assert found[on].mean() >= found[~on].mean()


# --- simulator: cchi weights --------------------------------------------------------------------------------------


def test_cchi_weights_find_the_harmful_plantings(world, figures):
    # Under the Cambridge Crime Harm Index a planted hotspot is a *harm* hotspot only if its crime is
    # harmful: one background robbery (365 days) outweighs a year of planted shoplifting (1 day each,
    # ~6-15 a month) and anti-social behaviour weighs 0.  So the planted robbery cells are found
    # (measured recall 1.00 for seeds 1, 2, 3, 4, 7, whatever their pattern), the others mostly are not
    # (per-pattern recall 0.06-0.31): that is the harm weighting doing its job, not a miss.
    # FDR against the expected cchi intensity 0.000; by the brief's planted-only definition 0.02-0.28
    # (robbery, weapon and injury incidents at stores and in the background are real harm clusters).
    got = figures("cchi", FULL, "all 12 months")
    assert got.recall_by_type["Robbery"] >= 0.9
    assert got.recall_by_type.get("Anti-social behaviour", 0.0) <= 0.5  # weight 0: only found by its neighbours
    assert got.fdr_intensity <= 0.05  # measured 0.000


def test_cchi_weights_over_one_month_report_single_incident_hotspots(world, figures):
    # Not a pass/fail figure: over a single month, analytic Gi* calls the whole 1-ring of a lone
    # robbery (or weapon/injury incident, 182.5-365 days) "hot at 95 %" after FDR, because the normal
    # approximation ignores how skewed harm is.  Measured FDR against the expected intensity: 0.146
    # (seed 7), 0.215 (seed 1), 0.000 (seeds 2, 3, 4); significance="permutation" calls none of them.
    got = figures("cchi", LAST, "last month")
    assert got.hot >= 0


# --- flat background: the planted cells are the only truth --------------------------------------------------------


CENTRE = h3.str_to_int(h3.latlng_to_cell(52.6344, -1.1318, 9))
FLAT_GRID = buffer_cells(np.array([CENTRE], dtype=np.uint64), 30)  # 2,791 cells
INNER = buffer_cells(np.array([CENTRE], dtype=np.uint64), 26)
NO_PLACES = pd.DataFrame({"place_id": [], "kind": [], "name": [], "code": [], "area_km2": [], "stores": []})
COUNT = {"count": load_harm_weights("count")}


def spread_cells(rng: np.random.Generator, n: int, apart: int = 6) -> np.ndarray:
    """``n`` random cells away from the grid's edge, at least ``apart`` rings from each other."""
    chosen: list[str] = []
    for cell in rng.permutation(INNER):
        text = h3.int_to_str(int(cell))
        if all(h3.grid_distance(text, other) >= apart for other in chosen):
            chosen.append(text)
        if len(chosen) == n:
            break
    return np.array(sorted(h3.str_to_int(c) for c in chosen), dtype=np.uint64)


def flat_run(seed: int, background: float, extra: float, n_planted: int,
             significance: str = "analytic") -> tuple[float, int, int]:
    """Score a Poisson(background) grid with ``n_planted`` cells given Poisson(extra) more; (recall, false, hot)."""
    rng = np.random.default_rng(seed)
    planted = spread_cells(rng, n_planted) if n_planted else np.empty(0, dtype=np.uint64)
    counts = rng.poisson(background, FLAT_GRID.size)
    counts[np.searchsorted(FLAT_GRID, planted)] += rng.poisson(extra, planted.size)
    incidents = pd.DataFrame({"cell": np.repeat(FLAT_GRID, counts), "month": pd.Timestamp("2024-01-01"),
                              "crime_type": "Shoplifting", "offence": "shoplifting"})
    inputs = ScoringInputs(incidents, np.empty(0, np.int64), np.empty(0, np.int64), NO_PLACES,
                           np.empty(0, np.int64), np.empty(0, np.uint64), FLAT_GRID, COUNT)
    result = score(inputs, ScoringSettings(weights="count", k=K, period="all", permutations=0, replicates=10,
                                           significance=significance, draws=19_999, place_draws=99))
    hot = result.cells.loc[result.cells["gi_bin"] >= 2, "cell"].to_numpy(np.uint64)
    false = int((~np.isin(hot, buffer_cells(planted, K))).sum())
    recall = float(np.isin(planted, hot).mean()) if n_planted else float("nan")
    return recall, false, int(hot.size)


def test_flat_background_strong_plantings_are_found_without_false_alarms():
    # 12 cells with Poisson(30) extra on Poisson(2) cells, 20 seeds.  Measured: recall 0.89, FDR 0.000
    # (the ~76 hot cells per run are the planted cells and their rings: within K rings, so true).
    runs = [flat_run(seed, 2.0, 30.0, 12) for seed in range(20)]
    recall = np.mean([r for r, _, _ in runs])
    fdr = np.mean([f / max(h, 1) for _, f, h in runs])
    print(f"\n[flat, strong] recall {recall:.3f}, mean FDR {fdr:.4f}, hot cells per run "
          f"{np.mean([h for _, _, h in runs]):.1f}")
    assert recall >= 0.85
    assert fdr <= 0.05


def test_flat_background_weak_plantings_keep_the_false_discovery_rate():
    # Poisson(10) extra on Poisson(2), 40 seeds: few plantings are found (measured recall 0.12) but the
    # share of false alarms among the hot cells stays under the nominal 5 % of BH (measured mean FDR 0.034;
    # 0.043 over the first 20 seeds only, 0.027 over 60: the mean is noisy, hence 40).
    runs = [flat_run(seed, 2.0, 10.0, 12) for seed in range(40)]
    recall = np.mean([r for r, _, _ in runs])
    fdr = np.mean([f / max(h, 1) for _, f, h in runs])
    print(f"\n[flat, weak] recall {recall:.3f}, mean FDR {fdr:.4f}")
    assert fdr <= 0.05


def test_flat_background_without_plantings_rarely_calls_anything_hot():
    # Under complete spatial randomness every hot call is false, so FDR = P(any hot cell); BH at 5 %
    # (two-sided) bounds it by 0.05.  With 20 incidents per cell the normal approximation holds:
    # measured 0 of 40 runs here (3 of 40 with other seeds).  With sparse counts, as most res-9 cells
    # are, it does not: Poisson(2) per cell ~6 of 40 runs, Poisson(0.3) 14 of 20 here (30 of 40 with
    # other seeds).  The analytic sparse figure is printed, not asserted: it is the documented limitation
    # of the normal approximation (metadata["normal_approximation"] flags it); the exact randomisation
    # test must keep the nominal rate there.
    dense = [flat_run(seed, 20.0, 0.0, 0) for seed in range(40)]
    sparse = [flat_run(seed, 0.3, 0.0, 0) for seed in range(20)]
    exact = [flat_run(seed, 0.3, 0.0, 0, significance="randomisation") for seed in range(20)]
    dense_rate = np.mean([h > 0 for _, _, h in dense])
    sparse_rate = np.mean([h > 0 for _, _, h in sparse])
    exact_rate = np.mean([h > 0 for _, _, h in exact])
    print(f"\n[flat, no plantings] runs with a false hot cell: Poisson(20) {dense_rate:.3f}, "
          f"Poisson(0.3) analytic {sparse_rate:.3f}, randomisation {exact_rate:.3f} (nominal <= 0.05)")
    assert dense_rate <= 0.1
    assert exact_rate <= 0.1
    assert sparse_rate > exact_rate  # the failure the randomisation option exists for


def test_runs_say_when_the_normal_approximation_is_not_adequate():
    # 7-cell neighbourhoods (k=1): 0.3 incidents per cell -> ~2.1 per neighbourhood (< 5, flagged);
    # 20 per cell -> ~140 (adequate).
    flags = {}
    for background in (0.3, 20.0):
        counts = np.random.default_rng(1).poisson(background, FLAT_GRID.size)
        incidents = pd.DataFrame({"cell": np.repeat(FLAT_GRID, counts), "month": pd.Timestamp("2024-01-01"),
                                  "crime_type": "Shoplifting", "offence": "shoplifting"})
        inputs = ScoringInputs(incidents, np.empty(0, np.int64), np.empty(0, np.int64), NO_PLACES,
                               np.empty(0, np.int64), np.empty(0, np.uint64), FLAT_GRID, COUNT)
        meta = score(inputs, ScoringSettings(weights="count", k=1, period="all", permutations=0, replicates=10,
                                             draws=999, place_draws=99)).metadata
        flags[background] = meta["normal_approximation"]
    assert flags[0.3]["neighbourhood_cells"] == 7
    assert abs(flags[0.3]["expected_incidents_per_neighbourhood"] - 0.3 * 7) < 0.3
    assert flags[0.3]["adequate"] is False and flags[20.0]["adequate"] is True
