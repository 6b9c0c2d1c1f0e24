"""``harmmap init``, ``harmmap status`` and ``harmmap rejects``."""

from __future__ import annotations

import contextlib
import csv
import sys

import click

from harmmap.cli.output import emit_json, print_status
from harmmap.store.status import workspace_status
from harmmap.store.workspace import connect, init_workspace, open_workspace


@click.command("init")
@click.option("--resolution", default=9, show_default=True, type=click.IntRange(0, 15),
              help="H3 base resolution of the workspace (coarser levels are derived).")
@click.pass_obj
def init_command(obj: dict, resolution: int) -> None:
    """Create a workspace (idempotent)."""
    ws = init_workspace(obj["workspace"], resolution=resolution)
    click.echo(f"workspace ready: {ws.root}")


@click.command("status")
@click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON.")
@click.pass_obj
def status_command(obj: dict, as_json: bool) -> None:
    """Show sources, months, counts by crime type and rejects by reason."""
    status = workspace_status(open_workspace(obj["workspace"]))
    emit_json(status) if as_json else print_status(status)


@click.command("rejects")
@click.option("--reason", help="Only this reason code.")
@click.option("--file", "file_id", type=int, help="Only this file id (see status --json).")
@click.option("--limit", default=50, show_default=True, type=click.IntRange(0), help="0 = all.")
@click.option("--format", "fmt", type=click.Choice(["table", "csv", "json"]), default="table", show_default=True)
@click.pass_obj
def rejects_command(obj: dict, reason: str | None, file_id: int | None, limit: int, fmt: str) -> None:
    """List rejected input rows with their reason and original text."""
    ws = open_workspace(obj["workspace"])
    sql = ("SELECT f.name, r.row_number, r.reason, r.detail, r.raw FROM rejects r JOIN files f USING (file_id)"
           " WHERE (? IS NULL OR r.reason = ?) AND (? IS NULL OR r.file_id = ?) ORDER BY r.file_id, r.row_number")
    if limit:
        sql += f" LIMIT {int(limit)}"
    with contextlib.closing(connect(ws)) as conn:
        rows = conn.execute(sql, (reason, reason, file_id, file_id)).fetchall()
    header = ["file", "row_number", "reason", "detail", "raw"]
    if fmt == "json":
        emit_json([dict(zip(header, r)) for r in rows])
    elif fmt == "csv":
        writer = csv.writer(sys.stdout)
        writer.writerow(header)
        writer.writerows(rows)
    else:
        for name, row, why, detail, raw in rows:
            click.echo(f"{name}:{row}: {why}: {detail}\n    {raw[:200]}")


COMMANDS = [init_command, status_command, rejects_command]
