"""End to end through the CLI: simulate, places, stores, police.uk + retailer ingest, links, status."""

from __future__ import annotations

import json

from click.testing import CliRunner

from harmmap.cli import main


def run(*args):
    result = CliRunner().invoke(main, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result


def test_demo_builds_a_workspace_and_is_idempotent(tmp_path):
    ws = str(tmp_path / "ws")
    status = json.loads(run("--workspace", ws, "demo", "--months", "6", "--per-month", "800", "--no-serve", "--json").stdout)
    incidents = status["incidents"]
    assert incidents["months"]["count"] == 6
    assert status["places_by_kind"] == {"town_centre": 33}
    assert status["stores_by_org"]["acme"] > 0
    police = next(s for s in status["sources"] if s["source"] == "police_uk")
    assert police["rows_read"] == police["accepted"] + police["rejected"] == 6 * 800
    linked = incidents["not_counted_by_reason"].get("linked_to_retailer", 0)
    assert linked > 0  # planted police refs in the retailer file are counted once
    assert incidents["counted"] == incidents["stored"] - sum(incidents["not_counted_by_reason"].values())
    scoring = status["scoring"]
    assert scoring["totals"]["incidents"] == incidents["counted"]
    assert scoring["grid"]["hot_cells_95"] > 0  # the planted hotspots show up
    again = json.loads(run("--workspace", ws, "demo", "--months", "6", "--per-month", "800", "--no-serve", "--json").stdout)
    assert again["incidents"] == incidents  # re-running adds nothing
    assert again["scoring"]["run_id"] != scoring["run_id"]
    assert again["scoring"]["totals"] == scoring["totals"]  # same data, same seed: same run


def test_cli_flow_with_places_stores_and_retailer_file(tmp_path):
    ws = str(tmp_path / "ws")
    sim = tmp_path / "sim"
    run("simulate", "--out", str(sim), "--seed", "3", "--months", "3", "--per-month", "600", "--towns", "4")
    run("--workspace", ws, "init")
    places = json.loads(run("--workspace", ws, "places", "import", str(sim / "boundaries" / "town_centres.geojson"),
                            "--kind", "town_centre", "--name-field", "name", "--code-field", "code", "--json").stdout)
    assert places["imported"] == 4
    stores = json.loads(run("--workspace", ws, "stores", "import", str(sim / "stores" / "acme_stores.csv"),
                            "--org", "acme", "--json").stdout)
    assert stores["rows_read"] == stores["accepted"] + stores["rejected"] and stores["accepted"] > 0
    police = json.loads(run("--workspace", ws, "ingest", "police-uk", str(sim / "police_uk"), "--json").stdout)
    assert police["rows_read"] == 1800
    retail = json.loads(run("--workspace", ws, "ingest", "incidents", str(sim / "retailer" / "acme_incidents.csv"),
                            "--org", "acme", "--mapping", str(sim / "retailer" / "acme_mapping.toml"), "--json").stdout)
    summary = json.loads((sim / "truth" / "summary.json").read_text())
    assert retail["linked"] == summary["police_retailer_links"]
    assert retail["rows_read"] == retail["accepted"] + retail["rejected"]
    again = json.loads(run("--workspace", ws, "ingest", "incidents", str(sim / "retailer" / "acme_incidents.csv"),
                           "--org", "acme", "--mapping", str(sim / "retailer" / "acme_mapping.toml"), "--json").stdout)
    assert again["duplicates_skipped"] == 1
    listed = json.loads(run("--workspace", ws, "places", "list", "--json").stdout)
    assert {p["kind"] for p in listed} == {"town_centre"}


def test_places_import_of_real_boundaries(shared_data, tmp_path):
    ws = str(tmp_path / "ws")
    run("--workspace", ws, "init")
    centre = shared_data / "boundaries" / "manchester_city_centre" / "mcr_city_centre.geojson"
    out = json.loads(run("--workspace", ws, "places", "import", str(centre), "--kind", "town_centre",
                         "--json").stdout)
    assert out["imported"] == 1
    listed = json.loads(run("--workspace", ws, "places", "list", "--json").stdout)
    assert 3.8 < listed[0]["area_km2"] < 4.2  # BNG coordinates read through the legacy GeoJSON crs member
    wards = shared_data / "boundaries" / "london" / "London_Ward_2018.shp"
    result = json.loads(run("--workspace", ws, "places", "import", str(wards), "--kind", "ward",
                            "--name-field", "NAME", "--code-field", "GSS_CODE", "--json").stdout)
    assert result["imported"] == 657
    bad = CliRunner().invoke(main, ["--workspace", ws, "places", "import", str(wards), "--kind", "ward",
                                    "--name-field", "NOPE"])
    assert bad.exit_code == 2 and "NAME" in bad.output  # lists the available fields
