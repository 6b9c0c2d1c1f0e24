"""Run the simulator and write its files.

Layout under ``out_dir``::

    police_uk/YYYY-MM/YYYY-MM-<force>-street.csv   police.uk street-level format (CRLF)
    police_uk/simulated-street.csv                 instead, with single_file=True
    retailer/<org>_incidents.csv, <org>_mapping.toml
    stores/<org>_stores.csv
    boundaries/town_centres.geojson
    truth/planted_hotspots.csv, truth/summary.json
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa

from harmmap.errors import ConfigError
from harmmap.geo.cells import cells_to_strings
from harmmap.schema import CRIME_TYPES
from harmmap.simulate.boundaries import write_town_centres
from harmmap.simulate.generate import OUTCOMES, MonthRows, Scenario, build_months, build_scenario, generate_month
from harmmap.simulate.lines import (
    bytes_to_hex, integers_to_text, join_fields, quote_field, strings_to_array, take_text, write_lines,
)
from harmmap.simulate.retailer import CATEGORIES
from harmmap.simulate.towns import select_towns

POLICE_HEADER = ("Crime ID,Month,Reported by,Falls within,Longitude,Latitude,Location,LSOA code,LSOA name,"
                 "Crime type,Last outcome category,Context")
RETAILER_HEADER = ("Incident Ref,Incident Date,Incident Time,Store No,Store Name,Category,Value (GBP),Injury,"
                   "Weapon,Police Ref,Latitude,Longitude")
SINGLE_FILE = "police_uk/simulated-street.csv"
MAPPING_TOML = """[columns]
source_ref = "Incident Ref"
date = "Incident Date"
time = "Incident Time"
category = "Category"
store_id = "Store No"
location_text = "Store Name"
value_gbp = "Value (GBP)"
injury = "Injury"
weapon = "Weapon"
police_ref = "Police Ref"
lat = "Latitude"
lng = "Longitude"
[format]
dayfirst = true
"""


@dataclass(frozen=True)
class SimulationSummary:
    """What :func:`simulate` wrote; ``files`` are paths relative to ``out_dir``."""

    out_dir: str
    seed: int
    months: int
    org_id: str
    police_rows: int
    retailer_rows: int
    stores: int
    planted_cells: int
    police_retailer_links: int
    files: tuple[str, ...]


def simulate(out_dir, *, seed: int, months: int = 36, start_month: str = "2022-01",
             incidents_per_month: int = 20_000, towns: int | None = None, org_id: str = "acme",
             single_file: bool = False) -> SimulationSummary:
    """Write a seeded synthetic data set with planted hotspots and its ground truth.

    Parameters
    ----------
    out_dir : str or Path
        Folder to write into (created if missing).
    seed : int
        The same seed (and arguments) gives byte-identical files.
    months, start_month : int, str
        Number of months and the first one (``YYYY-MM``).
    incidents_per_month : int
        police.uk rows per month (background + planted + store-linked).
    towns : int, optional
        Use only the first ``towns`` towns of :data:`harmmap.simulate.towns.TOWNS`.
    org_id : str
        Retailer organisation id, used in file names.
    single_file : bool
        Write all police.uk rows into ``police_uk/simulated-street.csv``.

    Returns
    -------
    SimulationSummary
    """
    month_values = _check_arguments(seed, months, start_month, incidents_per_month, org_id)
    out = Path(out_dir)
    rng = np.random.default_rng(seed)
    scenario = build_scenario(select_towns(towns), month_values, int(incidents_per_month), rng)
    files, police_rows = _write_police(out, scenario, rng, single_file)
    files += _write_retailer(out, scenario, org_id)
    files.append(_write_stores(out, scenario, org_id))
    write_town_centres(out / "boundaries" / "town_centres.geojson", scenario.towns)
    files.append("boundaries/town_centres.geojson")
    files.append(_write_truth(out, scenario))
    files.append("truth/summary.json")
    summary = SimulationSummary(
        out_dir=str(out), seed=int(seed), months=int(months), org_id=org_id, police_rows=police_rows,
        retailer_rows=len(scenario.retailer.store), stores=len(scenario.stores.store_id),
        planted_cells=len(scenario.planted.cell), police_retailer_links=int(scenario.retailer.linked.sum()),
        files=tuple(sorted(files)),
    )
    saved = {key: value for key, value in asdict(summary).items() if key != "out_dir"}  # keep the file seed-only
    (out / "truth" / "summary.json").write_bytes((json.dumps(saved, indent=2) + "\n").encode("utf-8"))
    return summary


def _check_arguments(seed, months, start_month, per_month, org_id) -> np.ndarray:
    if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool) or seed < 0:
        raise ConfigError("seed must be a non-negative integer", given=seed, fix="pass e.g. seed=7")
    if int(months) < 1 or int(per_month) < 1:
        raise ConfigError("months and incidents_per_month must be at least 1",
                          given=f"months={months}, incidents_per_month={per_month}", fix="pass positive numbers")
    if not org_id or not all(c.isalnum() or c in "-_" for c in org_id):
        raise ConfigError("org_id must be letters, digits, '-' or '_'", given=repr(org_id), fix="e.g. org_id='acme'")
    try:
        return build_months(start_month, int(months))
    except ValueError:
        raise ConfigError("start_month is not YYYY-MM", given=repr(start_month), fix="e.g. '2022-01'") from None


def _point_text(scenario: Scenario) -> tuple[list[str], np.ndarray]:
    """police.uk ``Longitude..LSOA name`` text of each map point, and the order points appear in a file."""
    p = scenario.points
    text = [
        ",,No Location,," if np.isnan(lat) else f"{lng:.6f},{lat:.6f},{quote_field(loc)},{code},{quote_field(name)}"
        for lat, lng, loc, code, name in zip(p.lat, p.lng, p.location, p.lsoa_code, p.lsoa_name)
    ]
    rank = np.empty(len(text), dtype="int64")
    rank[np.lexsort((p.location, p.lsoa_code, p.no_location, p.town))] = np.arange(len(text))
    return text, rank


def _write_police(out: Path, scenario: Scenario, rng: np.random.Generator, single_file: bool) -> tuple[list[str], int]:
    points_text, rank = _point_text(scenario)
    force_of_point = np.array([scenario.towns[t].force for t in scenario.points.town], dtype=object)
    slugs = sorted({t.force_slug for t in scenario.towns})
    force_code = np.array([slugs.index(scenario.towns[t].force_slug) for t in scenario.points.town])
    tail = strings_to_array(
        [f"{t},{'' if o < 0 else OUTCOMES[o]},\r\n" for t in CRIME_TYPES for o in range(-1, len(OUTCOMES))]
    )
    files, total, single = [], 0, None
    if single_file:
        (out / "police_uk").mkdir(parents=True, exist_ok=True)
        single = open(out / SINGLE_FILE, "wb")
        single.write((POLICE_HEADER + "\r\n").encode())
        files.append(SINGLE_FILE)
    try:
        for m, month in enumerate(scenario.months):
            rows = generate_month(scenario, m, rng)
            order = np.lexsort((rank[rows.point], force_code[rows.point]))
            head = strings_to_array(f",{month},{f},{f},{t}," for f, t in zip(force_of_point, points_text))
            lines = _police_lines(rows, order, head, tail)
            total += len(lines)
            if single is not None:
                write_lines(single, lines)
                continue
            files += _write_month_files(out, month, slugs, force_code[rows.point[order]], lines)
    finally:
        if single is not None:
            single.close()
    return files, total


def _police_lines(rows: MonthRows, order: np.ndarray, head: pa.Array, tail: pa.Array) -> pa.Array:
    point, crime_type, outcome = rows.point[order], rows.crime_type[order], rows.outcome[order]
    crime_id = bytes_to_hex(rows.crime_id[order], crime_type != CRIME_TYPES.index("Anti-social behaviour"))
    tail_code = crime_type * (len(OUTCOMES) + 1) + outcome + 1
    return join_fields([crime_id, take_text(head, point), take_text(tail, tail_code)], separator="")


def _write_month_files(out: Path, month: str, slugs: list[str], force: np.ndarray, lines: pa.Array) -> list[str]:
    folder = out / "police_uk" / month
    folder.mkdir(parents=True, exist_ok=True)
    bounds = np.searchsorted(force, np.arange(len(slugs) + 1))
    names = []
    for code, slug in enumerate(slugs):
        start, stop = bounds[code], bounds[code + 1]
        if stop == start:
            continue
        name = f"police_uk/{month}/{month}-{slug}-street.csv"
        with open(out / name, "wb") as stream:
            stream.write((POLICE_HEADER + "\r\n").encode())
            write_lines(stream, lines.slice(start, stop - start))
        names.append(name)
    return names


def _write_retailer(out: Path, scenario: Scenario, org_id: str) -> list[str]:
    r, s = scenario.retailer, scenario.stores
    months = scenario.months
    dates = strings_to_array(f"{d:02d}/{m[5:7]}/{m[:4]}" for m in months for d in range(1, 32))
    times = strings_to_array(f"{h:02d}:{mi:02d}" for h in range(24) for mi in range(60))
    store_text = strings_to_array(f"{i},{quote_field(n)}" for i, n in zip(s.store_id, s.name))
    coords = strings_to_array(f"{lat:.6f},{lng:.6f}" for lat, lng in zip(s.lat, s.lng))
    flags = strings_to_array(["N,N", "N,Y", "Y,N", "Y,Y"])
    value = join_fields([integers_to_text(np.maximum(r.value_pence, 0) // 100),
                         integers_to_text(np.maximum(r.value_pence, 0) % 100, 2)], separator=".")
    value = pa.compute.if_else(pa.array(r.value_pence < 0), pa.scalar("", value.type), value)
    lines = join_fields([
        join_fields([f"{org_id.upper()}-", integers_to_text(np.arange(1, len(r.store) + 1), 7)], separator=""),
        take_text(dates, r.month * 31 + r.day), take_text(times, r.minute), take_text(store_text, r.store),
        take_text(strings_to_array(CATEGORIES), r.category), value,
        take_text(flags, 2 * r.injury.astype(int) + r.weapon.astype(int)), _police_refs(r, months),
        take_text(coords, r.store),
    ], end="\r\n")
    folder = out / "retailer"
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / f"{org_id}_incidents.csv", "wb") as stream:
        stream.write((RETAILER_HEADER + "\r\n").encode())
        write_lines(stream, lines)
    (folder / f"{org_id}_mapping.toml").write_bytes(MAPPING_TOML.encode())
    return [f"retailer/{org_id}_incidents.csv", f"retailer/{org_id}_mapping.toml"]


def _police_refs(r, months: tuple[str, ...]) -> pa.Array:
    """Linked rows: the police Crime ID; force-ref rows: a crime number like ``CR/0012345/22``; others blank."""
    link_row = np.cumsum(r.linked) - 1
    full = np.zeros((len(r.store), 32), dtype="uint8")
    full[r.linked] = r.link_id[link_row[r.linked]]
    linked = bytes_to_hex(full, r.linked)
    years = strings_to_array(f"/{m[2:4]}" for m in months)
    number = (r.month * 7919 + r.day * 104729 + r.minute * 31 + r.store) % 9_000_000 + 1_000_000
    force = join_fields(["CR/", integers_to_text(number, 7), take_text(years, r.month)], separator="")
    return pa.compute.if_else(pa.array(r.force_ref), force, linked)


def _write_stores(out: Path, scenario: Scenario, org_id: str) -> str:
    s = scenario.stores
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["store_id", "name", "lat", "lng", "postcode"])
    writer.writerows([i, n, f"{lat:.6f}", f"{lng:.6f}", pc] for i, n, lat, lng, pc in
                     zip(s.store_id, s.name, s.lat, s.lng, s.postcode))
    name = f"stores/{org_id}_stores.csv"
    (out / "stores").mkdir(parents=True, exist_ok=True)
    (out / name).write_bytes(buffer.getvalue().encode())
    return name


def _write_truth(out: Path, scenario: Scenario) -> str:
    """Write one row per planted cell; ``extra_per_month`` is the planted count of each month, ``;``-joined."""
    p = scenario.planted
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["cell", "town", "pattern", "crime_type", "base_rate", "extra_per_month"])
    for cell, town, pattern, kind, rate, profile in zip(
        cells_to_strings(p.cell), p.town, p.pattern, p.crime_type, p.base_rate, p.profile
    ):
        writer.writerow([cell, scenario.towns[town].name, pattern, CRIME_TYPES[kind], f"{rate:.1f}",
                         ";".join(str(int(c)) for c in profile)])
    (out / "truth").mkdir(parents=True, exist_ok=True)
    (out / "truth" / "planted_hotspots.csv").write_bytes(buffer.getvalue().encode())
    return "truth/planted_hotspots.csv"
