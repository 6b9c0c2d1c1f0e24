"""Plans on the simulated workspace: harm-based plans cover the planted hot spots (against count and random plans)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from harmmap.analysis.plan import deploy_workspace, list_workspace_stores, load_targets, plan_workspace_patrol
from harmmap.errors import ConfigError, WorkspaceError
from harmmap.geo.crs import wgs84_to_bng
from harmmap.plan.patrol import PatrolSettings
from harmmap.plan.stores import SURROUNDINGS_CODES
from harmmap.scoring.harm import crime_type_to_offence, incidents_to_harm
from harmmap.store.incidents import read_incidents
from harmmap.store.workspace import init_workspace
from harmmap.weights import load_harm_weights


@pytest.fixture(scope="module")
def run_id(simulated_workspace):
    from harmmap.analysis.trends import trend_workspace
    from harmmap.scoring.trend_run import TrendSettings

    return trend_workspace(simulated_workspace, TrendSettings()).run_id


@pytest.fixture(scope="module")
def planted(simulated_workspace) -> dict[str, float]:
    """Harm of each planted cell's extra incidents over the last six simulated months (CCHI weights)."""
    truth = pd.read_csv(simulated_workspace.root / "simulated" / "truth" / "planted_hotspots.csv")
    extra = np.array([[int(v) for v in text.split(";")] for text in truth["extra_per_month"]])
    rows = pd.DataFrame({"crime_type": truth["crime_type"],
                         "offence": [crime_type_to_offence(c) for c in truth["crime_type"]]})
    harm = extra[:, -6:].sum(axis=1) * incidents_to_harm(rows, load_harm_weights("cchi"))
    return dict(zip(truth["cell"], harm))


def covered(planted: dict[str, float], cells) -> float:
    return float(sum(planted.get(c, 0.0) for c in cells))


def random_plans(planted, candidates: np.ndarray, size: int, draws: int = 500) -> np.ndarray:
    rng = np.random.default_rng(11)
    return np.array([covered(planted, rng.choice(candidates, size, replace=False)) for _ in range(draws)])


def test_patrol_plan_covers_the_planted_hot_spots(simulated_workspace, run_id, planted):
    settings = PatrolSettings(teams=4)
    plans = {w: plan_workspace_patrol(simulated_workspace, settings, unit="cells", weight=w, run_id=run_id)
             for w in ("forecast", "incidents")}
    by_harm, by_count = (covered(planted, plans[w].stops["target_id"]) for w in ("forecast", "incidents"))
    _, cells = load_targets(simulated_workspace, "cells", run_id=run_id)
    chance = random_plans(planted, cells.loc[cells["incidents_total"] > 0, "target_id"].to_numpy(),
                          len(plans["forecast"].stops))
    total = sum(planted.values())
    print(f"\nplanted-hot-spot harm (last 6 months, total {total:,.0f}) covered by a {settings.teams}-team patrol: "
          f"harm plan {by_harm:,.0f} ({by_harm / total:.1%}), count plan {by_count:,.0f} ({by_count / total:.1%}), "
          f"random plan mean {chance.mean():,.0f} (95th percentile {np.percentile(chance, 95):,.0f})")
    assert by_harm > 10 * chance.mean() and by_harm > np.percentile(chance, 99)
    assert by_harm > by_count
    plan = plans["forecast"].plan
    assert 0 < plan.share < 1 and plan.rounds == 4 and (plan.teams["spare_minutes"] >= -1e-6).all()
    stops = plans["forecast"].stops
    easting, northing = wgs84_to_bng(stops["lat"].to_numpy(), stops["lng"].to_numpy())
    assert np.allclose(easting, stops["easting"], atol=5) and np.allclose(northing, stops["northing"], atol=5)
    assert stops["visit_times"].str.count(":").eq(4).all() and stops["visit_times"].iloc[0].startswith("08:00")


