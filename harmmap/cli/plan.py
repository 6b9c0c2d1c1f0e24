"""``harmmap plan patrol|deploy|stores``: turn forecasts and hot spot classes into plans, and export them."""

from __future__ import annotations

import os
from pathlib import Path

import click
import pandas as pd

from harmmap.cli.output import emit_json

EXPORTS = {".csv": "csv", ".xlsx": "xlsx", ".geojson": "geojson", ".json": "geojson", ".kml": "kml"}
SPEED_HELP = "Travel speed in km/h (default: by --mode: vehicle 24, cycle 12, foot 4.8)."


def _format(path: str) -> str:
    from harmmap.errors import ConfigError

    fmt = EXPORTS.get(Path(path).suffix.lower())
    if fmt is None:
        raise ConfigError("cannot tell the export format from the file name", given=path,
                          fix="end it in .csv, .xlsx, .geojson or .kml")
    return fmt


def export_rows(path: str, rows: pd.DataFrame, *, title: str, names: pd.Series, descriptions: pd.Series) -> None:
    """Write ``rows`` (with lat, lng, easting, northing) to ``path`` in the format its extension names."""
    import geopandas as gpd

    from harmmap.web.exports import write_export

    fmt = _format(path)
    rows = rows.reset_index(drop=True)
    points = gpd.GeoSeries(gpd.points_from_xy(rows["lng"], rows["lat"]), crs="EPSG:4326")
    body = write_export(fmt, rows, points, title=title, layer=title.split(":")[0].replace(" ", "_"),
                        names=names.reset_index(drop=True), descriptions=descriptions.reset_index(drop=True))
    target = Path(path)
    temp = target.with_name(f".{target.name}.tmp")
    temp.write_bytes(body if isinstance(body, bytes) else b"".join(body))
    os.replace(temp, target)


def _records(frame: pd.DataFrame) -> list[dict]:
    from harmmap.web.exports import json_records

    return json_records(frame)


def _area(ws, area: str | None):
    """The operation area named (by id or name), or None when no area is given."""
    from harmmap.analysis.plan import resolve_area

    return None if area is None else resolve_area(ws, area)


def _area_json(found) -> dict | None:
    return None if found is None else {"area_id": found.area_id, "name": found.name, "places": len(found.place_ids)}


def _echo_area(found) -> None:
    if found is not None:
        click.echo(f"limited to operation area {found.area_id} ({found.name}, {len(found.place_ids)} place(s))")


def _speed(mode: str, speed: float | None) -> float:
    from harmmap.plan.patrol import SPEEDS

    return SPEEDS[mode] if speed is None else speed


@click.group("plan")
def plan_group() -> None:
    """Plans from the latest trends run: patrols, team deployment, the persistent-crime store list."""


def _common(targets: bool = True):
    """Options every plan command shares (``targets``: also --kind and --weight)."""
    options = [
        click.option("--run", "run_id", help="Trends run id (default: the latest; see `harmmap runs`)."),
        click.option("--org", "org_id", help="Retailer organisation of the stores (default: all)."),
        click.option("--area", "area", metavar="NAME_OR_ID",
                     help="Limit the plan to an operation area's places (its cells and the stores inside them)."),
        click.option("--out", type=click.Path(dir_okay=False),
                     help="Export the plan: .csv or .xlsx (formula-safe, WGS84 and BNG), .geojson or .kml."),
        click.option("--json", "as_json", is_flag=True, help="Print the plan as JSON."),
    ]
    if targets:
        options[1:1] = [
            click.option("--kind", "kinds", multiple=True, help="Place kinds to use (default: all)."),
            click.option("--weight", type=click.Choice(["forecast", "harm", "incidents"]), default="forecast",
                         show_default=True,
                         help="What a target is worth: forecast harm, past harm, or incident count."),
        ]

    def decorate(command):
        for option in reversed(options):
            command = option(command)
        return command

    return decorate


@plan_group.command("patrol")
@click.option("--unit", type=click.Choice(["places", "cells", "stores"]), default="places", show_default=True,
              help="What teams visit.")
@click.option("--teams", default=2, show_default=True, type=click.IntRange(1, 200))
@click.option("--shift-minutes", "shift_minutes", default=480.0, show_default=True, type=click.FloatRange(1, 1440))
@click.option("--visit-minutes", "visit_minutes", default=15.0, show_default=True, type=click.FloatRange(1, 240),
              help="Minutes per visit (Koper curve: 10-15).")
@click.option("--revisit-minutes", "revisit_minutes", default=120.0, show_default=True,
              type=click.FloatRange(1, 1440), help="Each stop is visited once per this many minutes.")
@click.option("--mode", type=click.Choice(["vehicle", "cycle", "foot"]), default="vehicle", show_default=True)
@click.option("--speed", type=click.FloatRange(0.5, 200), help=SPEED_HELP)
@click.option("--detour", default=1.3, show_default=True, type=click.FloatRange(1, 5),
              help="Road distance over straight-line distance.")
@click.option("--candidates", default=200, show_default=True, type=click.IntRange(1, 5000),
              help="Targets with the most harm considered.")
