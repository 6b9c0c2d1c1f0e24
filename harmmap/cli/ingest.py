"""``harmmap ingest police-uk`` and ``harmmap ingest incidents``."""

from __future__ import annotations

from pathlib import Path

import click

from harmmap.cli.output import emit_json, print_ingest, progress
from harmmap.errors import ConfigError
from harmmap.ingest.pipeline import ingest_files
from harmmap.ingest.police_uk import POLICE_UK_PIECES, read_police_uk
from harmmap.ingest.sources import InputFile, expand_paths
from harmmap.schema import RETAILER_PREFIX, SOURCE_POLICE_UK
from harmmap.store.catalog import check_org_id
from harmmap.store.places import load_stores
from harmmap.store.workspace import open_workspace


@click.group("ingest")
def ingest_group() -> None:
    """Load incident files into the workspace."""


def _run(ws, source: str, inputs: list[InputFile], reader, as_json: bool, pieces=None) -> None:
    with progress("ingesting", inputs) as bar:
        report = ingest_files(ws, source, bar, reader, pieces=pieces).to_dict()
    emit_json(report) if as_json else print_ingest(report)


@ingest_group.command("police-uk")
@click.argument("paths", nargs=-1, required=True)
@click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON.")
@click.pass_obj
def police_uk_command(obj: dict, paths: tuple[str, ...], as_json: bool) -> None:
    """Load police.uk street-level CSVs: files, globs, folders, .gz or bulk-download zips."""
    ws = open_workspace(obj["workspace"])
    _run(ws, SOURCE_POLICE_UK, expand_paths(paths), read_police_uk, as_json, pieces=POLICE_UK_PIECES)


def parse_column_flags(flags: tuple[str, ...]) -> dict[str, str]:
    """Turn ``field=Column name`` flags into a dict."""
    columns = {}
    for flag in flags:
        field, sep, column = flag.partition("=")
        if not sep or not field.strip() or not column.strip():
            raise ConfigError("--column needs FIELD=COLUMN", given=flag, fix='e.g. --column date="Incident Date"')
        columns[field.strip()] = column.strip()
    return columns


@ingest_group.command("incidents")
@click.argument("path", type=click.Path(dir_okay=False))
@click.option("--org", "org_id", required=True, help="Organisation id (slug) the incidents belong to.")
@click.option("--mapping", type=click.Path(exists=True, dir_okay=False), help="Column mapping TOML file.")
@click.option("--column", "columns", multiple=True, help='FIELD=COLUMN, e.g. date="Incident Date" (repeatable).')
@click.option("--dayfirst/--monthfirst", default=None, help="Day-first (UK, default) or month-first dates.")
@click.option("--sheet", help="XLSX sheet name.")
@click.option("--postcodes", type=click.Path(exists=True, dir_okay=False),
              help="Postcode lookup (ONS Postcode Directory or Code-Point Open CSV).")
@click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON.")
@click.pass_obj
def incidents_command(obj: dict, path: str, org_id: str, mapping: str | None, columns: tuple[str, ...],
                      dayfirst: bool | None, sheet: str | None, postcodes: str | None, as_json: bool) -> None:
    """Load a retailer's incident report (CSV or XLSX) with a column mapping."""
    from harmmap.ingest.mapping import load_mapping
    from harmmap.ingest.postcodes import read_postcode_lookup
    from harmmap.ingest.retailer import read_retailer_incidents

    ws = open_workspace(obj["workspace"])
    check_org_id(org_id)
    options = {k: v for k, v in {"dayfirst": dayfirst, "sheet": sheet}.items() if v is not None}
    the_mapping = load_mapping(mapping, columns=parse_column_flags(columns), **options)
    lookup = read_postcode_lookup(postcodes) if postcodes else None
    stores = load_stores(ws, org_id)

    def reader(data: bytes, name: str):
        return read_retailer_incidents(name, org_id=org_id, mapping=the_mapping, postcodes=lookup, stores=stores)

    item = InputFile(str(Path(path)), lambda: _read_bytes(path))
    _run(ws, RETAILER_PREFIX + org_id, [item], reader, as_json)


def _read_bytes(path: str) -> bytes:
    from harmmap.errors import InputFileError

    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise InputFileError("cannot read file", given=f"{path}: {exc.strerror}") from None


ingest_group.add_command(police_uk_command)
COMMANDS = [ingest_group]