def test_deployment_covers_the_planted_hot_spots(simulated_workspace, run_id, planted):
    results = {w: deploy_workspace(simulated_workspace, 10, demand="cells", sites="cells", radius_m=400, weight=w,
                                   run_id=run_id) for w in ("forecast", "incidents")}
    by_harm, by_count = (covered(planted, r.demand.loc[r.demand["covered"], "target_id"]) for r in results.values())
    best = results["forecast"]
    assert best.solution.status == "optimal" and best.solution.gap == 0 and len(best.sites) == 10
    _, cells = load_targets(simulated_workspace, "cells", run_id=run_id)
    rng = np.random.default_rng(5)
    from harmmap.plan.coverage import build_coverage

    xy = cells[["easting", "northing"]].to_numpy()
    chance = []
    for _ in range(200):
        sites = rng.choice(len(cells), 10, replace=False)
        reach = build_coverage(xy, xy[sites], 400.0).matrix.getnnz(axis=1) > 0
        chance.append(covered(planted, cells.loc[reach, "target_id"]))
    total = sum(planted.values())
    print(f"\nplanted-hot-spot harm covered by 10 sites (400 m): harm plan {by_harm:,.0f} ({by_harm / total:.1%}), "
          f"count plan {by_count:,.0f} ({by_count / total:.1%}), random mean {np.mean(chance):,.0f}")
    assert by_harm > 10 * np.mean(chance) and by_harm > by_count
    assert best.sites["demand_covered"].sum() == pytest.approx(best.solution.covered_demand)
    assert best.demand.loc[best.demand["covered"], "served_by"].isin(best.sites["target_id"]).all()


def test_deployment_to_stores_within_travel_minutes_with_capacities(simulated_workspace, run_id):
    outcome = deploy_workspace(simulated_workspace, 4, demand="stores", sites="stores", minutes=15, capacity=6,
                               run_id=run_id)
    assert outcome.radius_m == pytest.approx(15 * 24_000 / 60 / 1.3)
    assert (outcome.sites["demand_points"] <= 6).all() and outcome.solution.share > 0
    with pytest.raises(ConfigError):
        deploy_workspace(simulated_workspace, 4, radius_m=100, minutes=5, run_id=run_id)


def test_store_list_ranks_stores_with_reasons(simulated_workspace, run_id):
    found = list_workspace_stores(simulated_workspace, run_id=run_id)
    listed = found.listed
    assert 0 < len(listed) < len(found.stores) and listed["rank"].tolist() == list(range(1, len(listed) + 1))
    assert listed["tier"].is_monotonic_increasing
    tier_one = listed[listed["tier"] == 1]
    assert tier_one["cell_class"].isin(list(SURROUNDINGS_CODES)).all()
    own = read_incidents(simulated_workspace, ["store_id", "month"], sources=["retailer:acme"])
    last = pd.Period(found.months[-1], "M")
    recent = own[pd.to_datetime(own["month"]).dt.to_period("M") > last - 6]
    counts = recent.groupby(recent["store_id"].astype(str)).size()
    table = found.stores.set_index("store_id")
    assert table["own_incidents_recent"].to_dict() == {s: int(counts.get(s, 0)) for s in table.index}
    top = counts.idxmax()
    assert table.loc[top, "rank"] > 0 and "OWN_INCIDENTS_HIGH" in table.loc[top, "reasons"]


def test_places_and_stores_are_targets_with_coordinates(simulated_workspace, run_id):
    _, places = load_targets(simulated_workspace, "places", run_id=run_id)
    _, stores = load_targets(simulated_workspace, "stores", weight="incidents", run_id=run_id)
    assert len(places) == 33 and places["weight"].gt(0).all()
    assert stores["weight"].sum() == len(read_incidents(simulated_workspace, ["store_id"], sources=["retailer:acme"]))
    outcome = plan_workspace_patrol(simulated_workspace, PatrolSettings(teams=2, speed_kmh=60), run_id=run_id)
    assert outcome.stops["kind"].eq("town_centre").all() and outcome.plan.share > 0


def test_a_workspace_without_trends_says_what_to_run(tmp_path):
    ws = init_workspace(tmp_path / "empty")
    with pytest.raises(WorkspaceError, match="harmmap trends"):
        load_targets(ws, "cells")
