"""Printing for the CLI: JSON, short human summaries, progress on stderr."""

from __future__ import annotations

import json
import sys
from typing import Any

import click


def emit_json(data: Any) -> None:
    """Print ``data`` as indented JSON on stdout."""
    click.echo(json.dumps(data, indent=2, sort_keys=False, default=str))


def progress(label: str, items: list):
    """Return a progress bar on stderr (shown only on a terminal)."""
    return click.progressbar(items, label=label, file=sys.stderr, show_pos=True)


def print_ingest(report: dict) -> None:
    """Print an ingest summary for people."""
    click.echo(
        f"files: {report['files_ingested']} ingested, {report['duplicates_skipped']} already known (skipped)\n"
        f"rows read: {report['rows_read']:,} = accepted {report['accepted']:,} + rejected {report['rejected']:,}"
    )
    for reason, count in report["rejected_by_reason"].items():
        click.echo(f"  rejected {reason}: {count:,}")
    for rep in report["replaced"]:
        click.echo(
            f"replaced {rep['partition_key']} (was {rep['old_file']}): {rep['rows_before']:,} -> "
            f"{rep['rows_after']:,} rows, +{rep['added']} -{rep['removed']}, "
            f"{rep['outcome_changed']} outcomes changed"
        )
    if report.get("linked"):
        click.echo(f"linked police.uk <-> retailer incidents (counted once): {report['linked']:,}")
    if report.get("updated"):
        click.echo(f"retailer incidents updated by a newer export: {report['updated']:,}")
    for f in report["files"]:
        for note in f.get("notes") or ():
            click.echo(f"note ({f['name']}): {note}")
    if report["rejected"]:
        click.echo("see rejected rows with: harmmap rejects")


def print_status(status: dict) -> None:
    """Print a workspace status for people."""
    inc = status["incidents"]
    click.echo(f"workspace {status['workspace']} (schema v{status['schema_version']}, H3 res {status['resolution']})")
    for s in status["sources"]:
        click.echo(f"  {s['source']}: {s['files']} files, {s['rows_read']:,} rows read, "
                   f"{s['accepted']:,} accepted, {s['rejected']:,} rejected")
    months = inc["months"]
    click.echo(f"incidents: {inc['counted']:,} counted of {inc['stored']:,} stored; "
               f"months {months['first']} .. {months['last']} ({months['count']})")
    for reason, count in inc["not_counted_by_reason"].items():
        click.echo(f"  not counted ({reason}): {count:,}")
    for crime_type, count in inc["by_crime_type"].items():
        click.echo(f"  {crime_type:<30} {count:>10,}")
    for reason, count in status["rejected_by_reason"].items():
        click.echo(f"rejected {reason}: {count:,}")
    click.echo(f"places: {status['places_by_kind'] or 'none'}; stores: {status['stores_by_org'] or 'none'}")
    if status["partitions_replaced"]:
        click.echo(f"replaced partitions (newer vintages loaded): {status['partitions_replaced']}")
