"""``harmmap places import|list`` and ``harmmap stores import|list``."""

from __future__ import annotations

import contextlib

import click

from harmmap.cli.ingest import parse_column_flags
from harmmap.cli.output import emit_json
from harmmap.store.catalog import check_org_id
from harmmap.store.incidents import read_incidents
from harmmap.store.places import load_places, load_stores, save_places, save_stores
from harmmap.store.workspace import connect, open_workspace, transaction

KINDS = ["town_centre", "lsoa", "ward", "custom"]


@click.group("places")
def places_group() -> None:
    """Place boundaries: town centres, LSOAs, wards, custom areas."""


@places_group.command("import")
@click.argument("path")
@click.option("--kind", type=click.Choice(KINDS), required=True)
@click.option("--name-field", help="Attribute holding the place name (guessed if omitted).")
@click.option("--code-field", help="Attribute holding the place code (e.g. LSOA11CD).")
@click.option("--layer", help="Layer of a multi-layer GeoPackage.")
@click.option("--crs", help="CRS of a layer that declares none, e.g. EPSG:27700.")
@click.option("--tolerance", type=click.FloatRange(0, 500), default=None,
              help="Snap points up to this many metres outside a place into the nearest one.")
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
def import_command(obj, path, kind, name_field, code_field, layer, crs, tolerance, as_json) -> None:
    """Import boundaries (GeoJSON, GeoPackage, Shapefile; any CRS) as places."""
    from harmmap.geo.places import read_places
    from harmmap.store.assign import incidents_to_places

    ws = open_workspace(obj["workspace"])
    read = read_places(path, kind=kind, name_field=name_field, code_field=code_field, layer=layer, crs=crs)
    count = save_places(ws, read.places, str(path))
    if tolerance is not None:
        with contextlib.closing(connect(ws)) as conn, transaction(conn):
            conn.execute("INSERT OR REPLACE INTO meta(key, value) VALUES ('place_tolerance_m', ?)", (str(tolerance),))
    incidents = read_incidents(ws, ["incident_id", "easting", "northing"])
    assigned = incidents_to_places(ws, incidents, kinds=[kind])
    in_place = assigned[assigned["place_id"].isin(read.places["place_id"])]
    summary = {"imported": count, "kind": kind, "repaired": list(read.repaired), "dropped": list(read.dropped),
               "notes": list(read.notes), "incidents_in_these_places": int(in_place["incident_id"].nunique()),
               "incidents_total": len(incidents)}
    if as_json:
        emit_json(summary)
        return
    click.echo(f"imported {count} {kind} places from {path}")
    for name in read.repaired:
        click.echo(f"  repaired invalid geometry: {name}")
    for item in read.dropped:
        click.echo(f"  dropped: {item}")
    for note in read.notes:
        click.echo(f"  note: {note}")
    click.echo(f"incidents inside these places: {summary['incidents_in_these_places']:,} of {len(incidents):,}")


@places_group.command("list")
@click.option("--kind", type=click.Choice(KINDS))
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
def list_places(obj, kind, as_json) -> None:
    """List stored places."""
    places = load_places(open_workspace(obj["workspace"]), [kind] if kind else None)
    rows = places.drop(columns="geometry").to_dict("records")
    if as_json:
        emit_json(rows)
        return
    for row in rows:
        click.echo(f"{row['place_id']:<40} {row['name']:<40} {row['area_km2']:>8.2f} km2")


@click.group("stores")
def stores_group() -> None:
    """An organisation's store list."""


@stores_group.command("import")
@click.argument("path")
@click.option("--org", "org_id", required=True)
@click.option("--postcodes", type=click.Path(exists=True, dir_okay=False), help="Postcode lookup CSV.")
@click.option("--column", "columns", multiple=True, help="FIELD=COLUMN (store_id, name, lat, lng, ...).")
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
def import_stores(obj, path, org_id, postcodes, columns, as_json) -> None:
    """Import a store list (CSV, XLSX or GeoJSON: id, name and lat/lng, BNG or postcode)."""
    from harmmap.ingest.postcodes import read_postcode_lookup
    from harmmap.ingest.stores import read_stores

    ws = open_workspace(obj["workspace"])
    check_org_id(org_id)
    lookup = read_postcode_lookup(postcodes) if postcodes else None
    read = read_stores(path, org_id=org_id, postcodes=lookup, columns=parse_column_flags(columns) or None)
    count = save_stores(ws, org_id, read.stores)
    reasons = read.rejects["reason"].value_counts().to_dict()
    summary = {"rows_read": read.rows_read, "accepted": count, "rejected": len(read.rejects),
               "rejected_by_reason": reasons}
    if as_json:
        emit_json(summary)
        return
    click.echo(f"stores: {read.rows_read} rows read = {count} imported + {len(read.rejects)} rejected")
    for reason, n in reasons.items():
        click.echo(f"  rejected {reason}: {n}")
    for row in read.rejects.head(20).itertuples():
        click.echo(f"  row {row.row_number}: {row.reason}: {row.detail}")


@stores_group.command("list")
@click.option("--org", "org_id")
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
def list_stores(obj, org_id, as_json) -> None:
    """List stored stores."""
    stores = load_stores(open_workspace(obj["workspace"]), org_id)
    if as_json:
        emit_json(stores.to_dict("records"))
        return
    click.echo(stores.to_string(index=False))


COMMANDS = [places_group, stores_group]
