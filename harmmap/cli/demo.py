"""``harmmap simulate`` and ``harmmap demo``."""

from __future__ import annotations

from pathlib import Path

import click

from harmmap.cli.output import emit_json, print_ingest, print_status
from harmmap.ingest.pipeline import ingest_files
from harmmap.ingest.police_uk import POLICE_UK_PIECES, read_police_uk
from harmmap.ingest.sources import expand_paths
from harmmap.schema import SOURCE_POLICE_UK
from harmmap.store.status import workspace_status
from harmmap.store.workspace import init_workspace


@click.command("simulate")
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False), help="Output folder.")
@click.option("--seed", required=True, type=int, help="Random seed: the same seed gives the same files.")
@click.option("--months", default=36, show_default=True, type=click.IntRange(1, 240))
@click.option("--start-month", default="2022-01", show_default=True)
@click.option("--per-month", "per_month", default=20_000, show_default=True, type=click.IntRange(1),
              help="police.uk incidents per month.")
@click.option("--towns", type=click.IntRange(1), help="Use only the first N towns.")
@click.option("--org", "org_id", default="acme", show_default=True, help="Retailer organisation id.")
@click.option("--single-file", is_flag=True, help="Write all police.uk rows to one CSV (for benchmarks).")
@click.option("--json", "as_json", is_flag=True)
def simulate_command(out_dir, seed, months, start_month, per_month, towns, org_id, single_file, as_json) -> None:
    """Write a seeded synthetic data set with planted hotspots and its ground truth."""
    from dataclasses import asdict

    from harmmap.simulate import simulate

    summary = simulate(Path(out_dir), seed=seed, months=months, start_month=start_month,
                       incidents_per_month=per_month, towns=towns, org_id=org_id, single_file=single_file)
    data = asdict(summary)
    if as_json:
        emit_json(data)
    else:
        for key, value in data.items():
            click.echo(f"{key}: {value}")


def build_demo(workspace: str, seed: int, months: int, per_month: int, echo=click.echo, show=print_ingest) -> dict:
    """Simulate, create a workspace and load everything into it; return the workspace status."""
    from harmmap.geo.places import read_places
    from harmmap.ingest.mapping import load_mapping
    from harmmap.ingest.retailer import read_retailer_incidents
    from harmmap.ingest.stores import read_stores
    from harmmap.simulate import simulate
    from harmmap.store.places import load_stores, save_places, save_stores

    ws = init_workspace(workspace)
    sim_dir = ws.root / "simulated"
    summary = simulate(sim_dir, seed=seed, months=months, incidents_per_month=per_month)
    echo(f"simulated data in {sim_dir}")
    places = read_places(sim_dir / "boundaries" / "town_centres.geojson", kind="town_centre",
                         name_field="name", code_field="code")
    save_places(ws, places.places, "simulated town centres")
    org = summary.org_id
    stores = read_stores(sim_dir / "stores" / f"{org}_stores.csv", org_id=org)
    save_stores(ws, org, stores.stores)
    report = ingest_files(ws, SOURCE_POLICE_UK, expand_paths([sim_dir / "police_uk"]), read_police_uk,
                          pieces=POLICE_UK_PIECES).to_dict()
    show(report)
    mapping = load_mapping(sim_dir / "retailer" / f"{org}_mapping.toml")
    incidents = sim_dir / "retailer" / f"{org}_incidents.csv"
    known_stores = load_stores(ws, org)
    reader = lambda data, name: read_retailer_incidents(incidents, org_id=org, mapping=mapping, stores=known_stores)
    show(ingest_files(ws, "retailer:" + org, expand_paths([incidents]), reader).to_dict())
    return workspace_status(ws)


@click.command("demo")
@click.option("--seed", default=20240601, show_default=True, type=int)
@click.option("--months", default=36, show_default=True, type=click.IntRange(6, 120))
@click.option("--per-month", "per_month", default=20_000, show_default=True, type=click.IntRange(100))
@click.option("--serve/--no-serve", default=True, show_default=True, help="Serve the web app when done.")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8080, show_default=True, type=click.IntRange(1, 65535))
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
def demo_command(obj, seed, months, per_month, serve, host, port, as_json) -> None:
    """Build a demo workspace from simulated data, score it, analyse trends, write the assessment."""
    from harmmap.analysis.score import score_workspace
    from harmmap.analysis.trends import trend_workspace
    from harmmap.cli.score import print_summary, summarise
    from harmmap.scoring.trend_run import TrendSettings
    from harmmap.scoring.pipeline import ScoringSettings
    from harmmap.store.workspace import open_workspace

    quiet = lambda *_: None  # noqa: E731
    status = build_demo(obj["workspace"], seed, months, per_month,
                        echo=quiet if as_json else click.echo, show=quiet if as_json else print_ingest)
    say = quiet if as_json else (lambda m: click.echo(m, err=True))
    ws = open_workspace(obj["workspace"])
    run = score_workspace(ws, ScoringSettings(seed=seed), progress=say)
    trends = trend_workspace(ws, TrendSettings(), progress=say)
    report = write_demo_report(ws, say)
    username, password = demo_login(ws)
    extra = {"trends_run": trends.run_id, "cell_classes": trends.result.metadata["cell_classes"], "report": report,
             "login": {"username": username, "password": password}, "url": f"http://{host}:{port}/"}
    if as_json:
        emit_json(status | {"scoring": summarise(run)} | extra)
    else:
        print_status(status)
        click.echo("")
        print_summary(summarise(run), run.result)
        click.echo(f"\ntrends run {trends.run_id}: cells by emerging class: "
                   + ", ".join(f"{key} {n:,}" for key, n in trends.result.metadata["cell_classes"].items()))
        if report:
            click.echo(f"six-monthly assessment: {report}")
        click.echo(f"\nweb app: http://{host}:{port}/  log in as {username} / {password}  (new password each run)")
    if serve:
        from harmmap.cli.web import serve_app

        serve_app(str(ws.root), host, port, threads=8)


def demo_login(ws) -> tuple[str, str]:
    """The demo's admin login: created on the first run, a fresh password on every run (printed once)."""
    from harmmap.errors import WorkspaceError
    from harmmap.store.accounts import add_user, reset_password

    try:
        return "demo", reset_password(ws, "demo")
    except WorkspaceError:
        return "demo", add_user(ws, "demo", "admin")[1]


def write_demo_report(ws, say) -> str | None:
    """Write the assessment of the latest complete half-year to ``<workspace>/reports/``; its path or None."""
    from harmmap.cli.report import _write_atomically
    from harmmap.report.assessment import build_assessment, latest_half_year
    from harmmap.report.render import render_assessment
    from harmmap.store.status import workspace_status

    months = workspace_status(ws)["incidents"].get("months") or {}
    if not months.get("count", 0) >= 12:
        return None
    period = latest_half_year(months["last"])
    assessment = build_assessment(ws, period.label, area_name="Simulated East Midlands", progress=say)
    folder = ws.root / "reports"
    folder.mkdir(exist_ok=True)
    path = folder / f"assessment-{period.label}.html"
    _write_atomically(path, render_assessment(assessment))
    return str(path)


COMMANDS = [simulate_command, demo_command]
