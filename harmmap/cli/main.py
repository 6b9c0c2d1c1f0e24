"""Entry point: the ``harmmap`` group, workspace option and error handling."""

from __future__ import annotations

import sys

import click

from harmmap.errors import HarmmapError


class HarmmapGroup(click.Group):
    """A click group that turns HarmmapError into a one-line message and exit status 2."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except HarmmapError as exc:
            click.echo(f"harmmap: error: {exc}", err=True)
            sys.exit(2)


@click.group(cls=HarmmapGroup)
@click.option("--workspace", "-w", envvar="HARMMAP_WORKSPACE", default="harmmap-workspace", show_default=True,
              type=click.Path(file_okay=False), help="Workspace directory (or set HARMMAP_WORKSPACE).")
@click.version_option(package_name="harmmap")
@click.pass_context
def main(ctx: click.Context, workspace: str) -> None:
    """harmmap: find and rank the high-harm places of retail crime."""
    ctx.obj = {"workspace": workspace}


def _register() -> None:
    from harmmap.cli import demo, ingest, places, plan, report, score, status, trends, web

    for module in (ingest, places, status, score, trends, report, plan, web, demo):
        for command in module.COMMANDS:
            main.add_command(command)


_register()