@click.option("--shifts", default=1, show_default=True, type=click.IntRange(1, 60), help="Shifts to schedule.")
@click.option("--randomise/--fixed", default=False, show_default=True,
              help="Random loop start, direction and spare-time placement per shift (seeded).")
@click.option("--seed", default=0, show_default=True, type=int)
@click.option("--start", default="08:00", show_default=True, help="Clock time the shift starts (HH:MM).")
@_common()
@click.pass_obj
def patrol_command(obj, unit, teams, shift_minutes, visit_minutes, revisit_minutes, mode, speed, detour, candidates,
                   shifts, randomise, seed, start, run_id, kinds, org_id, area, weight, out, as_json) -> None:
    """Patrol plan: stops per team, visit order and times, dosage and share of forecast harm covered."""
    from harmmap.analysis.plan import plan_workspace_patrol
    from harmmap.plan.patrol import PatrolSettings
    from harmmap.store.workspace import open_workspace

    settings = PatrolSettings(teams=teams, shift_minutes=shift_minutes, visit_minutes=visit_minutes,
                              revisit_minutes=revisit_minutes, speed_kmh=_speed(mode, speed), detour=detour,
                              candidates=candidates, shifts=shifts, randomise=randomise)
    ws = open_workspace(obj["workspace"])
    found = _area(ws, area)
    outcome = plan_workspace_patrol(ws, settings, unit=unit, weight=weight, kinds=kinds or None, run_id=run_id,
                                    org_id=org_id, seed=seed, start=start,
                                    place_ids=found.place_ids if found else None)
    plan = outcome.plan
    if out:
        table = outcome.schedule if _format(out) in ("csv", "xlsx") else outcome.stops
        descriptions = (table["team"].map(lambda t: f"team {t}") + ", visits " + table["visit_times"].astype(str)
                        if "visit_times" in table else "team " + table["team"].astype(str) + " at " + table["arrive"])
        export_rows(out, table, title="patrol plan", names=table["name"].astype(str), descriptions=descriptions)
    summary = {"run_id": outcome.run_id, "unit": unit, "weight": weight, "area": _area_json(found),
               "rounds": plan.rounds,
               "harm_covered": plan.harm_covered, "harm_total": plan.harm_total, "share": plan.share,
               "seconds": round(plan.seconds, 3)}
    if as_json:
        emit_json(summary | {"teams": _records(plan.teams), "stops": _records(outcome.stops),
                             "schedule": _records(outcome.schedule)})
        return
    click.echo(f"patrol plan from trends run {outcome.run_id}: {teams} team(s), {len(outcome.stops)} stops, "
               f"{plan.rounds} visit(s) of {visit_minutes:g} min per stop per shift")
    _echo_area(found)
    click.echo(f"expected share of {weight} covered: {plan.share:.1%} ({plan.harm_covered:,.0f} of "
               f"{plan.harm_total:,.0f})")
    shown = outcome.stops[["team", "order", "name", "emerging_class", "harm", "visit_times"]]
    click.echo(shown.to_string(index=False, float_format=lambda v: f"{v:,.1f}"))
    if out:
        click.echo(f"written: {out}")


@plan_group.command("deploy")
@click.option("--teams", "k", default=5, show_default=True, type=click.IntRange(1, 100_000),
              help="Teams (sites) to place.")
@click.option("--demand", type=click.Choice(["cells", "places", "stores"]), default="cells", show_default=True,
              help="Where harm is (demand points).")
@click.option("--sites", type=click.Choice(["stores", "places", "cells"]), default="stores", show_default=True,
              help="Where teams can be based (candidate sites).")
@click.option("--radius", "radius_m", type=click.FloatRange(1, 1e6), help="Service radius in metres.")
@click.option("--minutes", type=click.FloatRange(0.1, 600), help="Service radius in travel minutes (instead).")
@click.option("--mode", type=click.Choice(["vehicle", "cycle", "foot"]), default="vehicle", show_default=True)
@click.option("--speed", type=click.FloatRange(0.5, 200), help=SPEED_HELP)
@click.option("--detour", default=1.3, show_default=True, type=click.FloatRange(1, 5))
@click.option("--capacity", type=click.FloatRange(0), help="Most demand points one team can serve (default: no limit).")
@click.option("--solver", type=click.Choice(["auto", "scip", "highs", "greedy"]), default="auto", show_default=True,
              help="auto: exact (SCIP) up to 2M demand-site pairs, greedy above.")
@click.option("--time-limit", "time_limit", default=30.0, show_default=True, type=click.FloatRange(0.1, 3600),
              help="Seconds for the exact solver.")
