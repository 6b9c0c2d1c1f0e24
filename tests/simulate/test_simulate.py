"""Tests of the seeded simulator (small sizes: 3 towns, 4 months, 800 rows a month)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import h3
import numpy as np
import pandas as pd
import pytest
import shapely

from harmmap.errors import ConfigError
from harmmap.ingest.police_uk import read_police_uk
from harmmap.simulate import SimulationSummary, simulate
from harmmap.simulate.boundaries import COMMITTED_PATH, towns_to_geojson
from harmmap.simulate.patterns import build_profile
from harmmap.simulate.towns import TOWNS

HEADER = (b"Crime ID,Month,Reported by,Falls within,Longitude,Latitude,Location,LSOA code,LSOA name,"
          b"Crime type,Last outcome category,Context\r\n")
SMALL = dict(seed=11, months=4, start_month="2023-11", incidents_per_month=800, towns=3)


@pytest.fixture(scope="module")
def sim(tmp_path_factory) -> tuple[Path, SimulationSummary]:
    out = tmp_path_factory.mktemp("sim")
    return out, simulate(out, **SMALL)


@pytest.fixture(scope="module")
def police(sim) -> pd.DataFrame:
    out, summary = sim
    frames = [pd.read_csv(out / f, dtype=str, keep_default_na=False).assign(file=f)
              for f in summary.files if f.startswith("police_uk/")]
    return pd.concat(frames, ignore_index=True)


def read_all(out: Path) -> dict[str, bytes]:
    return {p.relative_to(out).as_posix(): p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()}


def test_same_seed_gives_identical_bytes(sim, tmp_path):
    out, summary = sim
    again = simulate(tmp_path, **SMALL)
    first, second = read_all(out), read_all(tmp_path)
    assert first.keys() == second.keys()
    assert first == second  # every file, summary.json included, whatever the folder
    assert again.files == summary.files


def test_different_seed_differs(sim, tmp_path):
    out, _ = sim
    simulate(tmp_path, **{**SMALL, "seed": 12})
    first, second = read_all(out), read_all(tmp_path)
    for name in ("police_uk/2023-11/2023-11-leicestershire-street.csv", "retailer/acme_incidents.csv",
                 "truth/planted_hotspots.csv"):
        assert first[name] != second[name]
    assert first["boundaries/town_centres.geojson"] == second["boundaries/town_centres.geojson"]


def test_layout_and_file_names(sim):
    out, summary = sim
    listed = set(summary.files)
    assert listed == set(read_all(out))
    monthly = sorted(f for f in listed if f.startswith("police_uk/"))
    assert monthly == [f"police_uk/{m}/{m}-leicestershire-street.csv" for m in ("2023-11", "2023-12", "2024-01", "2024-02")]
    assert {"retailer/acme_incidents.csv", "retailer/acme_mapping.toml", "stores/acme_stores.csv",
            "boundaries/town_centres.geojson", "truth/planted_hotspots.csv", "truth/summary.json"} <= listed


def test_police_files_have_exact_header_crlf_and_parse(sim):
    out, summary = sim
    for name in (f for f in summary.files if f.startswith("police_uk/")):
        data = (out / name).read_bytes()
        assert data.startswith(HEADER)
        assert data.endswith(b"\r\n") and data.count(b"\n") == data.count(b"\r\n")
        data.decode("utf-8")
        result = read_police_uk(data, Path(name).name)
        no_location = data.count(b",,No Location,,")
        assert set(result.rejects["reason"]) <= {"no_location"}
        assert len(result.rejects) == no_location > 0
        assert len(result.incidents) + no_location == data.count(b"\r\n") - 1
        assert result.partition_keys == (f"police_uk/leicestershire-police/{name[10:17]}",)


def test_police_rows_look_like_police_uk(police):
    assert set(police["Month"]) == {"2023-11", "2023-12", "2024-01", "2024-02"}
    assert set(police["Reported by"]) == set(police["Falls within"]) == {"Leicestershire Police"}
    located = police[police["Location"] != "No Location"]
    assert located["Longitude"].str.fullmatch(r"-?\d+\.\d{6}").all()
    assert located["Latitude"].str.fullmatch(r"5\d\.\d{6}").all()
    assert located["Location"].str.startswith("On or near ").all()
    assert located["LSOA code"].str.fullmatch(r"E01\d{6}").all()
    assert located["LSOA name"].str.fullmatch(r"(Leicester|Loughborough|Hinckley) \d{3}[A-D]").all()
    missing = police[police["Location"] == "No Location"]
    assert (missing[["Longitude", "Latitude", "LSOA code", "LSOA name"]] == "").all().all()
    assert 0.01 < len(missing) / len(police) < 0.04
    # snapped to a finite set of map points: coordinates repeat heavily
    assert located.groupby(["Longitude", "Latitude"]).ngroups < len(located) / 3
    shares = police["Crime type"].value_counts(normalize=True)
    assert 0.25 < shares["Violence and sexual offences"] < 0.42 and 0.08 < shares["Anti-social behaviour"] < 0.16
    assert (police["Context"] == "").all()


def test_asb_rows_have_blank_id_and_outcome_and_some_are_identical(police):
    asb = police["Crime type"] == "Anti-social behaviour"
    assert (police.loc[asb, "Crime ID"] == "").all() and (police.loc[asb, "Last outcome category"] == "").all()
    assert police.loc[~asb, "Crime ID"].str.fullmatch(r"[0-9a-f]{64}").all()
    assert police.loc[~asb, "Crime ID"].is_unique
    assert (police.loc[~asb, "Last outcome category"] != "").all()
    assert police[asb].duplicated().sum() > 0


def test_counts_reconcile_with_files(sim, police):
    out, summary = sim
    assert summary.police_rows == len(police) == SMALL["months"] * SMALL["incidents_per_month"]
    retailer = pd.read_csv(out / "retailer/acme_incidents.csv", dtype=str, keep_default_na=False)
    stores = pd.read_csv(out / "stores/acme_stores.csv", dtype=str, keep_default_na=False)
    truth = pd.read_csv(out / "truth/planted_hotspots.csv", dtype=str, keep_default_na=False)
    assert summary.retailer_rows == len(retailer) and summary.stores == len(stores)
    assert summary.planted_cells == len(truth) >= 5
    assert set(truth["pattern"]) == {"persistent", "new", "intensifying", "diminishing", "sporadic"}
    assert set(retailer["Store No"]) <= set(stores["store_id"])
    saved = json.loads((out / "truth/summary.json").read_text())
    expected = {key: value for key, value in summary.__dict__.items() if key != "out_dir"}
    assert saved == {**expected, "files": list(summary.files)}


def test_retailer_file_format(sim):
    out, _ = sim
    data = (out / "retailer/acme_incidents.csv").read_bytes()
    assert data.startswith(b"Incident Ref,Incident Date,Incident Time,Store No,Store Name,Category,Value (GBP),"
                           b"Injury,Weapon,Police Ref,Latitude,Longitude\r\n")
    retailer = pd.read_csv(out / "retailer/acme_incidents.csv", dtype=str, keep_default_na=False)
    assert retailer["Incident Date"].str.fullmatch(r"\d\d/\d\d/20\d\d").all()
    pd.to_datetime(retailer["Incident Date"], format="%d/%m/%Y")
    assert retailer["Incident Time"].str.fullmatch(r"([01]\d|2[0-3]):[0-5]\d").all()
    assert set(retailer["Injury"]) | set(retailer["Weapon"]) <= {"Y", "N"}
    assert set(retailer["Category"]) <= {"Theft", "Violence against staff", "Abuse against staff", "Criminal damage",
                                         "Robbery", "Burglary", "Fraud", "Anti-social behaviour"}
    values = retailer.loc[retailer["Value (GBP)"] != "", "Value (GBP)"]
    assert values.str.fullmatch(r"\d+\.\d\d").all() and len(values) > 0
    assert retailer["Incident Ref"].is_unique
    mapping = (out / "retailer/acme_mapping.toml").read_text()
    assert 'police_ref = "Police Ref"' in mapping and "dayfirst = true" in mapping


def test_police_refs_link_to_police_rows_of_the_same_month_near_the_store(sim, police):
    out, summary = sim
    retailer = pd.read_csv(out / "retailer/acme_incidents.csv", dtype=str, keep_default_na=False)
    stores = pd.read_csv(out / "stores/acme_stores.csv", dtype=str, keep_default_na=False)
    ids = set(police["Crime ID"]) - {""}
    linked = retailer[retailer["Police Ref"].isin(ids)]
    assert len(linked) == summary.police_retailer_links > 0
    assert 0.08 < len(linked) / len(retailer) < 0.25
    joined = linked.merge(police, left_on="Police Ref", right_on="Crime ID").merge(
        stores, left_on="Store No", right_on="store_id")
    assert len(joined) == len(linked)
    assert (joined["Month"] == joined["Incident Date"].str[6:] + "-" + joined["Incident Date"].str[3:5]).all()
    assert (joined["Latitude_y"] == joined["lat"]).all() and (joined["Longitude_y"] == joined["lng"]).all()
    assert set(joined["Crime type"]) <= {"Shoplifting", "Violence and sexual offences", "Public order",
                                         "Criminal damage and arson", "Robbery", "Burglary"}


def test_planted_cells_lie_in_town_centres_and_hold_their_profile(sim, police):
    out, _ = sim
    truth = pd.read_csv(out / "truth/planted_hotspots.csv", dtype=str, keep_default_na=False)
    features = json.loads((out / "boundaries/town_centres.geojson").read_text())["features"]
    polygons = {f["properties"]["name"]: shapely.geometry.shape(f["geometry"]) for f in features}
    located = police[police["Location"] != "No Location"]
    cells = np.array([h3.latlng_to_cell(float(a), float(b), 9) for a, b in zip(located["Latitude"], located["Longitude"])])
    for row in truth.itertuples():
        lat, lng = h3.cell_to_latlng(row.cell)
        assert polygons[row.town].contains(shapely.Point(lng, lat)), row.cell
        profile = [int(c) for c in row.extra_per_month.split(";")]
        assert len(profile) == SMALL["months"] and float(row.base_rate) >= 6
        here = located[(cells == row.cell) & (located["Crime type"] == row.crime_type)]
        per_month = here["Month"].value_counts().reindex(sorted(set(police["Month"])), fill_value=0)
        assert (per_month.to_numpy() >= np.array(profile)).all(), row.cell


def test_planted_cells_stand_out_from_their_town_centre(sim, police):
    out, _ = sim
    truth = pd.read_csv(out / "truth/planted_hotspots.csv", dtype=str, keep_default_na=False)
    features = json.loads((out / "boundaries/town_centres.geojson").read_text())["features"]
    polygons = {f["properties"]["name"]: shapely.geometry.shape(f["geometry"]) for f in features}
    located = police[police["Location"] != "No Location"]
    lat, lng = located["Latitude"].astype(float).to_numpy(), located["Longitude"].astype(float).to_numpy()
    cells = np.array([h3.latlng_to_cell(a, b, 9) for a, b in zip(lat, lng)])
    months = sorted(set(police["Month"]))
    for row in truth.itertuples():
        elevated = np.array([int(c) for c in row.extra_per_month.split(";")]) > 0
        here = pd.Series(located["Month"].to_numpy()[cells == row.cell]).value_counts().reindex(months, fill_value=0)
        others = shapely.contains_xy(polygons[row.town], lng, lat) & ~np.isin(cells, truth["cell"])
        centre_mean = others.sum() / len(set(cells[others])) / len(months)
        assert here.to_numpy()[elevated].mean() > 1.5 * centre_mean, row.cell


def test_stores_sit_in_town_centres(sim):
    out, summary = sim
    stores = pd.read_csv(out / "stores/acme_stores.csv", dtype={"store_id": str})
    features = json.loads((out / "boundaries/town_centres.geojson").read_text())["features"]
    centres = shapely.union_all([shapely.geometry.shape(f["geometry"]) for f in features])
    assert shapely.contains_xy(centres, stores["lng"], stores["lat"]).all()
    assert len(stores) == summary.stores >= 2 * SMALL["towns"] and stores["store_id"].is_unique


def test_boundaries_match_the_committed_file(sim):
    out, _ = sim
    assert COMMITTED_PATH.read_text(encoding="utf-8") == towns_to_geojson(TOWNS)
    assert (out / "boundaries/town_centres.geojson").read_text() == towns_to_geojson(TOWNS[:3])
    features = json.loads(COMMITTED_PATH.read_text())["features"]
    assert 20 <= len(features) <= 40 and COMMITTED_PATH.stat().st_size < 200_000
    for feature, town in zip(features, TOWNS):
        ring = np.array(feature["geometry"]["coordinates"][0])
        dy = (ring[:, 1] - town.lat) * 111_320
        dx = (ring[:, 0] - town.lng) * 111_320 * np.cos(np.radians(town.lat))
        assert (np.hypot(dx, dy) > 395).all() and (np.hypot(dx, dy) < 905).all()
        assert shapely.geometry.shape(feature["geometry"]).is_valid


def test_single_file_holds_all_rows(tmp_path):
    summary = simulate(tmp_path, seed=3, months=2, incidents_per_month=500, towns=10, single_file=True)
    assert [f for f in summary.files if f.startswith("police_uk/")] == ["police_uk/simulated-street.csv"]
    data = (tmp_path / "police_uk/simulated-street.csv").read_bytes()
    assert data.startswith(HEADER) and data.count(HEADER) == 1
    assert data.count(b"\r\n") - 1 == summary.police_rows == 1000
    result = read_police_uk(data, "simulated-street.csv")
    forces = {key.split("/")[1] for key in result.partition_keys}
    assert forces == {"leicestershire-police", "nottinghamshire-police", "derbyshire-constabulary"}
    assert set(result.rejects["reason"]) == {"no_location"}


@pytest.mark.parametrize("pattern", ["persistent", "new", "intensifying", "diminishing", "sporadic"])
def test_profiles_follow_their_pattern(pattern):
    rng = np.random.default_rng(5)
    months = 36
    for _ in range(20):
        profile = build_profile(pattern, 30.0, months, rng)
        on = profile > 0
        thirds = profile[:12].mean(), profile[-12:].mean()
        trend = np.corrcoef(np.flatnonzero(on), profile[on])[0, 1] if on.sum() > 2 else 0.0
        if pattern == "persistent":
            assert on.all()
        elif pattern == "new":
            assert on[-1] and not on[:-1].any()
        elif pattern == "intensifying":
            assert on.mean() >= 0.9 and on[-1] and thirds[1] > 1.7 * thirds[0] and trend > 0.6
        elif pattern == "diminishing":
            assert on.mean() >= 0.9 and on[-1] and thirds[0] > 1.7 * thirds[1] and trend < -0.6
        else:
            assert 0.15 < on.mean() < 0.7 and on[-1] and not on[-2] and on[:-2].any()


def test_bad_arguments_raise_config_errors(tmp_path):
    with pytest.raises(ConfigError, match="start_month"):
        simulate(tmp_path, seed=1, start_month="Jan 2022")
    with pytest.raises(ConfigError, match="towns"):
        simulate(tmp_path, seed=1, towns=99)
    with pytest.raises(ConfigError, match="org_id"):
        simulate(tmp_path, seed=1, org_id="a/b")
    assert not any(tmp_path.iterdir())


def test_town_table_has_real_centres():
    assert 20 <= len(TOWNS) <= 40
    leicester = TOWNS[0]
    assert (leicester.name, leicester.lat, leicester.lng, leicester.force) == ("Leicester", 52.6345, -1.1316,
                                                                                "Leicestershire Police")
    assert all(49.9 < t.lat < 55.8 and -6 < t.lng < 1.8 for t in TOWNS)
    assert len({t.name for t in TOWNS}) == len(TOWNS)
    assert all(re.fullmatch(r"[a-z-]+", t.force_slug) for t in TOWNS)