@_common()
@click.pass_obj
def deploy_command(obj, k, demand, sites, radius_m, minutes, mode, speed, detour, capacity, solver, time_limit,
                   run_id, kinds, org_id, area, weight, out, as_json) -> None:
    """Deployment: place K teams to cover the most harm within a radius (maximal covering location problem)."""
    from harmmap.analysis.plan import deploy_workspace
    from harmmap.store.workspace import open_workspace

    if radius_m is None and minutes is None:
        radius_m = 5000.0
    ws = open_workspace(obj["workspace"])
    found = _area(ws, area)
    outcome = deploy_workspace(ws, k, demand=demand, sites=sites, weight=weight, radius_m=radius_m, minutes=minutes,
                               speed_kmh=_speed(mode, speed), detour=detour, capacity=capacity, solver=solver,
                               time_limit_s=time_limit, kinds=kinds or None, run_id=run_id, org_id=org_id,
                               place_ids=found.place_ids if found else None)
    s = outcome.solution
    if out:
        table = outcome.sites
        export_rows(out, table, title="deployment", names=table["name"].astype(str),
                    descriptions="team " + table["team"].astype(str) + ": covers "
                    + table["demand_covered"].map(lambda v: f"{v:,.0f}") + f" {weight}")
    summary = {"run_id": outcome.run_id, "teams": k, "demand": demand, "sites": sites, "weight": weight,
               "area": _area_json(found),
               "radius_m": outcome.radius_m, "covered": s.covered_demand, "total": s.total_demand, "share": s.share,
               "upper_bound": s.upper_bound, "gap": s.gap, "solver": s.solver, "status": s.status, "bound": s.bound,
               "pairs": s.pairs, "seconds": round(s.seconds, 3), "notes": list(s.notes)}
    if as_json:
        emit_json(summary | {"chosen": _records(outcome.sites)})
        return
    click.echo(f"{len(outcome.sites)} of {k} team(s) placed among {sites} to cover {demand} within "
               f"{outcome.radius_m:,.0f} m: {s.share:.1%} of {weight} covered ({s.covered_demand:,.0f} of "
               f"{s.total_demand:,.0f})")
    _echo_area(found)
    click.echo(f"solver {s.solver}, {s.status}, gap {s.gap:.2%} against the {s.bound} bound "
               f"({s.upper_bound:,.0f}), {s.seconds:.2f} s, {s.pairs:,} demand-site pairs")
    for note in s.notes:
        click.echo(f"note: {note}")
    shown = outcome.sites[["team", "name", "kind", "demand_covered", "demand_points", "share_of_total"]]
    click.echo(shown.to_string(index=False, float_format=lambda v: f"{v:,.3g}"))
    if out:
        click.echo(f"written: {out}")


@plan_group.command("stores")
@click.option("--recent-months", "recent_months", default=6, show_default=True, type=click.IntRange(1, 60))
@click.option("--high-share", "high_share", default=10.0, show_default=True, type=click.FloatRange(0.1, 100),
              help="OWN_INCIDENTS_HIGH: top percent of stores by recent own harm.")
@click.option("--min-incidents", "min_incidents", default=3, show_default=True, type=click.IntRange(1),
              help="Recent own incidents needed for OWN_INCIDENTS_HIGH and _RISING.")
@click.option("--persistent-months", "persistent_months", default=12, show_default=True, type=click.IntRange(1, 120))
@click.option("--trend-alpha", "trend_alpha", default=0.05, show_default=True, type=click.FloatRange(0.0001, 0.5))
@click.option("--all", "show_all", is_flag=True, help="Also list stores without a reason code.")
@click.option("--top", default=30, show_default=True, type=click.IntRange(1), help="Rows printed.")
@_common(targets=False)
@click.pass_obj
def stores_command(obj, recent_months, high_share, min_incidents, persistent_months, trend_alpha, show_all, top,
                   run_id, org_id, area, out, as_json) -> None:
    """Persistent-crime store list: stores with localised, persistent or intensifying crime, with reason codes."""
    from harmmap.analysis.plan import list_workspace_stores
    from harmmap.plan.stores import StoreListSettings
    from harmmap.store.workspace import open_workspace

    settings = StoreListSettings(recent_months=recent_months, high_share=high_share / 100.0,
                                 min_incidents=min_incidents, persistent_months=persistent_months,
                                 trend_alpha=trend_alpha)
    ws = open_workspace(obj["workspace"])
    chosen = _area(ws, area)
    found = list_workspace_stores(ws, settings, org_id=org_id, run_id=run_id,
                                  place_ids=chosen.place_ids if chosen else None)
    table = found.stores if show_all else found.listed
    table = table.assign(cell=[format(int(c), "x") for c in table["cell"]])
    if out:
        export_rows(out, table, title="persistent-crime stores", names=table["name"].astype(str),
                    descriptions="rank " + table["rank"].astype(str) + ": " + table["reasons"].astype(str))
    if as_json:
        emit_json({"months": [found.months[0], found.months[-1]] if found.months else [], "listed": len(found.listed),
                   "stores": len(found.stores), "area": _area_json(chosen), "rows": _records(table)})
        return
    months = f"{found.months[0]}..{found.months[-1]}" if found.months else "no own incidents"
    click.echo(f"{len(found.listed)} of {len(found.stores)} stores listed (own incidents {months})")
    _echo_area(chosen)
    shown = table[["rank", "tier", "store_id", "name", "reasons", "own_incidents_recent", "own_harm_recent",
                   "cell_class"]].head(top)
    click.echo(shown.to_string(index=False, float_format=lambda v: f"{v:,.1f}"))
    if out:
        click.echo(f"written: {out}")


COMMANDS = [plan_group]
